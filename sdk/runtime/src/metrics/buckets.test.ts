import { describe, expect, it } from 'vitest';
import { BucketHistogram, bucketQuantile } from './buckets.ts';

describe('BucketHistogram', () => {
  it('counts each value in the first bucket whose upper bound is at or above it (le semantics)', () => {
    const h = new BucketHistogram([0.01, 0.1, 1]);
    for (const ms of [0, 10, 10.5, 100, 1000, 5000, Number.NaN, -3]) h.observe(ms);
    expect([...h.counts]).toEqual([3, 2, 1, 1]);
    expect(h.cumulative()).toEqual([3, 5, 6, 7]);
    expect(h.count).toBe(7);
    expect(h.sumMs).toBe(0 + 10 + 10.5 + 100 + 1000 + 5000);
  });

  it('answers quantiles as histogram_quantile does (linear inside the bucket)', () => {
    const bounds = [0.01, 0.1, 1];
    expect(bucketQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNaN();
    // 10 values: 4 in (0, 0.01], 4 in (0.01, 0.1], 2 in (0.1, 1].
    const c = [4, 8, 10, 10];
    expect(bucketQuantile(0.2, bounds, c)).toBeCloseTo(0.005);
    expect(bucketQuantile(0.5, bounds, c)).toBeCloseTo(0.01 + 0.09 * 0.25);
    expect(bucketQuantile(0.9, bounds, c)).toBeCloseTo(0.1 + 0.9 * 0.5);
    // In the +Inf bucket: the highest finite bound.
    expect(bucketQuantile(0.99, bounds, [0, 0, 0, 5])).toBe(1);
  });
});
