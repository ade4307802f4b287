import { describe, expect, it } from 'vitest';
import { medianRound, type TransportResults } from './throughput.ts';

const round = (raw: number, passthrough: number): Record<string, TransportResults> => ({
  platformatic: {
    raw: { recordsPerSec: raw, seconds: 1, loop: 'fetch', loops: {} },
    passthrough: { recordsPerSec: passthrough, seconds: 2, p99Ms: passthrough / 1000 },
  },
});

describe('throughput rounds', () => {
  it("reports each figure's median round, every round's records/s, and the median of the rounds' ratios", () => {
    // Round 2 is a noisy minute: raw and passthrough both slow. Ratios 0.5, 0.8, 0.7: median 0.7, although the
    // median passthrough (600) over the median raw (1000) would say 0.6.
    const r = medianRound([round(1200, 600), round(500, 400), round(1000, 700)]).platformatic!;
    expect(r.raw.recordsPerSec).toBe(1000);
    expect(r.raw.roundsRecordsPerSec).toEqual([1200, 500, 1000]);
    expect(r.raw.ratioToRaw).toBe(1);
    expect(r.passthrough!.recordsPerSec).toBe(600);
    expect(r.passthrough!.p99Ms).toBe(0.6); // the whole median round's figures
    expect(r.passthrough!.roundsRecordsPerSec).toEqual([600, 400, 700]);
    expect(r.passthrough!.ratioToRaw).toBe(0.7);
  });

  it('takes the lower middle of an even number of rounds', () => {
    const r = medianRound([round(1000, 500), round(1000, 900)]).platformatic!;
    expect(r.passthrough!.recordsPerSec).toBe(500);
    expect(r.passthrough!.ratioToRaw).toBe(0.5);
  });
});
