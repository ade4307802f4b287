// A leasable app for the suites that lease on a real broker (leasing.test, security.test): clicks per campaign in a
// mergeable sum, with a critical report that must see every click before it; and a policy that forwards every
// message of the key `hot`, so a lease starts as soon as a lessee is known.
import { defineApp, fn, merge, state } from '@dirigo/core';
import { createPolicy, type SchedulingPolicy, type Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';

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
