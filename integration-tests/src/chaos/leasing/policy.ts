// The scheduling policy of the leasing chaos run, `chaos-lease`, registered by the app module (app.ts) when a
// worker imports it and chosen with `dirigo worker --policy chaos-lease --policy-options '{"seed":..}'`.
//
// Why a policy of its own rather than the built-in `dirigo`: `dirigo` forwards only when a message would miss
// its deadline, so how many leases are granted and revoked depends on how loaded this (shared, 2-core) machine
// is at that moment; a run could end with no lease at all, or with leases that never go idle. The chaos run
// needs many grants, barriers and revokes whatever the load, so the decision is made on purpose:
// - arrival: only ordinary messages of hot keys (`hot-*`) are ever forwarded. Each hot key alternates between
//   a forwarding phase (`onMs`) and a quiet one (`offMs`, longer than the app's `idleRevokeMs`), with a phase
//   offset per key: in a forwarding phase a message is forwarded with probability `forwardP` (the others run at
//   the lessor, so the merged value mixes local and leased adds), naming a random peer that owns lease slots
//   with probability `namedP` (a lease then gets a second lessee) or any lessee otherwise; in a quiet phase
//   nothing is forwarded, so the lease goes idle, is revoked and its partials are merged back. Reports are
//   critical: they bypass the hook and make a barrier (a SYNC round when lessees hold partials).
// - dispatch: FIFO across all queues (oldest enqueuedAt first). Starvation bound: that of `fifo`.
// Choices come from a PRNG seeded with the run's seed and the worker's pid (timing makes them differ between
// runs anyway; the seed fixes the records and the fault plan, not the interleaving).
import { createPolicy, type PolicyOptions, type SchedulingPolicy } from '@dirigo/runtime';
import { seeded } from '../run-chaos-lib.ts';
import { DEFAULT_POLICY_OPTIONS, HOT_PREFIX, hash32, LEASE_POLICY } from './names.ts';

function num(options: PolicyOptions, name: string, fallback: number, max = Number.POSITIVE_INFINITY): number {
  const v = options[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
    throw new Error(`scheduler.options.${name}: expected a number from 0 to ${max}, got ${String(v)}`);
  }
  return v;
}

export function chaosLeasePolicy(options: PolicyOptions): SchedulingPolicy {
  const seed = num(options, 'seed', 1);
  const onMs = num(options, 'onMs', DEFAULT_POLICY_OPTIONS.onMs);
  const offMs = num(options, 'offMs', DEFAULT_POLICY_OPTIONS.offMs);
  const forwardP = num(options, 'forwardP', DEFAULT_POLICY_OPTIONS.forwardP, 1);
  const namedP = num(options, 'namedP', DEFAULT_POLICY_OPTIONS.namedP, 1);
  const cycle = Math.max(1, onMs + offMs);
  const random = seeded(hash32(`${seed}/${process.pid}`));
  const fifo = createPolicy('fifo');
  const phases = new Map<string, number>();
  const phase = (key: string): number => {
    let p = phases.get(key);
    if (p === undefined) {
      p = hash32(`${seed}/${key}`) % cycle;
      phases.set(key, p);
    }
    return p;
  };
  return {
    name: LEASE_POLICY,
    onArrival(msg, view) {
      if (msg.leasable !== true || !msg.key.startsWith(HOT_PREFIX)) return 'admit';
      if ((view.now + phase(msg.key)) % cycle >= onMs) return 'admit';
      if (random() >= forwardP) return 'admit';
      if (random() < namedP) {
        const peers = view.peers.filter((p) => (p.slots?.[msg.app]?.length ?? 0) > 0);
        if (peers.length > 0) {
          return { forward: peers[Math.floor(random() * peers.length)]!.id, fallback: 'admit' };
        }
      }
      return { forward: '', fallback: 'admit' };
    },
    pickNext: (view) => fifo.pickNext(view),
  };
}
