// A cheap log-linear histogram (HDR-like): exact below 16, then 16 sub-buckets per power of two (relative
// error under 1/16), non-negative integer units, a fixed 448-slot array: O(1) record, no allocation.

const SUB_BITS = 4;
const SUB = 1 << SUB_BITS; // 16
const MAX_VALUE = 0x7fffffff;
const BUCKETS = SUB + (31 - SUB_BITS) * SUB; // 448

function indexOf(n: number): number {
  if (n < SUB) return n;
  const k = 31 - Math.clz32(n);
  return SUB + (k - SUB_BITS) * SUB + ((n >>> (k - SUB_BITS)) & (SUB - 1));
}

/** Lowest value and width of bucket `idx`. */
function bucketBounds(idx: number): [number, number] {
  if (idx < SUB) return [idx, 1];
  const k = SUB_BITS + Math.floor((idx - SUB) / SUB);
  const sub = (idx - SUB) % SUB;
  const width = 2 ** (k - SUB_BITS);
  return [(SUB + sub) * width, width];
}

/** Summary of a histogram: count, mean, min, max and percentiles (0 when empty). */
export interface HistogramSummary {
  count: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p99: number;
  p999: number;
}

/**
 * Records non-negative values (floored to integers; use ms). Percentiles are the midpoint of their bucket,
 * clamped to the observed min/max.
 */
export class LogHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  /** Records one value (`times` times, default once); NaN is ignored, negatives count as 0. */
  record(value: number, times = 1): void {
    if (!(value >= 0)) {
      if (Number.isNaN(value)) return;
      value = 0;
    }
    const n = value >= MAX_VALUE ? MAX_VALUE : Math.floor(value);
    this.counts[indexOf(n)]! += times;
    this.count += times;
    this.sum += value * times;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** The value at quantile `q` (0..1), or 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= target) {
        if (i === BUCKETS - 1) return this.max; // the overflow bucket
        const [low, width] = bucketBounds(i);
        const mid = width === 1 ? low : low + (width - 1) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** Plain-JSON summary. */
  summary(): HistogramSummary {
    if (this.count === 0) return { count: 0, mean: 0, min: 0, max: 0, p50: 0, p99: 0, p999: 0 };
    return {
      count: this.count,
      mean: this.sum / this.count,
      min: this.min,
      max: this.max,
      p50: this.percentile(0.5),
      p99: this.percentile(0.99),
      p999: this.percentile(0.999),
    };
  }

  /**
   * Cumulative counts at the given upper bounds (for Prometheus-style buckets); a bound falling inside a
   * bucket counts that bucket as below it when its lowest value is <= the bound.
   */
  cumulative(bounds: readonly number[]): number[] {
    const out: number[] = [];
    let i = 0;
    let seen = 0;
    for (const b of bounds) {
      while (i < BUCKETS && bucketBounds(i)[0] <= b) seen += this.counts[i++]!;
      out.push(seen);
    }
    return out;
  }
}
