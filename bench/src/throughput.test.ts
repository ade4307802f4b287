import { describe, expect, it } from 'vitest';
import { RunClock } from './raw-loop.ts';
import { medianRound, scenariosError, THROUGHPUT_SCENARIOS, type TransportResults } from './throughput.ts';

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

describe('throughput scenarios', () => {
  it('takes every scenario name, and names the valid ones (or the new name of a renamed one) for any other', () => {
    expect(scenariosError([...THROUGHPUT_SCENARIOS])).toBeUndefined();
    expect(scenariosError(['passthrough', 'countKeys'])).toBeUndefined();
    expect(scenariosError(['passthrough', 'passthroughLean'])).toMatch(
      /"passthroughLean" is called "passthrough" since 2026-12-06; the scenarios are passthrough, passthroughHeaders, passthroughJson/,
    );
    expect(scenariosError(['passthroughBytes'])).toMatch(/is called "passthroughHeaders"/);
    expect(scenariosError(['countExactlyOnce', 'count'])).toMatch(
      /unknown scenario "count"; the scenarios are/,
    );
  });
});

describe('RunClock', () => {
  it('measures the share of the run the main thread was busy, and its busy time per million records', async () => {
    const spin = new RunClock();
    spin.begin();
    const until = performance.now() + 120;
    while (performance.now() < until) {
      // busy: the event loop never idles
    }
    const busy = spin.result(1000);
    const rest = new RunClock();
    rest.begin();
    await new Promise((r) => setTimeout(r, 120));
    const idle = rest.result(1000);
    expect(busy.mainThreadBusy).toBeGreaterThan(0.9);
    expect(idle.mainThreadBusy).toBeLessThan(0.5);
    // Busy seconds per million records: about 0.12 s over 1000 records, 120 s per million.
    expect(busy.mainThreadSecondsPerMillion).toBeGreaterThan(100);
    expect(idle.mainThreadSecondsPerMillion).toBeLessThan(60);
  });
});
