// Windows of a hot key under a lease: two workers, a policy that forwards every ordinary message of key 'hot'
// to a lessee. The lessees merge into partial windows; the closes are critical, so they run at the lessor on
// the merged value. Results must equal a run without leasing and a direct computation: every window of every
// key emitted exactly once with the sum of its records, late records counted. Then the close is made an
// ordinary message on purpose, and the leased key's results go wrong.
//
// The input comes in chunks of 200 ms of event time, shuffled within a chunk (maxOutOfOrdernessMs = 200 keeps
// every record of a chunk on time), one step each; the windows have no grace.
import { defineApp, merge } from '@dirigo/core';
import { createPolicy, registerPolicy, type SchedulingPolicy, unregisterPolicy } from '@dirigo/runtime';
import { seededRandom, TestDriver } from '@dirigo/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { session, tumbling, WINDOW_STATE, type WindowFaults, type WindowSpec, windowed } from './index.ts';

const T0 = Date.UTC(2026, 0, 1);
const CHUNK_MS = 200;
const CHUNKS = 20;
const GRACE_MS = 0;
const FLUSH_AT = CHUNKS * CHUNK_MS + 2_000;

interface Ev {
  readonly v: number;
}
interface Res {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly value: number;
}
interface Input {
  readonly key: string;
  readonly t: number;
  readonly v: number;
}

const forwardHot = (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name: 'windows-forward-hot',
    onArrival: (m) => (m.key === 'hot' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};
beforeAll(() => registerPolicy('windows-forward-hot', forwardHot));
afterAll(() => unregisterPolicy('windows-forward-hot'));

const app = (window: WindowSpec, faults?: WindowFaults) =>
  defineApp({
    name: 'hotwin',
    options: {
      // A record's watermark (the highest time before it - CHUNK_MS) stays below the records of its chunk: none
      // is late, and the lessor forwards any of them.
      eventTime: { maxOutOfOrdernessMs: CHUNK_MS, idleTimeoutMs: 60_000, watermarkIntervalMs: 100 },
      leasing: { idleRevokeMs: 1_000 },
    },
    ingresses: [{ topic: 'events', to: 'agg' }],
    egresses: { results: { topic: 'results' } },
    functions: {
      agg: windowed({
        window,
        merge: merge.sum(),
        value: (m: Ev) => m.v,
        onClose: (ctx, w) =>
          ctx.emit('results', w.key, { key: w.key, start: w.start - T0, end: w.end - T0, value: w.value }),
        ...(faults === undefined ? {} : { testFaults: faults }),
      }),
    },
  });

/** Deterministic input: chunks of shuffled records (hot: most of them), a late record now and then. */
function makeInput(seed: number, burst: (chunk: number) => boolean): Input[][] {
  const rnd = seededRandom(seed);
  const chunks: Input[][] = [];
  for (let c = 0; c < CHUNKS; c++) {
    const chunk: Input[] = [];
    if (burst(c)) {
      const add = (key: string, n: number) => {
        for (let i = 0; i < n; i++)
          chunk.push({ key, t: c * CHUNK_MS + Math.floor(rnd() * CHUNK_MS), v: 1 + Math.floor(rnd() * 9) });
      };
      add('hot', 30);
      add('cold-a', 3);
      add('cold-b', 2);
    }
    if (c >= 10 && c % 5 === 0) {
      chunk.push({ key: 'hot', t: c * CHUNK_MS - 1_700, v: 1000 }); // late: its windows closed long ago
      chunk.push({ key: 'cold-a', t: c * CHUNK_MS - 1_700, v: 1000 });
    }
    chunks.push(chunk.sort(() => rnd() - 0.5));
  }
  return chunks;
}

const isLate = (i: Input) => i.v === 1000;

/** The direct computation: sums per key and window of the records that are not late. */
function expected(window: WindowSpec, chunks: Input[][]): Res[] {
  const onTime = chunks.flat().filter((i) => !isLate(i));
  const out: Res[] = [];
  for (const key of [...new Set(onTime.map((i) => i.key))]) {
    const mine = onTime.filter((i) => i.key === key).sort((a, b) => a.t - b.t);
    if (window.kind === 'session') {
      let cur: Res | undefined;
      for (const i of mine) {
        if (cur !== undefined && i.t < cur.end)
          cur = { ...cur, end: Math.max(cur.end, i.t + window.gapMs), value: cur.value + i.v };
        else {
          if (cur !== undefined) out.push(cur);
          cur = { key, start: i.t, end: i.t + window.gapMs, value: i.v };
        }
      }
      if (cur !== undefined) out.push(cur);
    } else {
      const size = window.sizeMs;
      const sums = new Map<number, number>();
      for (const i of mine) {
        const s = Math.floor(i.t / size) * size;
        sums.set(s, (sums.get(s) ?? 0) + i.v);
      }
      for (const [s, value] of sums) out.push({ key, start: s, end: s + size, value });
    }
  }
  return out.sort(byKeyStart);
}

const byKeyStart = (a: Res, b: Res) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start);

async function run(window: WindowSpec, chunks: Input[][], leased: boolean, faults?: WindowFaults) {
  const driver = await TestDriver.start(app(window, faults), {
    ingressPartitions: 1,
    startTime: T0,
    ...(leased ? { workers: 2, scheduler: { policy: 'windows-forward-hot' } } : {}),
  });
  try {
    for (const chunk of chunks)
      await driver.pipe(
        'events',
        chunk.map((i) => ({ key: i.key, value: { v: i.v }, timestamp: T0 + i.t })),
      );
    await driver.pipe('events', [{ key: 'flush', value: { v: 0 }, timestamp: T0 + FLUSH_AT }]);
    // Idle leases are revoked and their last partials (late counts) merged back.
    await driver.advance(1_500);
    await driver.advance(1_500);
    const results = (await driver.output<Res>('results')).map((r) => r.value);
    const late = {
      hot: await driver.state('hotwin', 'agg', 'hot', WINDOW_STATE.late),
      cold: await driver.state('hotwin', 'agg', 'cold-a', WINDOW_STATE.late),
    };
    return { results, late, counters: driver.leases().counters };
  } finally {
    await driver.stop();
  }
}

const unique = (rs: readonly Res[]) => new Set(rs.map((r) => `${r.key}@${r.start}`)).size;

describe.each([
  ['tumbling', tumbling({ sizeMs: 1_000, graceMs: GRACE_MS }), () => true],
  ['session', session({ gapMs: 150, graceMs: GRACE_MS }), (c: number) => c % 4 !== 3],
] as const)('%s windows of a leased hot key', (_name, window, burst) => {
  const chunks = makeInput(7, burst);
  const want = expected(window, chunks);

  it('emits every window exactly once, as without leasing and as computed directly', async () => {
    const leased = await run(window, chunks, true);
    expect(leased.counters.forwarded).toBeGreaterThan(0);
    expect(leased.counters.barriers).toBeGreaterThan(0);
    expect(unique(leased.results)).toBe(leased.results.length);
    expect([...leased.results].sort(byKeyStart)).toEqual(want);
    expect(leased.late).toEqual({ hot: 2, cold: 2 });
    const plain = await run(window, chunks, false);
    expect(plain.counters.forwarded).toBe(0);
    expect([...plain.results].sort(byKeyStart)).toEqual([...leased.results].sort(byKeyStart));
    expect(plain.late).toEqual(leased.late);
  });

  it('fails when the close is not a critical message (the test notices)', async () => {
    const broken = await run(window, chunks, true, { closeNotCritical: true });
    expect(broken.counters.forwarded).toBeGreaterThan(0);
    // An ordinary close runs where it lands (here at the lessor: a timer fired to its own partition always runs
    // there) on that copy's partial windows, without the lessees' partials: the leased key's windows come out
    // empty or wrong.
    const hot = (rs: readonly Res[]) => rs.filter((r) => r.key === 'hot').sort(byKeyStart);
    expect(hot(broken.results)).not.toEqual(hot(want));
  });
});
