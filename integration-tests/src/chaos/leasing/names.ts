// Names and settings shared by the leasing chaos app (loaded in the worker processes) and its harness (which
// feeds it, hunts for lessors and lessees to kill, and checks the outcome): the app, its function, its topics,
// the hot and cold keys, the record shapes, and the settings the workers read from their environment.
import { partitionFor } from '@dirigo/core';

/** App and function names: the function's group and changelog are `<ns>.hotkeys.acc[.changelog]`. */
export const LEASE_APP = 'hotkeys';
export const LEASE_FN = 'acc';
/** The scheduling policy the app module registers (policy.ts). */
export const LEASE_POLICY = 'chaos-lease';
/** Hot keys start with this prefix (the policy forwards only their ordinary messages). */
export const HOT_PREFIX = 'hot-';

/** Topics and groups of a run, by namespace. The ingress is created by the harness; the rest by the workers. */
export const leaseTopics = (ns: string) => ({
  control: `${ns}.control`,
  input: `${ns}.lease-in`,
  adds: `${ns}.lease-adds`,
  reports: `${ns}.lease-reports`,
  /** The function's consumer group (over the ingress, which also carries the PARTIAL replies). */
  group: `${ns}.${LEASE_APP}.${LEASE_FN}`,
  changelog: `${ns}.${LEASE_APP}.${LEASE_FN}.changelog`,
  /** The lease slots: the lease topic, its changelog (the lessees' partials) and the lessee group. */
  lease: `${ns}.${LEASE_APP}.__lease`,
  leaseChangelog: `${ns}.${LEASE_APP}.__lease.changelog`,
  lessees: `${ns}.${LEASE_APP}.__lessees`,
  dlq: `${ns}.${LEASE_APP}.dlq`,
});

/** An input record: an ordinary add, or a critical report. */
export type LeaseInput =
  | { readonly seq: number; readonly kind: 'add'; readonly v: number }
  | { readonly seq: number; readonly kind: 'report' };
/** What an add emits to `adds` (wherever it ran: lessor or lessee). */
export interface AddOutput {
  readonly seq: number;
}
/** What a report emits to `reports` (always at the lessor, after every partial is merged). */
export interface ReportOutput {
  readonly seq: number;
  readonly key: string;
  readonly count: number;
  readonly sum: number;
}

/** The settings the app and its policy read from the worker's environment (CHAOS_*). */
export interface LeaseEnv {
  readonly ns: string;
  readonly partitions: number;
  /** Lease slots (partitions of the lease topic). */
  readonly slots: number;
  readonly idleRevokeMs: number;
  /** CPU burnt by each add, in microseconds (a SYNC then waits behind forwarded adds at the lessee). */
  readonly burnUs: number;
}

export function leaseEnv(env: NodeJS.ProcessEnv): LeaseEnv {
  const n = (name: string, fallback: number): number => {
    const v = env[name] === undefined ? fallback : Number(env[name]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: '${env[name]}' is not a number >= 0`);
    return v;
  };
  return {
    ns: env.CHAOS_NS ?? 'chaos',
    partitions: n('CHAOS_PARTITIONS', 6),
    slots: n('CHAOS_SLOTS', 6),
    idleRevokeMs: n('CHAOS_IDLE_REVOKE_MS', 400),
    burnUs: n('CHAOS_BURN_US', 150),
  };
}

/** The environment of the workers for `e` (the inverse of `leaseEnv`). */
export const leaseEnvVars = (e: LeaseEnv): Record<string, string> => ({
  CHAOS_NS: e.ns,
  CHAOS_PARTITIONS: String(e.partitions),
  CHAOS_SLOTS: String(e.slots),
  CHAOS_IDLE_REVOKE_MS: String(e.idleRevokeMs),
  CHAOS_BURN_US: String(e.burnUs),
});

/**
 * `n` hot keys, on as many different partitions as there are (so the hot keys' lessors are spread over the
 * workers): `hot-<i>` for the first i whose partition is not taken yet.
 */
export function hotKeys(n: number, partitions: number): string[] {
  const keys: string[] = [];
  const used = new Set<number>();
  for (let i = 0; keys.length < n && i < 10_000; i++) {
    const key = `${HOT_PREFIX}${i}`;
    const p = partitionFor(Buffer.from(key), partitions);
    if (used.has(p) && used.size < partitions) continue;
    used.add(p);
    keys.push(key);
  }
  return keys;
}

export const coldKey = (i: number): string => `k-${i}`;

/** The settings of the chaos policy (`--policy-options`). */
export interface LeasePolicyOptions {
  /** Seeds the policy's choices (each worker mixes in its pid). */
  readonly seed: number;
  /** Each hot key alternates: forwarding phases of `onMs`, then `offMs` without (its lease goes idle). */
  readonly onMs: number;
  readonly offMs: number;
  /** Probability that an ordinary message of a hot key in a forwarding phase is forwarded. */
  readonly forwardP: number;
  /** Probability that a forward names a peer (so a lease gets more than one lessee); else any lessee. */
  readonly namedP: number;
}

export const DEFAULT_POLICY_OPTIONS: Omit<LeasePolicyOptions, 'seed'> = {
  onMs: 1_500,
  offMs: 1_200,
  forwardP: 0.85,
  namedP: 0.6,
};

/** FNV-1a of a string (stable phases per key, and seeds per worker). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
