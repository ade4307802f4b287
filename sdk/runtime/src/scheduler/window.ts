// A sliding-window sum over time (a ring of fixed-width slots): busy time for utilisation, completions for
// throughput. Constant memory, O(1) per sample, no allocation.

/** Sums amounts (or interval lengths) that fall in the last `windowMs`, in `slots` slots. */
export class SlidingWindow {
  private readonly slotMs: number;
  private readonly sums: Float64Array;
  private readonly ids: Float64Array;
  private readonly startedAt: number;

  /** @param startedAt time the measurement began: the window never reaches before it. */
  constructor(startedAt: number, windowMs = 10_000, slots = 10) {
    this.slotMs = windowMs / slots;
    this.sums = new Float64Array(slots);
    this.ids = new Float64Array(slots).fill(-1);
    this.startedAt = startedAt;
  }

  /** Adds `amount` at time `at`. */
  add(at: number, amount: number): void {
    const id = Math.floor(at / this.slotMs);
    const idx = id % this.sums.length;
    if (this.ids[idx] !== id) {
      this.ids[idx] = id;
      this.sums[idx] = 0;
    }
    this.sums[idx]! += amount;
  }

  /** Adds the length of [from, to), split over the slots it covers. */
  addInterval(from: number, to: number): void {
    let a = from;
    while (a < to) {
      const id = Math.floor(a / this.slotMs);
      const end = Math.min(to, (id + 1) * this.slotMs);
      this.add(a, end - a);
      a = end;
    }
  }

  /** Sum over the slots of the window ending at `now`. */
  sum(now: number): number {
    const cur = Math.floor(now / this.slotMs);
    const n = this.sums.length;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const id = this.ids[i]!;
      if (id > cur - n && id <= cur) s += this.sums[i]!;
    }
    return s;
  }

  /** Start of the window ending at `now` (never before `startedAt`). */
  windowStart(now: number): number {
    const cur = Math.floor(now / this.slotMs);
    return Math.max(this.startedAt, (cur - this.sums.length + 1) * this.slotMs);
  }

  /** Length of the window ending at `now`, ms (shorter just after `startedAt`). */
  span(now: number): number {
    return Math.max(0, now - this.windowStart(now));
  }
}
