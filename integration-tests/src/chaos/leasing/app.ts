// The module the leasing chaos run's worker processes load (`dirigo worker leasing/app.ts --policy chaos-lease`):
// it registers the run's scheduling policy (policy.ts: why a policy of its own, and what it forwards) and
// default-exports the app, exactly-once, with ONE leasable function `acc` read directly from the ingress:
// - `{ seq, kind: 'add', v }` (ordinary): merges count + 1 and sum + v into the key's mergeable state, and
//   emits `{ seq }` to `adds`, wherever it runs (the lessor, or a lessee against its partial state), after
//   burning `CHAOS_BURN_US` of CPU (so a SYNC waits behind forwarded adds at the lessee, widening the window in
//   which the lessor is BLOCKED);
// - `{ seq, kind: 'report' }` (critical, by the `critical` predicate): emits `{ seq, key, count, sum }` to
//   `reports`, the fully merged value.
// A short `leasing.idleRevokeMs` makes leases end (revoked, partials merged back) and start again many times.
import { defineApp, fn, merge, state } from '@dirigo/core';
import { registerPolicy } from '@dirigo/runtime';
import {
  type AddOutput,
  LEASE_APP,
  LEASE_FN,
  LEASE_POLICY,
  type LeaseEnv,
  type LeaseInput,
  leaseEnv,
  leaseTopics,
  type ReportOutput,
} from './names.ts';
import { chaosLeasePolicy } from './policy.ts';

registerPolicy(LEASE_POLICY, chaosLeasePolicy, { replace: true });

/** Busy-waits `us` microseconds (a handler's CPU cost). */
function burn(us: number): void {
  if (us <= 0) return;
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < end) {
    // spin
  }
}

export const leasingApp = (e: LeaseEnv) => {
  const t = leaseTopics(e.ns);
  return defineApp({
    name: LEASE_APP,
    options: {
      namespace: e.ns,
      guarantee: 'exactly_once',
      latencyTargetMs: 5000,
      defaultPartitions: e.partitions,
      leasing: { slots: e.slots, idleRevokeMs: e.idleRevokeMs },
    },
    ingresses: [{ topic: t.input, to: LEASE_FN }],
    egresses: { adds: { topic: t.adds }, reports: { topic: t.reports } },
    functions: {
      [LEASE_FN]: fn({
        leasable: true,
        critical: (m: LeaseInput) => m.kind === 'report',
        state: { count: state.mergeable(merge.sum()), sum: state.mergeable(merge.sum()) },
        handler(ctx, m: LeaseInput) {
          if (m.kind === 'add') {
            burn(e.burnUs);
            ctx.state.count.merge(1);
            ctx.state.sum.merge(m.v);
            ctx.emit('adds', ctx.key, { seq: m.seq } satisfies AddOutput);
          } else {
            ctx.emit('reports', ctx.key, {
              seq: m.seq,
              key: ctx.key ?? '',
              count: ctx.state.count.get(),
              sum: ctx.state.sum.get(),
            } satisfies ReportOutput);
          }
        },
      }),
    },
  });
};

export default leasingApp(leaseEnv(process.env));
