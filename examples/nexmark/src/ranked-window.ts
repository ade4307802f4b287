// The Pareto skew's bookkeeping: the latest `capacity` ids (in-flight auctions or active persons), ordered by a
// fixed pseudo-random popularity score per id, so that "rank r" names the same id for as long as the ids
// around it stay, and a popular id stays popular for its whole time in the window.
import { hash32, type Random } from './random.ts';

/** The latest `capacity` of sequentially added ids, ordered by popularity (rank 0 = most popular). */
export class RankedWindow {
  private readonly capacity: number;
  private readonly seed: number;
  /** Ids by rank; `scores[k]` is the score of `ids[k]`, descending (ties: smaller id first). */
  private readonly ids: number[] = [];
  private readonly scores: number[] = [];

  constructor(capacity: number, seed: number) {
    this.capacity = capacity;
    this.seed = seed;
  }

  /** Ids in the window. */
  get size(): number {
    return this.ids.length;
  }

  /** Adds the next id (ids come in increasing steps of 1) and drops the one that falls out of the window. */
  add(id: number): void {
    const score = hash32(this.seed, id);
    const at = this.position(score, id);
    this.ids.splice(at, 0, id);
    this.scores.splice(at, 0, score);
    const old = id - this.capacity;
    if (old >= 0 && this.ids.length > this.capacity) {
      const k = this.position(hash32(this.seed, old), old);
      this.ids.splice(k, 1);
      this.scores.splice(k, 1);
    }
  }

  /** The id of rank `rank` (0 = most popular); `rank` must be below `size`. */
  at(rank: number): number {
    return this.ids[rank]!;
  }

  /** Draws an id by a Pareto(alpha) rank; the window must not be empty. */
  pick(r: Random, alpha: number): number {
    return this.at(paretoRank(r, alpha, this.ids.length));
  }

  /** Index of (score, id) in the order, or where it would go. */
  private position(score: number, id: number): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.scores[mid]!;
      if (s > score || (s === score && this.ids[mid]! < id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * A rank in [0, n): floor(X) - 1 for X ~ Pareto(x_min = 1, alpha) truncated to [1, n + 1), by inversion, so
 * P(rank >= k) is proportional to (k + 1)^-alpha - (n + 1)^-alpha.
 */
export function paretoRank(r: Random, alpha: number, n: number): number {
  const tail = (n + 1) ** -alpha;
  const x = (1 - r.nextDouble() * (1 - tail)) ** (-1 / alpha);
  return Math.min(n - 1, Math.max(0, Math.floor(x) - 1));
}
