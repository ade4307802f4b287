// Fixed-bucket histograms for Prometheus: plain counts per upper bound, recorded on the hot path with no
// allocation, exported at scrape time as `_bucket{le}`, `_sum` and `_count`. Unlike quantiles, bucket counts
// of several workers (or of several scrapes) add up, so `histogram_quantile` works across a pool.

/**
 * Upper bounds of the latency and queueing buckets, in seconds (Prometheus' base unit): from 1 ms to 2 min,
 * dense around the latency targets apps usually set (tens of ms to seconds).
 */
export const LATENCY_BUCKETS_S: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
]);

/** A histogram over fixed upper bounds; values are observed in ms and exported in seconds. */
export class BucketHistogram {
  /** Upper bounds in seconds, ascending (the `le` labels; +Inf is implicit). */
  readonly boundsS: readonly number[];
  private readonly boundsMs: Float64Array;
  /** Non-cumulative counts per bucket; the last slot is the +Inf bucket. */
  readonly counts: Float64Array;
  count = 0;
  /** Sum of observed values, ms. */
  sumMs = 0;

  constructor(boundsS: readonly number[] = LATENCY_BUCKETS_S) {
    this.boundsS = boundsS;
    this.boundsMs = Float64Array.from(boundsS, (b) => b * 1000);
    this.counts = new Float64Array(boundsS.length + 1);
  }

  /** Records one value in ms (`times` times, default once; NaN ignored; negatives count as 0). */
  observe(ms: number, times = 1): void {
    if (Number.isNaN(ms)) return;
    const v = Math.max(ms, 0);
    const b = this.boundsMs;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]! += times;
    this.count += times;
    this.sumMs += v * times;
  }

  /** Cumulative counts per bound, then the total for +Inf. */
  cumulative(): number[] {
    const out: number[] = new Array(this.counts.length);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      out[i] = seen;
    }
    return out;
  }
}

/**
 * The value at quantile `q` of a histogram given as cumulative counts per bound (+Inf last), interpolated
 * linearly inside the bucket as Prometheus' `histogram_quantile` does; NaN when empty. A quantile in the +Inf
 * bucket answers the highest finite bound.
 */
export function bucketQuantile(q: number, boundsS: readonly number[], cumulative: readonly number[]): number {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    if (cumulative[i]! >= rank) {
      if (i >= boundsS.length) return boundsS[boundsS.length - 1] ?? Number.NaN;
      const lower = i === 0 ? 0 : boundsS[i - 1]!;
      const below = i === 0 ? 0 : cumulative[i - 1]!;
      const inBucket = cumulative[i]! - below;
      return inBucket === 0 ? boundsS[i]! : lower + ((boundsS[i]! - lower) * (rank - below)) / inBucket;
    }
  }
  return boundsS[boundsS.length - 1] ?? Number.NaN;
}
