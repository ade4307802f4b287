// Dual-mode actors on the test driver (two simulated workers, one in-memory cluster): a hot key leases its
// ordinary messages to a lessee on the other worker, and a critical message sees exactly the clicks before it.
// Each invariant's test is also run with the invariant broken on purpose (merge skipped, SYNC reply dropped, a
// stale reply accepted) to show that it would notice.
import { actorId, defineApp, fn, merge, partitionFor, state } from '@dirigo/core';
import { createPolicy, registerPolicy, type SchedulingPolicy, unregisterPolicy } from '@dirigo/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../wait.ts';
import { TestDriver, type TestDriverOptions } from './test-driver.ts';

type Click = { type: 'click'; user: string } | { type: 'report'; seq: number };
interface Report {
  readonly key: string;
  readonly seq: number;
  readonly clicks: number;
  readonly users: number;
}

const clicksApp = defineApp({
  name: 'clicks',
  options: { leasing: { idleRevokeMs: 1_000 } },
  ingresses: [{ topic: 'clicks', to: 'campaign' }],
  egresses: { reports: { topic: 'reports' } },
  functions: {
    campaign: fn({
      leasable: true,
      state: { clicks: state.mergeable(merge.sum()), users: state.mergeable(merge.setUnion<string>()) },
      critical: (m: Click) => m.type === 'report',
      handler(ctx, m: Click) {
        if (m.type === 'click') {
          ctx.state.clicks.merge(1);
          ctx.state.users.merge([m.user]);
        } else {
          ctx.emit('reports', ctx.key, {
            key: ctx.key,
            seq: m.seq,
            clicks: ctx.state.clicks.get(),
            users: ctx.state.users.get().length,
          } satisfies Report);
        }
      },
    }),
  },
});

/** Forwards every ordinary message of key 'hot' (to any lessee); FIFO otherwise. */
const forwardHot = (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name: 'forward-hot',
    onArrival: (m) => (m.key === 'hot' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};
beforeAll(() => registerPolicy('forward-hot', forwardHot));
afterAll(() => unregisterPolicy('forward-hot'));

const clicks = (key: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    key,
    value: { type: 'click', user: `u${(from + i) % 7}` } as Click,
  }));
const report = (key: string, seq: number) => ({ key, value: { type: 'report', seq } as Click });

/** The clicks app whose handler costs 5 ms of the driver's test clock per message (`driver()`: once started). */
function costlyClicks(
  driver: () => TestDriver,
  leasing: { readonly idleRevokeMs: number; readonly stepBudgetMs: number },
  leasable = true,
) {
  return defineApp({
    ...clicksApp,
    options: { leasing },
    functions: {
      campaign: fn({
        ...clicksApp.functions.campaign,
        leasable,
        handler(ctx, m: Click) {
          driver().clock.advance(5);
          return clicksApp.functions.campaign.handler(ctx, m);
        },
      }),
    },
  });
}

/**
 * The costly clicks app (5 ms per message, a 20 ms step budget, leases idle for a minute) on two workers, one
 * ingress partition, the `forward-hot` policy.
 */
async function startCostlyForwardHot(): Promise<TestDriver> {
  let driver: TestDriver | undefined;
  const costly = costlyClicks(() => driver!, { idleRevokeMs: 60_000, stepBudgetMs: 20 });
  driver = await TestDriver.start(costly, {
    workers: 2,
    ingressPartitions: 1,
    scheduler: { policy: 'forward-hot' },
  });
  return driver;
}

async function start(options: Partial<TestDriverOptions> = {}) {
  return TestDriver.start(clicksApp, {
    workers: 2,
    scheduler: { policy: 'forward-hot' },
    ...options,
  });
}

const reportsOf = async (driver: TestDriver, key: string) =>
  (await driver.output<Report>('reports')).map((r) => r.value).filter((r) => r.key === key);

describe('leasing a hot key', () => {
  it('forwards ordinary messages to a lessee on the other worker and merges them back at a critical message', async () => {
    const driver = await start();
    // One step: the 50 clicks after the report are not forwarded (they come after its barrier) but run at the
    // lessor once the report ran; the report counts the 100 before it, forwarded or not.
    await driver.pipe('clicks', [...clicks('hot', 100), report('hot', 1), ...clicks('hot', 50, 100)]);
    await driver.pipe('clicks', [...clicks('hot', 30, 150), report('hot', 2)]);
    expect(await reportsOf(driver, 'hot')).toEqual([
      { key: 'hot', seq: 1, clicks: 100, users: 7 },
      { key: 'hot', seq: 2, clicks: 180, users: 7 },
    ]);
    const { counters, leases } = driver.leases();
    expect(counters.forwarded).toBe(130);
    expect(counters.lesseeProcessed).toBe(130);
    expect(counters.granted).toBe(1);
    expect(counters.syncs).toBe(2);
    expect(counters.merged).toBe(2);
    expect(counters.barriers).toBe(2);
    expect(leases).toEqual([expect.objectContaining({ key: 'hot', mode: 'RUNNABLE', epoch: 1, waiting: 0 })]);
    expect(await driver.state('clicks', 'campaign', 'hot', 'clicks')).toBe(180);
    await driver.stop();
  });

  it('leases a function without a critical predicate (its messages are all ordinary)', async () => {
    const plain = defineApp({
      name: 'plain',
      ingresses: [{ topic: 'clicks', to: 'count' }],
      egresses: {},
      functions: {
        count: fn({
          leasable: true,
          state: { n: state.mergeable(merge.sum()) },
          handler(ctx) {
            ctx.state.n.merge(1);
          },
        }),
      },
    });
    const driver = await TestDriver.start(plain, { workers: 2, scheduler: { policy: 'forward-hot' } });
    await driver.pipe('clicks', clicks('hot', 20));
    expect(driver.appStatus('plain')).toEqual({ status: 'running' });
    expect(driver.leases().counters.forwarded).toBe(20);
    expect(driver.leases().counters.lesseeProcessed).toBe(20);
    await driver.stop();
  });

  it('revokes an idle lease and merges the final partial back', async () => {
    const driver = await start();
    await driver.pipe('clicks', clicks('hot', 40));
    expect(driver.leases().leases).toHaveLength(1);
    await driver.advance(1_500);
    await driver.advance(10);
    const { counters, leases } = driver.leases();
    expect(counters.revoked).toBe(1);
    expect(leases).toEqual([]);
    expect(await driver.state('clicks', 'campaign', 'hot', 'clicks')).toBe(40);
    // A new lease after the revoke has a new epoch; its partials merge too.
    await driver.pipe('clicks', [...clicks('hot', 10), report('hot', 1)]);
    expect(driver.leases().leases[0]?.epoch).toBe(2);
    expect((await reportsOf(driver, 'hot')).map((r) => r.clicks)).toEqual([50]);
    await driver.stop();
  });

  it('never revokes a lease in a step that used it, however long the step ran', async () => {
    // The forwards happen when the batch arrives; a slow message of another key in the same step then moves
    // the clock past idleRevokeMs. The lease is idle only from the end of the step.
    let driver: TestDriver | undefined;
    const slow = defineApp({
      ...clicksApp,
      functions: {
        campaign: fn({
          ...clicksApp.functions.campaign,
          handler(ctx, m: Click) {
            if (m.type === 'click' && m.user === 'slow') driver!.clock.advance(1_500);
            return clicksApp.functions.campaign.handler(ctx, m);
          },
        }),
      },
    });
    driver = await TestDriver.start(slow, {
      workers: 2,
      ingressPartitions: 1,
      scheduler: { policy: 'forward-hot' },
    });
    await driver.pipe('clicks', [
      ...clicks('hot', 10),
      { key: 'cold', value: { type: 'click', user: 'slow' } },
    ]);
    expect(driver.leases().counters.forwarded).toBe(10);
    expect(driver.leases().counters.revoked).toBe(0);
    expect(driver.leases().leases).toEqual([expect.objectContaining({ key: 'hot', epoch: 1 })]);
    await driver.advance(1_500);
    expect(driver.leases().counters.revoked).toBe(1);
    expect(await driver.state('clicks', 'campaign', 'hot', 'clicks')).toBe(10);
    await driver.stop();
  });

  it('leases a key again under a new epoch while the final partial of its revoked lease is still awaited', async () => {
    // The lessee is held on forwarded clicks, so the revoke behind them waits; new clicks of the key must not
    // fall back to the lessor meanwhile, and the old epoch's final partial still merges when it comes.
    let gate: Promise<void> | undefined;
    let open = () => {};
    const gated = defineApp({
      ...clicksApp,
      functions: {
        campaign: fn({
          ...clicksApp.functions.campaign,
          async handler(ctx, m: Click) {
            if (m.type === 'click' && gate !== undefined) await gate;
            return clicksApp.functions.campaign.handler(ctx, m);
          },
        }),
      },
    });
    const driver = await TestDriver.start(gated, { workers: 2, scheduler: { policy: 'forward-hot' } });
    await driver.pipe('clicks', clicks('hot', 60));
    const lessor = driver.workers.findIndex((w) => w.leases().leases.length > 0);
    expect(lessor).toBeGreaterThanOrEqual(0);
    gate = new Promise((r) => {
      open = r;
    });
    await driver.pipe('clicks', clicks('hot', 10, 60), { settle: false });
    await waitFor(() => driver.leases().counters.forwarded === 70, 5_000);
    driver.clock.advance(1_500);
    await driver.workers[lessor]!.tick();
    expect(driver.workers[lessor]!.leases().leases).toEqual([
      expect.objectContaining({ key: 'hot', epoch: 1, slots: [], waiting: 1 }),
    ]);
    await driver.pipe('clicks', clicks('hot', 5, 70), { settle: false });
    await waitFor(() => driver.leases().counters.forwarded === 75, 5_000);
    expect(driver.workers[lessor]!.leases().leases).toEqual([
      expect.objectContaining({ key: 'hot', epoch: 2, waiting: 1 }),
    ]);
    open();
    await driver.settle();
    await driver.pipe('clicks', [report('hot', 1)]);
    expect((await reportsOf(driver, 'hot')).map((r) => r.clicks)).toEqual([75]);
    expect(driver.leases().counters.granted).toBe(2);
    expect(await driver.state('clicks', 'campaign', 'hot', 'clicks')).toBe(75);
    await driver.stop();
  });

  it("runs a leasable function's fetched batch as steps of at most leasing.stepBudgetMs of estimated work", async () => {
    // 5 ms per message (on the test clock) and a 20 ms budget (at least 32 records): 100 records of one fetch
    // take several steps, each committed on its own, so forwards made early in the batch leave early. Every
    // record is processed once.
    let driver: TestDriver | undefined;
    const costly = (leasable: boolean) =>
      costlyClicks(() => driver!, { idleRevokeMs: 1_000, stepBudgetMs: 20 }, leasable);
    const steps: Record<string, number> = {};
    for (const leasable of [true, false]) {
      driver = await TestDriver.start(costly(leasable), {
        ingressPartitions: 1,
        scheduler: { policy: 'fifo' },
      });
      await driver.pipe('clicks', [...clicks('k', 100), report('k', 1)]);
      expect((await reportsOf(driver, 'k')).map((r) => r.clicks)).toEqual([100]);
      steps[String(leasable)] = driver.workers[0]!.appStats().get('clicks')!.steps;
      await driver.stop();
    }
    expect(steps.false).toBe(1);
    expect(steps.true).toBeGreaterThanOrEqual(3);
  });

  it('counts the messages of a key leased now at the cost of forwarding them when it cuts a batch into steps', async () => {
    // 5 ms per message run here (test clock), a 20 ms budget: 120 messages of a key that is not leased take four
    // steps of at least 32. The hot key is leased and every one of its messages forwarded, so they cost next to
    // nothing here and the batch is one step at the lessor (counting them as local work made a busy lessor's
    // steps so small that its commits capped what it could forward).
    const driver = await startCostlyForwardHot();
    const stepsAtLessor = () => {
      const lessor = driver.workers.find((w) => w.leases().leases.length > 0)!;
      return lessor.appStats().get('clicks')!.steps;
    };
    await driver.pipe('clicks', [...clicks('cold', 10), ...clicks('hot', 5)]); // the handler's cost; a lease
    expect(driver.leases().counters.forwarded).toBe(5);
    const before = stepsAtLessor();
    await driver.pipe('clicks', clicks('hot', 120, 5));
    expect(driver.leases().counters.forwarded).toBe(125);
    expect(stepsAtLessor() - before).toBe(1);
    // The cold key is not leased: its messages still count in full (at least 32 per step, 5 ms each).
    const coldBefore = stepsAtLessor();
    await driver.pipe('clicks', clicks('cold', 120, 10));
    expect(stepsAtLessor() - coldBefore).toBe(4);
    await driver.pipe('clicks', [report('hot', 1), report('cold', 1)]);
    expect((await reportsOf(driver, 'hot')).map((r) => r.clicks)).toEqual([125]);
    expect((await reportsOf(driver, 'cold')).map((r) => r.clicks)).toEqual([130]);
    await driver.stop();
  });

  it("measures each forwarded message's hop from the lessor's step to the lessee's (lease header 'at')", async () => {
    // 5 ms per message run (test clock). The hot key is leased; a batch of 10 hot then 22 cold messages is one
    // step at the lessor: the hot ones are forwarded first, then the cold ones run there (110 ms), and only then
    // does the step commit and the lessee receive the forwards: each waited those 110 ms.
    const driver = await startCostlyForwardHot();
    await driver.pipe('clicks', clicks('hot', 5)); // a lease, and the handler's cost
    const before = { ...driver.leases().counters };
    expect(before.forwardTransits).toBe(5);
    await driver.pipe('clicks', [...clicks('hot', 10, 5), ...clicks('cold', 22)]);
    const after = driver.leases().counters;
    expect(after.forwarded - before.forwarded).toBe(10);
    expect(after.forwardTransits - before.forwardTransits).toBe(10);
    expect(after.forwardTransitMs - before.forwardTransitMs).toBe(10 * 22 * 5);
    await driver.stop();
  });

  it('leases a key whose bytes are not UTF-8 and merges it back into that key only', async () => {
    const binary = Buffer.from([0xff, 0x00, 0xfe]);
    const lookalike = Buffer.from([0xfd, 0x00, 0xfe]); // the same text as UTF-8 (U+FFFD, NUL, U+FFFD)
    expect(binary.toString('utf8')).toBe(lookalike.toString('utf8'));
    registerPolicy('forward-binary', () => ({
      name: 'forward-binary',
      onArrival: (m) => (m.key === actorId(binary) ? { forward: '' } : 'admit'),
      pickNext: (v) => createPolicy('fifo').pickNext(v),
    }));
    try {
      const driver = await start({ scheduler: { policy: 'forward-binary' } });
      const click = (key: Buffer) => ({ key, value: { type: 'click', user: 'u' } as Click });
      await driver.pipe('clicks', [
        ...Array.from({ length: 20 }, () => click(binary)),
        ...Array.from({ length: 5 }, () => click(lookalike)),
        { key: binary, value: { type: 'report', seq: 1 } as Click },
      ]);
      expect(driver.leases().counters.forwarded).toBe(20);
      const reports = (await driver.output<Report>('reports')).filter((r) => r.keyBytes?.equals(binary));
      expect(reports.map((r) => r.value.clicks)).toEqual([20]);
      expect(await driver.state('clicks', 'campaign', binary, 'clicks')).toBe(20);
      expect(await driver.state('clicks', 'campaign', lookalike, 'clicks')).toBe(5);
      await driver.stop();
    } finally {
      unregisterPolicy('forward-binary');
    }
  });

  it("shows policies each queue's backlog: the rest of the fetched batch and the partition's lag", async () => {
    let driver: TestDriver | undefined;
    const backlogs: number[] = [];
    registerPolicy('backlog-spy', () => ({
      name: 'backlog-spy',
      onArrival(m, v) {
        const q = v.queues.find((x) => x.id === m.queue);
        if (m.key === 'k' && q !== undefined && backlogs.at(-1) !== q.backlog) backlogs.push(q.backlog);
        return 'admit';
      },
      pickNext: (v) => v.queues.find((q) => q.head !== undefined),
    }));
    try {
      const costly = costlyClicks(() => driver!, { idleRevokeMs: 1_000, stepBudgetMs: 20 });
      driver = await TestDriver.start(costly, { ingressPartitions: 1, scheduler: { policy: 'backlog-spy' } });
      await driver.pipe('clicks', clicks('k', 100));
      // One fetch of 100 records run as steps of 32 (5 ms each, 20 ms budget, at least 32): 68, 36, 4, then 0.
      expect(backlogs).toEqual([68, 36, 4, 0]);
      await driver.stop();
    } finally {
      unregisterPolicy('backlog-spy');
    }
  });

  it('fails when the merge is skipped (the test notices a broken invariant)', async () => {
    const driver = await start({ leasingFaults: { skipMerge: true } });
    await driver.pipe('clicks', [...clicks('hot', 30), report('hot', 1)]);
    expect((await reportsOf(driver, 'hot')).map((r) => r.clicks)).not.toEqual([30]);
    await driver.stop();
  });

  it('keeps other keys of the partition running while a key is BLOCKED (here forever: the SYNC reply is dropped)', async () => {
    const driver = await start({ leasingFaults: { dropSyncReply: true } });
    // A cold key on the hot key's partition.
    const partition = partitionFor(Buffer.from('hot'), 4);
    let cold = 0;
    while (partitionFor(Buffer.from(`cold${cold}`), 4) !== partition) cold++;
    const coldKey = `cold${cold}`;
    await driver.pipe('clicks', [
      ...clicks('hot', 20),
      report('hot', 1),
      ...clicks(coldKey, 5),
      report(coldKey, 1),
    ]);
    expect(await reportsOf(driver, coldKey)).toEqual([{ key: coldKey, seq: 1, clicks: 5, users: 5 }]);
    // Without the reply the hot key's report never runs: a dropped reply would be noticed.
    expect(await reportsOf(driver, 'hot')).toEqual([]);
    expect(driver.leases().leases).toEqual([
      expect.objectContaining({ key: 'hot', mode: 'BLOCKED', waiting: 1 }),
    ]);
    await driver.stop();
  });
});

describe('the lease counters of the test driver', () => {
  it('combine the workers: counts summed, first times the earliest, last times the latest', async () => {
    // A hot key on every partition: both workers are lessors (and lessees of each other).
    const keys: string[] = [];
    for (let i = 0; keys.length < 4; i++) {
      const k = `hot${i}`;
      if (!keys.some((x) => partitionFor(Buffer.from(x), 4) === partitionFor(Buffer.from(k), 4)))
        keys.push(k);
    }
    registerPolicy('forward-hots', () => ({
      name: 'forward-hots',
      onArrival: (m) => (m.key.startsWith('hot') ? { forward: '' } : 'admit'),
      pickNext: (v) => v.queues.find((q) => q.head !== undefined),
    }));
    try {
      const driver = await start({ scheduler: { policy: 'forward-hots' } });
      const t0 = driver.clock.now();
      await driver.pipe(
        'clicks',
        keys.flatMap((k) => clicks(k, 3)),
      );
      await driver.advance(100);
      await driver.pipe(
        'clicks',
        keys.flatMap((k) => clicks(k, 2)),
      );
      const { counters, perWorker } = driver.leases();
      expect(perWorker).toHaveLength(2);
      for (const w of perWorker) expect(w.firstForwardAt).toBe(t0); // each worker is a lessor
      expect(counters.forwarded).toBe(20);
      expect(counters.forwarded).toBe(perWorker[0]!.forwarded + perWorker[1]!.forwarded);
      expect(counters.firstForwardAt).toBe(t0);
      expect(counters.lastForwardAt).toBe(t0 + 100);
      expect(counters.firstLesseeAt).toBe(t0);
      expect(counters.lastFinalMergeAt).toBe(0); // never: no lease was revoked
      await driver.stop();
    } finally {
      unregisterPolicy('forward-hots');
    }
  });
});

describe('lease protocol under failures and stale messages', () => {
  /** A PARTIAL reply to `hot` claiming 1000 clicks, from slot 0, for epoch `epoch` round `seq`. */
  const stalePartial = (epoch: number, seq: number) =>
    Buffer.from(
      JSON.stringify({
        v: 1,
        type: 'partial',
        app: 'clicks',
        fn: 'campaign',
        key: 'hot',
        epoch,
        seq,
        slot: 0,
        final: false,
        processed: 1000,
        cells: [{ state: 'clicks', value: Buffer.from('1000').toString('base64') }],
      }),
    );

  async function withStaleReply(faults: TestDriverOptions['leasingFaults']) {
    const driver = await start(faults === undefined ? {} : { leasingFaults: faults });
    await driver.pipe('clicks', [...clicks('hot', 20), report('hot', 1)]);
    // A reply of an old round (epoch 1, round 0, never asked for) lands on the lessor's input partition.
    const producer = driver.transport.producer();
    await producer.connect();
    await producer.send([
      {
        topic: 'clicks',
        key: Buffer.from('hot'),
        value: stalePartial(1, 0),
        headers: { 'dirigo-kind': Buffer.from('control') },
      },
    ]);
    await producer.disconnect();
    await driver.settle();
    await driver.pipe('clicks', [...clicks('hot', 5, 20), report('hot', 2)]);
    const reports = (await reportsOf(driver, 'hot')).map((r) => r.clicks);
    const stale = driver.leases().counters.stale;
    await driver.stop();
    return { reports, stale };
  }

  it('ignores a reply of a stale epoch or round (counted), and would count it twice if it did not', async () => {
    expect(await withStaleReply(undefined)).toEqual({ reports: [20, 25], stale: 1 });
    const broken = await withStaleReply({ acceptStale: true });
    expect(broken.reports).not.toEqual([20, 25]);
  });

  it('a rebalance in the middle of a barrier (lessor or lessee leaves) ends with the same result', async () => {
    // Clicks wait on a gate the test opens: a lessee stuck on forwarded clicks has not taken the SYNC behind them,
    // so the lessor stays BLOCKED until the test lets it go, after moving a partition.
    let gate: Promise<void> | undefined;
    let open = () => {};
    const gated = defineApp({
      ...clicksApp,
      functions: {
        campaign: fn({
          ...clicksApp.functions.campaign,
          async handler(ctx, m: Click) {
            if (m.type === 'click' && gate !== undefined) await gate;
            return clicksApp.functions.campaign.handler(ctx, m);
          },
        }),
      },
    });
    for (const leaving of ['lessor', 'lessee'] as const) {
      gate = undefined;
      const driver = await TestDriver.start(gated, { workers: 2, scheduler: { policy: 'forward-hot' } });
      await driver.pipe('clicks', clicks('hot', 60));
      const lessor = driver.workers.findIndex((w) => w.leases().leases.length > 0);
      expect(lessor).toBeGreaterThanOrEqual(0);
      gate = new Promise((r) => {
        open = r;
      });
      await driver.pipe(
        'clicks',
        [...clicks('hot', 10, 60), report('hot', 1), ...clicks('hot', 7, 70), report('hot', 2)],
        {
          settle: false,
        },
      );
      await waitFor(() => driver.workers[lessor]!.leases().leases[0]?.mode === 'BLOCKED', 5_000);
      const stopping = driver.stopWorker(leaving === 'lessor' ? lessor : 1 - lessor);
      if (leaving === 'lessee') open(); // its in-flight step must finish to let it leave
      await stopping;
      open();
      await driver.settle();
      expect({ leaving, reports: (await reportsOf(driver, 'hot')).map((r) => r.clicks) }).toEqual({
        leaving,
        reports: [70, 77],
      });
      expect(await driver.state('clicks', 'campaign', 'hot', 'clicks')).toBe(77);
      await driver.stop();
    }
  });
});
