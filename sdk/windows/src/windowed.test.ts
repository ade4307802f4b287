// `windowed` on the test driver with its clock: tumbling, hopping and session windows, out-of-order records
// within the bound, late records (counted and dropped, or sent to a side egress), an idle input partition, and
// updates. Direct ingresses: each function partition's watermark is its ingress partition's highest event time
// minus maxOutOfOrdernessMs, so closes fire in the step that moves it. Each record is judged against the
// watermark of its position in its partition, so a step may hold several windows' records (see
// event-time.test.ts).
import { defineApp, fn, merge, partitionFor } from '@dirigo/core';
import { TestDriver } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  hopping,
  type LatePolicy,
  session,
  tumbling,
  WINDOW_STATE,
  type WindowFaults,
  type WindowSpec,
  windowed,
} from './index.ts';

const T0 = Date.UTC(2026, 0, 1);
interface Ev {
  readonly v: number;
  readonly k?: string;
}
interface Res {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly value: number;
}

export function sumApp(
  window: WindowSpec,
  o: {
    ooo?: number;
    late?: LatePolicy;
    faults?: WindowFaults;
    updates?: boolean;
    /** Records go through a function `tag` (re-keyed by `k`) before `agg`: agg's watermark is the lowest of tag's. */
    hop?: boolean;
    idleTimeoutMs?: number;
  } = {},
) {
  return defineApp({
    name: 'win',
    options: {
      eventTime: {
        maxOutOfOrdernessMs: o.ooo ?? 0,
        idleTimeoutMs: o.idleTimeoutMs ?? 60_000,
        watermarkIntervalMs: 100,
      },
      leasing: { idleRevokeMs: 1_000 },
    },
    ingresses: [{ topic: 'events', to: o.hop === true ? 'tag' : 'agg' }],
    egresses: {
      results: { topic: 'results' },
      late: { topic: 'late-events' },
      updates: { topic: 'updates' },
    },
    functions: {
      ...(o.hop === true
        ? {
            tag: fn({
              sends: ['agg'],
              handler: (ctx, m: Ev) => ctx.send('agg', m.k ?? ctx.key, m),
            }),
          }
        : {}),
      agg: windowed({
        window,
        merge: merge.sum(),
        value: (m: Ev) => m.v,
        onClose: (ctx, w) =>
          ctx.emit('results', w.key, { key: w.key, start: w.start - T0, end: w.end - T0, value: w.value }),
        ...(o.updates === true
          ? {
              onUpdate: (ctx, w) =>
                ctx.emit('updates', w.key, {
                  key: w.key,
                  start: w.start - T0,
                  end: w.end - T0,
                  value: w.value,
                }),
            }
          : {}),
        ...(o.late === undefined ? {} : { late: o.late }),
        ...(o.faults === undefined ? {} : { testFaults: o.faults }),
      }),
    },
  });
}

/** A record of key `key` at event time T0 + t. */
const at = (key: string, t: number, v = 1) => ({ key, value: { v, k: key } satisfies Ev, timestamp: T0 + t });
const results = async (d: TestDriver) => (await d.output<Res>('results')).map((r) => r.value);
const byKeyStart = (a: Res, b: Res) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start);

let driver: TestDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});
const start = async (app: ReturnType<typeof sumApp>, partitions = 1) => {
  driver = await TestDriver.start(app, { ingressPartitions: partitions, startTime: T0 });
  return driver;
};

describe('tumbling windows', () => {
  it('emits each window once, when the watermark passes end + grace, stamped with that time', async () => {
    const d = await start(sumApp(tumbling({ sizeMs: 1000, graceMs: 200 })));
    await d.pipe('events', [at('a', 100, 1), at('a', 300, 2), at('b', 500, 4)]);
    await d.pipe('events', [at('a', 900, 8), at('a', 1100, 16)]);
    expect(await results(d)).toEqual([]); // watermark 1100 < 1000 + 200
    await d.pipe('events', [at('a', 1250, 32)]);
    expect((await results(d)).sort(byKeyStart)).toEqual([
      { key: 'a', start: 0, end: 1000, value: 11 },
      { key: 'b', start: 0, end: 1000, value: 4 },
    ]);
    expect((await d.output('results')).map((r) => r.timestamp)).toEqual([T0 + 1200, T0 + 1200]);
    // The emitted windows are forgotten; the next one is still open.
    expect(await d.state('win', 'agg', 'a', WINDOW_STATE.windows)).toEqual({ [String(T0 + 1000)]: 48 });
    await d.pipe('events', [at('a', 2100, 64)]);
    await d.pipe('events', [at('a', 2300, 64)]);
    expect((await results(d)).slice(2)).toEqual([{ key: 'a', start: 1000, end: 2000, value: 48 }]);
    await d.advance(1_000); // time alone changes nothing: no window is emitted twice
    expect(await results(d)).toHaveLength(3);
  });

  it('counts records out of order within maxOutOfOrdernessMs, and drops and counts later ones', async () => {
    const d = await start(sumApp(tumbling({ sizeMs: 1000 }), { ooo: 300 }));
    await d.pipe('events', [at('a', 100, 1)]);
    await d.pipe('events', [at('a', 1200, 2)]); // watermark 900
    await d.pipe('events', [at('a', 950, 4)]); // out of order, within the bound: counts
    expect(await results(d)).toEqual([]);
    await d.pipe('events', [at('a', 1400, 8)]); // watermark 1100: [0, 1000) closes
    expect(await results(d)).toEqual([{ key: 'a', start: 0, end: 1000, value: 5 }]);
    await d.pipe('events', [at('a', 980, 16)]); // its window has closed: late
    await d.pipe('events', [at('a', 2400, 32)]);
    expect(await results(d)).toEqual([
      { key: 'a', start: 0, end: 1000, value: 5 },
      { key: 'a', start: 1000, end: 2000, value: 10 },
    ]);
    expect(await d.state('win', 'agg', 'a', WINDOW_STATE.late)).toBe(1);
    expect(await d.output('late-events')).toEqual([]);
  });

  it('sends late records to the late egress when asked (and counts them)', async () => {
    const d = await start(sumApp(tumbling({ sizeMs: 1000 }), { late: { egress: 'late' } }));
    await d.pipe('events', [at('a', 100, 1)]);
    await d.pipe('events', [at('a', 1500, 2)]);
    await d.pipe('events', [at('a', 700, 3)]);
    await d.pipe('events', [at('a', 999, 4)]);
    const late = await d.output<Ev>('late-events');
    expect(late.map((r) => [r.key, r.value.v, r.timestamp])).toEqual([
      ['a', 3, T0 + 700],
      ['a', 4, T0 + 999],
    ]);
    expect(await d.state('win', 'agg', 'a', WINDOW_STATE.late)).toBe(2);
    expect(await results(d)).toEqual([{ key: 'a', start: 0, end: 1000, value: 1 }]);
  });

  it('reports updates with the running value, and the final value once at the close', async () => {
    const d = await start(sumApp(tumbling({ sizeMs: 1000 }), { updates: true }));
    // One step: 1100 closes [0, 1000) only after the records before it went in.
    await d.pipe('events', [at('a', 100, 1), at('a', 400, 2), at('a', 800, 4), at('a', 1100, 8)]);
    const updates = (await d.output<Res>('updates')).map((r) => [r.value.start, r.value.value]);
    expect(updates).toEqual([
      [0, 1],
      [0, 3],
      [0, 7],
      [1000, 8],
    ]);
    expect(await results(d)).toEqual([{ key: 'a', start: 0, end: 1000, value: 7 }]);
  });
});

describe('hopping windows', () => {
  it('puts each record in size / slide windows and emits each of them once', async () => {
    const d = await start(sumApp(hopping({ sizeMs: 1000, slideMs: 500 })));
    await d.pipe('events', [at('a', 100, 1)]);
    await d.pipe('events', [at('a', 700, 2)]);
    await d.pipe('events', [at('a', 1200, 4)]);
    await d.pipe('events', [at('a', 1400, 8)]);
    expect(await results(d)).toEqual([
      { key: 'a', start: -500, end: 500, value: 1 },
      { key: 'a', start: 0, end: 1000, value: 3 },
    ]);
    await d.pipe('events', [at('a', 2600, 16)]);
    expect(await results(d)).toEqual([
      { key: 'a', start: -500, end: 500, value: 1 },
      { key: 'a', start: 0, end: 1000, value: 3 },
      { key: 'a', start: 500, end: 1500, value: 14 },
      { key: 'a', start: 1000, end: 2000, value: 12 },
    ]);
    await d.pipe('events', [at('a', 3000, 32)]);
    expect((await results(d)).slice(4)).toEqual([{ key: 'a', start: 2000, end: 3000, value: 16 }]);
    expect((await results(d)).filter((r) => r.start === 1500)).toEqual([]); // no record: no window
  });
});

describe('session windows', () => {
  it('merges records closer than the gap, bridges sessions with an out-of-order record, emits each once', async () => {
    const d = await start(sumApp(session({ gapMs: 1000 }), { ooo: 1000 }));
    await d.pipe('events', [at('a', 100, 1), at('b', 100, 1)]);
    await d.pipe('events', [at('a', 600, 2)]);
    await d.pipe('events', [at('a', 1500, 4), at('b', 2000, 2)]); // b: [100, 1100) and [2000, 3000)
    await d.pipe('events', [at('b', 1050, 4)]); // watermark 1000: bridges b's two sessions
    await d.pipe('events', [at('a', 2400, 8)]); // a: [100, 3400)
    expect(await results(d)).toEqual([]);
    await d.pipe('events', [at('c', 4100, 1)]); // watermark 3100: b closes
    expect(await results(d)).toEqual([{ key: 'b', start: 100, end: 3000, value: 7 }]);
    await d.pipe('events', [at('c', 4500, 1)]); // watermark 3500: a closes
    expect((await results(d)).slice(1)).toEqual([{ key: 'a', start: 100, end: 3400, value: 15 }]);
    await d.pipe('events', [at('a', 3600, 16)]); // a new session of a
    await d.pipe('events', [at('c', 5000, 1)]); // watermark 4000
    await d.pipe('events', [at('a', 3700, 32)]); // 300 behind the watermark, but [3700, 4700) is open: counts
    await d.pipe('events', [at('c', 6000, 1)]); // watermark 5000: a's second session closes (c's is open)
    expect((await results(d)).slice(2)).toEqual([{ key: 'a', start: 3600, end: 4700, value: 48 }]);
    await d.pipe('events', [at('a', 3650, 64)]); // window [3650, 4650) ended before the watermark: late
    expect(await d.state('win', 'agg', 'a', WINDOW_STATE.late)).toBe(1);
    expect(await d.state('win', 'agg', 'a', WINDOW_STATE.sessions)).toEqual([]);
  });
});

describe('watermarks across an idle input partition', () => {
  /** A key of ingress partition `p` of `n`. */
  const keyOn = (p: number, n: number): string => {
    for (let i = 0; ; i++) if (partitionFor(Buffer.from(`k${i}`), n) === p) return `k${i}`;
  };

  it('waits for every upstream partition, then stops waiting for one idle for idleTimeoutMs', async () => {
    // ingress (2 partitions) -> tag -> agg: every partition of agg waits for both partitions of tag.
    const d = await start(sumApp(tumbling({ sizeMs: 1000 }), { hop: true, idleTimeoutMs: 5_000 }), 2);
    const k0 = keyOn(0, 2);
    const k1 = keyOn(1, 2);
    // Ingress partition 0 moves on; partition 1 speaks once, early, then stays silent.
    await d.pipe('events', [at(k0, 100, 1), at(k1, 50, 1)]);
    await d.pipe('events', [at(k0, 1500, 2)]);
    await d.advance(200);
    await d.advance(200);
    expect(await results(d)).toEqual([]); // tag's partition 1 is at 50
    await d.advance(5_000); // both idle now: agg takes the highest of them (1500), and closes [0, 1000)
    await d.pipe('events', [at(k0, 1600, 4)]); // partition 0 speaks again, partition 1 stays idle
    await d.advance(200);
    await d.advance(200);
    expect((await results(d)).sort(byKeyStart)).toEqual(
      [
        { key: k0, start: 0, end: 1000, value: 1 },
        { key: k1, start: 0, end: 1000, value: 1 },
      ].sort(byKeyStart),
    );
  });
});

describe('broken on purpose: closing without the watermark', () => {
  it('gives wrong results with out-of-order input when a window closes at the first record past its end', async () => {
    const input = [at('a', 100, 1), at('a', 1200, 2), at('a', 950, 4), at('a', 1400, 8), at('a', 2500, 16)];
    const run = async (faults?: WindowFaults) => {
      const d = await start(sumApp(tumbling({ sizeMs: 1000 }), { ooo: 300, ...(faults ? { faults } : {}) }));
      for (const r of input) await d.pipe('events', [r]);
      const out = await results(d);
      await d.stop();
      driver = undefined;
      return out;
    };
    const good = await run();
    expect(good).toEqual([
      { key: 'a', start: 0, end: 1000, value: 5 },
      { key: 'a', start: 1000, end: 2000, value: 10 },
    ]);
    const broken = await run({ ignoreWatermark: true });
    expect(broken).not.toEqual(good);
    // [0, 1000) was emitted at 1200, before 950 arrived: 950 is lost.
    expect(broken.filter((r) => r.start === 0).map((r) => r.value)).toEqual([1]);
  });
});
