// The worker's data-plane scheduler on the test driver: the configured policy decides, user policies plug in,
// a throwing policy is contained, metadata headers feed deadlines, metrics are kept per app.
import { ConfigError, defineApp, fn } from '@dirigo/core';
import { type QueueView, registerPolicy, unregisterPolicy, Worker } from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTransport } from '../memory/transport.ts';
import { TestDriver } from './test-driver.ts';

const twoApps = () => {
  const seen: string[] = [];
  const mk = (name: string, latencyTargetMs: number, priority: 'critical' | 'batch') =>
    defineApp({
      name,
      options: { latencyTargetMs, priority, maxConcurrentKeys: 1000 },
      ingresses: [{ topic: `${name}-in`, to: 'f' }],
      egresses: { out: { topic: `${name}-out` } },
      functions: {
        f: fn({
          async handler(ctx, m: { i: number }) {
            // Batch work yields to the event loop, so its step stays queued while other steps arrive.
            if (priority === 'batch') await new Promise((r) => setImmediate(r));
            seen.push(`${name}:${m.i}`);
            ctx.emit('out', ctx.key, m.i);
          },
        }),
      },
    });
  return { seen, apps: [mk('alerts', 50, 'critical'), mk('reports', 60_000, 'batch')] };
};

describe('scheduler in the worker', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
    unregisterPolicy('spy');
    unregisterPolicy('broken');
  });

  it('runs a user-registered policy whose dispatch hook sees the queues of every app on the worker', async () => {
    const appsSeen = new Set<string>();
    let picks = 0;
    registerPolicy('spy', () => ({
      name: 'spy',
      pickNext(view) {
        picks++;
        for (const q of view.queues) appsSeen.add(q.app);
        return view.queues.find((q: QueueView) => q.head !== undefined);
      },
    }));
    const { apps, seen } = twoApps();
    driver = await TestDriver.start(apps, { scheduler: { policy: 'spy' } });
    await driver.pipe(
      'reports-in',
      Array.from({ length: 50 }, (_, i) => ({ key: `r${i}`, value: { i } })),
      {
        settle: false,
      },
    );
    while (!seen.some((s) => s.startsWith('reports:'))) await new Promise((r) => setImmediate(r));
    await driver.pipe(
      'alerts-in',
      Array.from({ length: 5 }, (_, i) => ({ key: `a${i}`, value: { i } })),
    );
    expect(picks).toBeGreaterThan(0);
    expect(await driver.output('alerts-out')).toHaveLength(5);
    expect(await driver.output('reports-out')).toHaveLength(50);
    expect([...appsSeen].sort()).toEqual(['alerts', 'reports']);
  });

  it.each([
    ['edf', true],
    ['priority', true],
    ['fifo', false],
  ] as const)('under %s, an urgent message overtakes a queued backlog: %s', async (policy, overtakes) => {
    const { apps, seen } = twoApps();
    // One app may take every in-flight slot here (the default per-app share would let the alert through under
    // any policy): this compares the policies alone.
    driver = await TestDriver.start(apps, {
      scheduler: { policy, maxInFlightPerApp: 64 },
      ingressPartitions: 1,
    });
    await driver.pipe(
      'reports-in',
      Array.from({ length: 500 }, (_, i) => ({ key: `r${i}`, value: { i } })),
      {
        settle: false,
      },
    );
    while (!seen.some((s) => s.startsWith('reports:'))) await new Promise((r) => setImmediate(r));
    driver.clock.advance(10); // the alert arrives after the backlog was queued
    await driver.pipe('alerts-in', [{ key: 'a', value: { i: 0 } }]);
    const alertAt = seen.indexOf('alerts:0');
    expect(alertAt).toBeGreaterThan(0);
    const reportsAfter = seen.slice(alertAt + 1).filter((s) => s.startsWith('reports:')).length;
    // Overtaking: the alert takes the first free slot, ahead of the hundreds of queued reports. FIFO: it starts after
    // every older report started, so at most the 64 in flight finish after it.
    if (overtakes) expect(reportsAfter).toBeGreaterThan(200);
    else expect(reportsAfter).toBeLessThanOrEqual(64);
    const snapshot = driver.workers[0]!.schedulerMetrics()!;
    expect(snapshot.apps.alerts?.completed).toBe(1);
    expect(snapshot.apps.reports?.completed).toBe(500);
  });

  it('contains a throwing policy: messages still run, in order per key', async () => {
    registerPolicy('broken', () => ({
      name: 'broken',
      pickNext() {
        throw new Error('policy bug');
      },
    }));
    const { apps } = twoApps();
    driver = await TestDriver.start(apps, { scheduler: { policy: 'broken' } });
    await driver.pipe(
      'alerts-in',
      Array.from({ length: 20 }, (_, i) => ({ key: 'same', value: { i } })),
    );
    expect((await driver.output<number>('alerts-out')).map((r) => r.value)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('holds a send the policy holds until the next tick, durably', async () => {
    registerPolicy('spy', () => ({
      name: 'spy',
      pickNext: (view) => view.queues.find((q) => q.head !== undefined),
      onSend: (_msg, target) => (target.fn === 'b' ? 'hold' : 'pass'),
    }));
    const app = defineApp({
      name: 'hold',
      ingresses: [{ topic: 'hold-in', to: 'a' }],
      egresses: { out: { topic: 'hold-out' } },
      functions: {
        a: fn({ handler: (ctx, m: number) => ctx.send('b', ctx.key, m) }),
        b: fn({ handler: (ctx, m: number) => ctx.emit('out', ctx.key, m) }),
      },
    });
    driver = await TestDriver.start(app, { scheduler: { policy: 'spy' } });
    await driver.pipe('hold-in', [{ key: 'k', value: 7 }]);
    expect(await driver.output('hold-out')).toHaveLength(0);
    await driver.advance(1);
    expect((await driver.output<number>('hold-out')).map((r) => r.value)).toEqual([7]);
    expect(driver.workers[0]!.schedulerMetrics()!.apps.hold?.held).toBe(1);
  });

  it('clamps scheduling headers set by a producer: a forged deadline looks at most one latency target late', async () => {
    const seen: { key: string; ingest: number; deadline: number }[] = [];
    registerPolicy('spy', () => ({
      name: 'spy',
      onArrival: (msg) => {
        seen.push({ key: msg.key, ingest: msg.ingest, deadline: msg.deadline });
        return 'admit';
      },
      pickNext: (view) => view.queues.find((q) => q.head !== undefined),
    }));
    const { apps } = twoApps();
    driver = await TestDriver.start(apps, { scheduler: { policy: 'spy' } });
    const now = driver.clock.now();
    const forged = (deadline: string, ingest: string) => ({
      'dirigo-deadline': deadline,
      'dirigo-ingest': ingest,
    });
    await driver.pipe('alerts-in', [
      { key: 'past', value: { i: 0 }, headers: forged('-1e308', '-1e308') },
      { key: 'future', value: { i: 1 }, headers: forged('1e308', '1e308') },
      { key: 'garbage', value: { i: 2 }, headers: forged('abc', 'NaN') },
      { key: 'honest', value: { i: 3 } },
    ]);
    const by = Object.fromEntries(seen.map((s) => [s.key, s]));
    // alerts' latency target is 50 ms.
    expect(by.past).toEqual({ key: 'past', ingest: now - 86_400_000, deadline: now - 50 });
    expect(by.future).toEqual({ key: 'future', ingest: now, deadline: now + 50 });
    expect(by.garbage).toEqual({ key: 'garbage', ingest: now, deadline: now + 50 });
    expect(by.honest).toEqual({ key: 'honest', ingest: now, deadline: now + 50 });
    expect(await driver.output('alerts-out')).toHaveLength(4);
  });

  it.each([
    [undefined, 'runs'],
    [1, 'a decision per message'],
  ] as const)('scheduler.runLength %s: %s', async (runLength, _what) => {
    let picks = 0;
    registerPolicy('spy', () => ({
      name: 'spy',
      pickNext: (view) => {
        picks++;
        return view.queues.find((q) => q.head !== undefined);
      },
    }));
    const app = defineApp({
      name: 'sync',
      ingresses: [{ topic: 'sync-in', to: 'f' }],
      egresses: { out: { topic: 'sync-out' } },
      functions: { f: fn({ handler: (ctx, m: number) => ctx.emit('out', ctx.key, m) }) },
    });
    driver = await TestDriver.start(app, {
      scheduler: { policy: 'spy', ...(runLength === undefined ? {} : { runLength }) },
      ingressPartitions: 1,
    });
    await driver.pipe(
      'sync-in',
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: i })),
    );
    const values = (await driver.output<number>('sync-out')).map((r) => r.value);
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // Sync handlers that cost microseconds run in runs of up to 32 after one decision.
    if (runLength === 1) expect(picks).toBeGreaterThanOrEqual(200);
    else expect(picks).toBeLessThan(30);
  });

  it.each([
    ['runLength', 0],
    ['runLength', 2.5],
    ['runBudgetMs', -1],
    ['runBudgetMs', Number.NaN],
  ] as const)('rejects scheduler.%s = %s naming the field', (field, value) => {
    const { apps } = twoApps();
    let error: unknown;
    try {
      new Worker({ transport: new MemoryTransport(), apps, scheduler: { [field]: value } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(`scheduler.${field}`);
  });

  it('rejects an unknown policy naming the field', () => {
    const { apps } = twoApps();
    let error: unknown;
    try {
      new Worker({ transport: new MemoryTransport(), apps, scheduler: { policy: 'nope' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('scheduler.policy');
  });
});
