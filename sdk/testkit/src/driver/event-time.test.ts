// Event time and watermarks on the test driver: an ingress with two partitions feeds `tag`, which sends to
// `sum`; `sum` closes each key at event time 1000 with an event-time timer. The close must wait until every
// input that can still hold records before 1000 has passed it (the lowest watermark across hops), an idle input
// must stop holding it back, out-of-order records within the bound must count, and outputs carry event times.
// The lowest-watermark rule is also broken on purpose (take the highest) to show the tests would notice. Then:
// each record of a step sees the watermark of its position (locally and when a lessor forwards it), what a
// fired event-time timer sends is not behind the watermark at the next function, all-idle inputs give the
// highest of their watermarks, and a re-keyed ingress works in an event-time app.
import { defineApp, fn, merge, partitionFor, state } from '@dirigo/core';
import { registerPolicy, unregisterPolicy } from '@dirigo/runtime';
import { describe, expect, it } from 'vitest';
import { TestDriver, type TestDriverOptions } from './test-driver.ts';

const T0 = Date.UTC(2026, 0, 1);
interface Closed {
  readonly key: string;
  readonly total: number;
  readonly watermark: number;
}

const app = (maxOutOfOrdernessMs = 0) =>
  defineApp({
    name: 'tw',
    options: { eventTime: { maxOutOfOrdernessMs, idleTimeoutMs: 5_000, watermarkIntervalMs: 100 } },
    ingresses: [{ topic: 'events', to: 'tag' }],
    egresses: { closed: { topic: 'closed' } },
    functions: {
      tag: fn({
        sends: ['sum'],
        handler(ctx, m: { v: number }) {
          ctx.send('sum', ctx.key, { v: m.v });
        },
      }),
      sum: fn({
        state: { total: state.value<number>(), open: state.value<boolean>() },
        handler(ctx, m: { v?: number; close?: boolean }) {
          if (m.close === true) {
            ctx.emit('closed', ctx.key, {
              key: ctx.key,
              total: ctx.state.total.get() ?? 0,
              watermark: ctx.watermark,
            });
            return;
          }
          if (ctx.eventTime < T0 + 1_000) ctx.state.total.set((ctx.state.total.get() ?? 0) + (m.v ?? 0));
          if (ctx.state.open.get() !== true) {
            ctx.state.open.set(true);
            ctx.send('sum', ctx.key, { close: true }, { atEventTime: T0 + 1_000 });
          }
        },
      }),
    },
  });

/** A key on ingress partition `p` (of 2). */
const keyOn = (p: number): string => {
  for (let i = 0; ; i++) if (partitionFor(Buffer.from(`k${i}`), 2) === p) return `k${i}`;
};
const A = keyOn(0);
const B = keyOn(1);
const at = (key: string, t: number, v = 1) => ({ key, value: { v }, timestamp: T0 + t });

async function start(options: Partial<TestDriverOptions> = {}, ooo = 0) {
  return TestDriver.start(app(ooo), { ingressPartitions: 2, startTime: T0, ...options });
}
const closed = async (d: TestDriver) => (await d.output<Closed>('closed')).map((r) => r.value);

describe('event time and watermarks', () => {
  it('closes only when every input partition has passed the time, across two hops', async () => {
    const driver = await start();
    await driver.pipe('events', [at(A, 100), at(A, 500), at(B, 300), at(B, 2_000)]);
    await driver.advance(200);
    await driver.advance(200);
    expect(await closed(driver)).toEqual([]); // partition 0 is only at 500
    // 900 comes after 1500 in the partition, but sum's watermark is still below 1000: it counts.
    await driver.pipe('events', [at(A, 1_500), at(A, 900, 10)]);
    await driver.advance(200);
    await driver.advance(200);
    const out = await closed(driver);
    expect(out.map((c) => c.key).sort()).toEqual([A, B].sort());
    for (const c of out) expect(c.watermark).toBeGreaterThanOrEqual(T0 + 1_000);
    expect(Object.fromEntries(out.map((c) => [c.key, c.total]))).toEqual({ [A]: 12, [B]: 1 });
    // Outputs carry event times: the close is stamped with its timer's time.
    const stamps = (await driver.output('closed')).map((r) => r.timestamp);
    expect(stamps).toEqual([T0 + 1_000, T0 + 1_000]);
    await driver.stop();
  });

  it('fails when a partition takes the highest input watermark instead of the lowest', async () => {
    const driver = await start({ leasingFaults: { watermarkMax: true } });
    await driver.pipe('events', [at(A, 100), at(A, 500), at(B, 300), at(B, 2_000)]);
    await driver.advance(200);
    await driver.advance(200);
    expect(await closed(driver)).not.toEqual([]);
    await driver.stop();
  });

  it('stops waiting for an input partition that has been idle for the idle timeout', async () => {
    const driver = await start();
    await driver.pipe('events', [at(A, 100), at(A, 1_200)]);
    await driver.advance(200);
    await driver.advance(200);
    expect(await closed(driver)).toEqual([]); // partition 1 never spoke
    await driver.advance(5_000);
    await driver.advance(200);
    await driver.advance(200);
    expect((await closed(driver)).map((c) => [c.key, c.total])).toEqual([[A, 1]]);
    await driver.stop();
  });

  it('takes the highest watermark of its inputs once every one of them is idle (as Flink)', async () => {
    const driver = await start();
    await driver.pipe('events', [at(A, 100), at(B, 2_000)]);
    await driver.advance(200);
    await driver.advance(200);
    expect(await closed(driver)).toEqual([]); // tag/0 is at 100, tag/1 at 2000: sum is at 100
    await driver.advance(5_000); // both idle: sum goes to 2000 and closes, not to 100
    await driver.advance(200);
    await driver.advance(200);
    const out = await closed(driver);
    expect(Object.fromEntries(out.map((c) => [c.key, c.total]))).toEqual({ [A]: 1, [B]: 0 });
    for (const c of out) expect(c.watermark).toBe(T0 + 2_000);
    await driver.stop();
  });

  it('accepts records out of order within maxOutOfOrdernessMs', async () => {
    const driver = await start({}, 300);
    await driver.pipe('events', [at(A, 100), at(A, 1_200), at(A, 950, 5), at(B, 1_250)]);
    await driver.advance(200);
    await driver.advance(200);
    expect(await closed(driver)).toEqual([]); // watermark 1200 - 300 = 900 < 1000
    await driver.pipe('events', [at(A, 1_400), at(B, 1_400)]);
    await driver.advance(200);
    await driver.advance(200);
    const out = await closed(driver);
    expect(Object.fromEntries(out.map((c) => [c.key, c.total]))).toEqual({ [A]: 6, [B]: 0 });
    await driver.stop();
  });
});

describe('event-time timers of a leased key', () => {
  const hot = defineApp({
    name: 'hotw',
    options: { eventTime: { idleTimeoutMs: 60_000, watermarkIntervalMs: 100 } },
    ingresses: [{ topic: 'clicks', to: 'count' }],
    egresses: { totals: { topic: 'totals' } },
    functions: {
      count: fn({
        leasable: true,
        state: { n: state.mergeable(merge.sum()), scheduled: state.mergeable(merge.setUnion<number>()) },
        critical: (m: { close?: boolean }) => m.close === true,
        sends: ['count'],
        handler(ctx, m: { close?: boolean }) {
          if (m.close === true) {
            ctx.emit('totals', ctx.key, { n: ctx.state.n.get(), at: ctx.eventTime });
            return;
          }
          if (ctx.eventTime < T0 + 1_000) ctx.state.n.merge(1);
          if (!ctx.state.scheduled.get().includes(1_000)) {
            // At a lessee this timer goes to the key's lessor, which owns the watermark.
            ctx.send('count', ctx.key, { close: true }, { atEventTime: T0 + 1_000, critical: true });
            ctx.state.scheduled.merge([1_000]);
          }
        },
      }),
    },
  });

  it('fire at the lessor once its watermark passes, after merging every lessee', async () => {
    registerPolicy('forward-all-tw', () => ({
      name: 'forward-all-tw',
      onArrival: () => ({ forward: '' }),
      pickNext: (v) => v.queues.find((q) => q.head !== undefined),
    }));
    try {
      const driver = await TestDriver.start(hot, {
        workers: 2,
        ingressPartitions: 1,
        startTime: T0,
        scheduler: { policy: 'forward-all-tw' },
      });
      await driver.pipe(
        'clicks',
        Array.from({ length: 40 }, (_, i) => ({ key: 'h', value: {}, timestamp: T0 + i * 20 })),
      );
      await driver.advance(200);
      expect(driver.leases().counters.forwarded).toBeGreaterThan(0);
      expect(await driver.output('totals')).toEqual([]); // watermark at 780
      await driver.pipe('clicks', [{ key: 'h', value: {}, timestamp: T0 + 1_500 }]);
      await driver.advance(200);
      await driver.advance(200);
      const totals = (await driver.output<{ n: number; at: number }>('totals')).map((r) => r.value);
      // Every click before 1000 counted, wherever it ran. The lessor and each lessee may each have scheduled a
      // close (a lessee sees only its part of `scheduled`): every close sees the full count.
      expect(totals.length).toBeGreaterThanOrEqual(1);
      expect(totals).toEqual(totals.map(() => ({ n: 40, at: T0 + 1_000 })));
      await driver.stop();
    } finally {
      unregisterPolicy('forward-all-tw');
    }
  });
});

describe('the watermark of a record is the one of its position in the partition', () => {
  interface Seen {
    readonly i: number;
    readonly t: number;
    /** Null while there is no watermark yet. */
    readonly wm: number | null;
  }
  const probe = (leasable: boolean) =>
    defineApp({
      name: 'probe',
      options: {
        eventTime: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 60_000, watermarkIntervalMs: 100 },
        leasing: { idleRevokeMs: 60_000 },
      },
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: {
        f: fn({
          leasable,
          handler(ctx, m: { i: number }) {
            ctx.emit('out', ctx.key, {
              i: m.i,
              t: ctx.eventTime - T0,
              wm: Number.isFinite(ctx.watermark) ? ctx.watermark - T0 : null,
            } satisfies Seen);
          },
        }),
      },
    });
  const inOrder = [0, 1, 2, 3].map((i) => ({ key: 'a', value: { i }, timestamp: T0 + i * 1_000 }));
  const seen = async (d: TestDriver) =>
    (await d.output<Seen>('out')).map((r) => r.value).sort((a, b) => a.i - b.i);

  it('in-order records of one step each see the watermark moved by the records before them only', async () => {
    const d = await TestDriver.start(probe(false), { ingressPartitions: 1, startTime: T0 });
    try {
      await d.pipe('in', inOrder); // one step
      expect((await seen(d)).map((s) => s.wm)).toEqual([null, 0, 1_000, 2_000]);
    } finally {
      await d.stop();
    }
  });

  it('a lessor forwards the in-order records of one step (none is late), each with the watermark of its position', async () => {
    registerPolicy('forward-all-probe', () => ({
      name: 'forward-all-probe',
      onArrival: () => ({ forward: '' }),
      pickNext: (v) => v.queues.find((q) => q.head !== undefined),
    }));
    try {
      const d = await TestDriver.start(probe(true), {
        workers: 2,
        ingressPartitions: 1,
        startTime: T0,
        scheduler: { policy: 'forward-all-probe' },
      });
      try {
        await d.pipe('in', inOrder);
        expect(d.leases().counters.forwarded).toBe(4);
        expect(d.leases().counters.lesseeProcessed).toBe(4);
        const s = await seen(d);
        expect(s.map((x) => x.wm)).toEqual([null, 0, 1_000, 2_000]);
        // The watermark travels with each forwarded record (header dirigo-watermark; none before the first).
        const forwards = (await d.readAll('dirigo.probe.__lease')).filter(
          (r) => r.headers['dirigo-kind']?.toString() === 'forward',
        );
        expect(forwards.map((r) => r.headers['dirigo-watermark']?.toString() ?? null)).toEqual([
          null,
          String(T0),
          String(T0 + 1_000),
          String(T0 + 2_000),
        ]);
      } finally {
        await d.stop();
      }
    } finally {
      unregisterPolicy('forward-all-probe');
    }
  });
});

describe('what a fired event-time timer sends is not behind the watermark at the next function', () => {
  // `first` keeps a count per key and closes it with an event-time timer to itself at 1000; the close sends the
  // count on to `second`, stamped 1000. The watermark first sends on must not pass 1000 before that message
  // went out (it moves to 5000 in the step that fires the timer, and the close runs in a later step).
  interface Got {
    readonly t: number;
    readonly wm: number | null;
    readonly n: number;
  }
  const twoHops = defineApp({
    name: 'fired',
    options: { eventTime: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 60_000, watermarkIntervalMs: 100 } },
    ingresses: [{ topic: 'in', to: 'first' }],
    egresses: { got: { topic: 'got' } },
    functions: {
      first: fn({
        state: { n: state.value<number>() },
        sends: ['second'],
        handler(ctx, m: { close?: boolean }) {
          if (m.close === true) {
            ctx.send('second', ctx.key, { n: ctx.state.n.get() ?? 0 });
            return;
          }
          if (ctx.state.n.get() === undefined)
            ctx.send('first', ctx.key, { close: true }, { atEventTime: T0 + 1_000 });
          ctx.state.n.set((ctx.state.n.get() ?? 0) + 1);
        },
      }),
      second: fn({
        handler(ctx, m: { n: number }) {
          ctx.emit('got', ctx.key, {
            t: ctx.eventTime - T0,
            wm: Number.isFinite(ctx.watermark) ? ctx.watermark - T0 : null,
            n: m.n,
          } satisfies Got);
        },
      }),
    },
  });

  it('the partition holds the watermark it sends below the due time until the fired message has run', async () => {
    const d = await TestDriver.start(twoHops, { ingressPartitions: 1, startTime: T0 });
    try {
      await d.pipe('in', [{ key: 'a', value: {}, timestamp: T0 + 100 }]);
      await d.advance(200);
      await d.pipe('in', [{ key: 'b', value: {}, timestamp: T0 + 5_000 }]); // the timer of 'a' fires
      for (let i = 0; i < 4; i++) await d.advance(200);
      // Both timers fired in the step that took first's watermark to 5000 ('b' set its own at 1000 in it).
      const got = (await d.output<Got>('got')).map((r) => [r.key, r.value] as const).sort();
      expect(got.map(([k, g]) => [k, g.t, g.n])).toEqual([
        ['a', 1_000, 1],
        ['b', 1_000, 1],
      ]);
      // Not late: second's watermark when they came was below their event time (first held it at 999).
      for (const [, g] of got) expect(g.wm).toBe(999);
    } finally {
      await d.stop();
    }
  });
});

describe('an event-time app with a re-keyed ingress', () => {
  const rekeyed = defineApp({
    name: 'rekeyed',
    options: { eventTime: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 60_000, watermarkIntervalMs: 100 } },
    ingresses: [{ topic: 'events', to: 'f', key: (m: { k: string }) => m.k }],
    egresses: { out: { topic: 'out' } },
    functions: {
      f: fn({
        handler(ctx, m: { k: string }) {
          ctx.emit('out', ctx.key, { ...m, wm: Number.isFinite(ctx.watermark) ? ctx.watermark - T0 : null });
        },
      }),
    },
  });

  it("processes its records, with the routers' partitions as the watermark sources of the target", async () => {
    const d = await TestDriver.start(rekeyed, { ingressPartitions: 2, startTime: T0 });
    try {
      expect(d.appStatus('rekeyed').status).toBe('running');
      await d.pipe('events', [{ key: A, value: { k: 'user-1' }, timestamp: T0 + 100 }]);
      await d.pipe('events', [{ key: B, value: { k: 'user-1' }, timestamp: T0 + 300 }]);
      await d.advance(200);
      await d.pipe('events', [{ key: A, value: { k: 'user-1' }, timestamp: T0 + 500 }]);
      const out = (await d.output<{ k: string; wm: number | null }>('out')).map((r) => r.value);
      expect(out.map((o) => o.k)).toEqual(['user-1', 'user-1', 'user-1']);
      // Both router partitions reported (100 and 300) before the third record: f is at the lowest.
      expect(out[2]!.wm).toBe(100);
    } finally {
      await d.stop();
    }
  });
});
