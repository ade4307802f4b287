import { describe, expect, it } from 'vitest';
import { LogHistogram } from './histogram.ts';
import { SlidingWindow } from './window.ts';

describe('LogHistogram', () => {
  it('is exact below 16 and within 1/16 relative error above', () => {
    const h = new LogHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    expect(h.count).toBe(10_000);
    for (const [q, want] of [
      [0.5, 5_000],
      [0.99, 9_900],
      [0.999, 9_990],
    ] as const) {
      expect(Math.abs(h.percentile(q) - want) / want).toBeLessThan(1 / 16);
    }
    const small = new LogHistogram();
    for (const v of [3, 3, 7, 12]) small.record(v);
    expect(small.summary()).toEqual({ count: 4, mean: 6.25, min: 3, max: 12, p50: 3, p99: 12, p999: 12 });
  });

  it('handles empty, zero, negative, NaN and huge values', () => {
    const h = new LogHistogram();
    expect(h.summary().p99).toBe(0);
    h.record(Number.NaN);
    h.record(-5);
    h.record(0.4);
    h.record(1e12);
    expect(h.count).toBe(3);
    expect(h.percentile(0)).toBe(0);
    expect(h.percentile(1)).toBe(1e12);
  });

  it('gives cumulative counts at bucket bounds', () => {
    const h = new LogHistogram();
    for (const v of [1, 5, 10, 50, 100, 1_000]) h.record(v);
    expect(h.cumulative([5, 50, 500, 5_000])).toEqual([2, 4, 5, 6]);
  });
});

describe('SlidingWindow', () => {
  it('sums amounts and intervals over the last window only', () => {
    const w = new SlidingWindow(0, 1_000, 10);
    w.addInterval(50, 250); // 200 ms over three slots
    w.add(900, 5);
    expect(w.sum(950)).toBe(205);
    expect(w.span(950)).toBe(950);
    expect(w.sum(1_150)).toBe(55); // window [200, 1150]: slots [0,100) and [100,200) have left it
    expect(w.sum(5_000)).toBe(0);
    expect(w.span(5_050)).toBe(950);
  });
});
