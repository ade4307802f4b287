// Event times under the rate shapes: constant spacing, square-wave densities, sine rates between low and high.
import { describe, expect, it } from 'vitest';
import { eventOffsetMs, NexmarkGenerator, type RateShape } from './index.ts';

const BASE = 1_700_000_000_000;

/** Events per window of `windowMs` of event time, for the first `n` events. */
function density(rate: RateShape, n: number, windowMs: number): number[] {
  const g = new NexmarkGenerator({ rate, baseTime: BASE });
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const w = Math.floor((g.eventTimeOf(i) - BASE) / windowMs);
    counts[w] = (counts[w] ?? 0) + 1;
  }
  return Array.from(counts, (c) => c ?? 0).slice(0, -1); // the last window may be partial
}

describe('rate shapes', () => {
  it('constant: events every 1000/perSec ms from baseTime, stamped on the events', () => {
    const g = new NexmarkGenerator({ rate: { shape: 'constant', perSec: 250 }, baseTime: BASE });
    const times = g
      .take(1_000)
      .map((e) => (e.type === 'person' ? e.person : e.type === 'auction' ? e.auction : e.bid).dateTime);
    expect(times).toEqual(times.map((_, i) => BASE + 4 * i));
    expect(g.eventTimeOf(1_000)).toBe(BASE + 4_000);
    // A rate that does not divide 1000: times are floored, never decrease, and keep the average rate.
    const g3 = new NexmarkGenerator({ rate: { shape: 'constant', perSec: 3 }, baseTime: BASE });
    expect([0, 1, 2, 3, 4].map((i) => g3.eventTimeOf(i) - BASE)).toEqual([0, 333, 666, 1000, 1333]);
  });

  it('square: high for half a period, then low, and again', () => {
    const rate: RateShape = { shape: 'square', low: 100, high: 1000, periodMs: 2_000 };
    // 1100 events per period: 1000 in the high half second, 100 in the low one.
    const perHalf = density(rate, 5 * 1_100, 1_000);
    expect(perHalf).toEqual([1000, 100, 1000, 100, 1000, 100, 1000, 100, 1000]);
    // Spacing inside each half.
    expect(eventOffsetMs(rate, 1) - eventOffsetMs(rate, 0)).toBeCloseTo(1);
    expect(eventOffsetMs(rate, 1_001) - eventOffsetMs(rate, 1_000)).toBeCloseTo(10);
    // low = 0: silent halves.
    expect(density({ shape: 'square', low: 0, high: 500, periodMs: 1_000 }, 1_000, 500)).toEqual([
      250, 0, 250, 0, 250, 0,
    ]);
  });

  it('sine: rates between low and high, lowest at the start of a period, highest at its middle', () => {
    const rate: RateShape = { shape: 'sine', low: 200, high: 2_000, periodMs: 10_000 };
    // Windows of 100 ms: the rate per window is 10 x the count.
    const perWindow = density(rate, 3 * 11_000, 100).map((c) => c * 10);
    expect(perWindow.length).toBeGreaterThanOrEqual(299);
    expect(Math.min(...perWindow)).toBeGreaterThanOrEqual(200 - 10);
    expect(Math.max(...perWindow)).toBeLessThanOrEqual(2_000 + 10);
    for (const p of [0, 1, 2]) {
      expect(perWindow[p * 100]).toBeLessThan(260); // start of a period: near low
      expect(perWindow[p * 100 + 49]).toBeGreaterThan(1_950); // middle: near high
      expect(perWindow[p * 100 + 25]).toBeGreaterThan(1_000); // quarter: near the mean, 1100
      expect(perWindow[p * 100 + 25]).toBeLessThan(1_200);
    }
    // Exactly (low + high) / 2 * period events per period; half of them by the middle.
    expect(eventOffsetMs(rate, 11_000)).toBeCloseTo(10_000, 6);
    expect(eventOffsetMs(rate, 5_500)).toBeCloseTo(5_000, 6);
  });

  it('event times never decrease', () => {
    for (const rate of [
      { shape: 'square', low: 3, high: 7, periodMs: 333 },
      { shape: 'sine', low: 0, high: 1_000, periodMs: 777 },
      { shape: 'constant', perSec: 7 },
    ] as const) {
      const g = new NexmarkGenerator({ rate });
      const decreasing: number[] = [];
      for (let i = 1; i < 20_000; i++) if (g.eventTimeOf(i) < g.eventTimeOf(i - 1)) decreasing.push(i);
      expect(decreasing).toEqual([]);
    }
  });
});
