// A leasable app for the suites that lease on a real broker (leasing.test, security.test): clicks per campaign in a
// mergeable sum, with a critical report that must see every click before it; and a policy that forwards every
// message of the key `hot`, so a lease starts as soon as a lessee is known.
import { type AppDefinition, defineApp, fn, merge, state, type Transport } from '@dirigo/core';
import { createPolicy, type SchedulingPolicy, Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { testLogger } from './harness.ts';

export type Click = { type: 'click' } | { type: 'report'; seq: number };

export const clicksApp = (ns: string, input: string, out: string) =>
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

/** A policy named `name` forwarding every message of the key `hot`; register it with `registerPolicy`. */
export const forwardHot = (name: string) => (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name,
    onArrival: (m) => (m.key === 'hot' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};

/** `n` clicks of the key `hot`, then its report number `seq`. */
export const hotClicks = (n: number, seq: number) => [
  ...Array.from({ length: n }, () => ({ key: 'hot', value: { type: 'click' } })),
  { key: 'hot', value: { type: 'report', seq } },
];

/** Starts the workers and waits until each is ready and knows another's lease slots (needed before a forward). */
export async function startLeasing(workers: readonly Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.start()));
  await waitFor(() => workers.every((w) => w.health().ready), 60_000, { intervalMs: 100 });
  await waitFor(
    () => workers.every((w) => w.peers().some((p) => (p.slots?.clicks?.length ?? 0) > 0)),
    30_000,
    { intervalMs: 100 },
  );
}

/**
 * Two workers (`<ns>-a`, `<ns>-b`) of `app`, each on its own transport (`transportOf(workerId)`), sharing
 * `controlTopic`, with the registered policy `policy` and load reports every 200 ms; each one's stop (worker, then
 * transport) goes to `onStop`. Start them with `startLeasing`.
 */
export function leasingPair(o: {
  readonly ns: string;
  readonly app: AppDefinition;
  readonly controlTopic: string;
  readonly policy: string;
  readonly transportOf: (workerId: string) => Transport;
  readonly onStop: (stop: () => Promise<void>) => void;
}): Worker[] {
  return ['a', 'b'].map((id) => {
    const workerId = `${o.ns}-${id}`;
    const transport = o.transportOf(workerId);
    const w = new Worker({
      transport,
      apps: [o.app],
      workerId,
      controlTopic: o.controlTopic,
      sessionTimeoutMs: 6000,
      loadReportIntervalMs: 200,
      scheduler: { policy: o.policy },
      logger: testLogger().child({ test: workerId }),
    });
    o.onStop(async () => {
      await w.stop();
      await transport.close();
    });
    return w;
  });
}
