// Dual-mode actors on a real broker: two workers (two kafkajs transports in this process), a hot key leased
// to a lease slot of the other worker through the load reports on the control topic, critical reports that
// see exactly the clicks before them, and every hop transactional.
import { defineApp, fn, merge, state } from '@dirigo/core';
import {
  createPolicy,
  registerPolicy,
  type SchedulingPolicy,
  unregisterPolicy,
  Worker,
} from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport, produceJson, readJson, testLogger, unique } from './harness.ts';

type Click = { type: 'click' } | { type: 'report'; seq: number };

const app = (ns: string, input: string, out: string) =>
  defineApp({
    name: 'clicks',
    options: { namespace: ns, leasing: { slots: 4, idleRevokeMs: 60_000 } },
    ingresses: [{ topic: input, to: 'campaign' }],
    egresses: { reports: { topic: out } },
    functions: {
      campaign: fn({
        leasable: true,
        state: { clicks: state.mergeable(merge.sum()) },
        critical: (m: Click) => m.type === 'report',
        handler(ctx, m: Click) {
          if (m.type === 'click') ctx.state.clicks.merge(1);
          else ctx.emit('reports', ctx.key, { seq: m.seq, clicks: ctx.state.clicks.get() });
        },
      }),
    },
  });

const forwardHot = (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name: 'it-forward-hot',
    onArrival: (m) => (m.key === 'hot' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};
beforeAll(() => registerPolicy('it-forward-hot', forwardHot));
afterAll(() => unregisterPolicy('it-forward-hot'));

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {});
});

describe('leasing on a real broker', () => {
  it('leases a hot key to the other worker and merges its partials at each report', async () => {
    const ns = unique('it-lease');
    const input = `${ns}-clicks`;
    const out = `${ns}-reports`;
    const t = kafkaTransport('it-lease-setup');
    stops.push(() => t.close());
    await (await t.admin()).createTopics([{ name: input, partitions: 2 }]);
    const workers: Worker[] = [];
    for (const id of ['a', 'b']) {
      const transport = kafkaTransport(`it-lease-${id}`);
      const w = new Worker({
        transport,
        apps: [app(ns, input, out)],
        workerId: `${ns}-${id}`,
        logger: testLogger().child({ worker: id }),
        sessionTimeoutMs: 6_000,
        controlTopic: `${ns}.control`,
        loadReportIntervalMs: 200,
        scheduler: { policy: 'it-forward-hot' },
      });
      stops.push(async () => {
        await w.stop();
        await transport.close();
      });
      workers.push(w);
    }
    await Promise.all(workers.map((w) => w.start()));
    await waitFor(() => workers.every((w) => w.health().ready), 60_000, { intervalMs: 100 });
    // Every worker must know the other's lease slots before the first forward.
    await waitFor(
      () => workers.every((w) => w.peers().some((p) => (p.slots?.clicks?.length ?? 0) > 0)),
      30_000,
      {
        intervalMs: 100,
      },
    );
    const batch = (n: number, seq: number) => [
      ...Array.from({ length: n }, () => ({ key: 'hot', value: { type: 'click' } })),
      { key: 'hot', value: { type: 'report', seq } },
    ];
    await produceJson(t, input, batch(300, 1));
    await produceJson(t, input, batch(200, 2));
    await waitFor(async () => (await readJson(t, out)).length === 2, 60_000, { intervalMs: 200 });
    const reports = (await readJson<{ seq: number; clicks: number }>(t, out)).map((r) => r.value);
    expect(reports).toEqual([
      { seq: 1, clicks: 300 },
      { seq: 2, clicks: 500 },
    ]);
    const counters = workers.map((w) => w.leases().counters);
    expect(counters.reduce((s, c) => s + c.forwarded, 0)).toBeGreaterThan(0);
    expect(counters.reduce((s, c) => s + c.lesseeProcessed, 0)).toBe(
      counters.reduce((s, c) => s + c.forwarded, 0),
    );
    // The lessor and the lessee are different workers.
    expect(counters.filter((c) => c.forwarded > 0)).toHaveLength(1);
    expect(counters.filter((c) => c.lesseeProcessed > 0)).toHaveLength(1);
    expect(counters.findIndex((c) => c.forwarded > 0)).not.toBe(
      counters.findIndex((c) => c.lesseeProcessed > 0),
    );
  }, 180_000);
});
