// The result of one leasing chaos seed, its pass/fail rule, and its JSON lines: one per seed (everything, for
// people and for the record) and the aggregate over the seeds, whose keys and key order are a contract:
// {"mode":"leasing","sent":N,"lost":0,"duplicated":0,"stateMismatches":0,"criticalMismatches":0,
//  "leasesGranted":G,"leasesRevoked":R,"barriers":B,"kills":K,"pauses":P}
import type { FaultRecord } from './faults.ts';
import type { CounterTotals } from './probe.ts';

export interface LeasingResult {
  readonly seed: number;
  readonly sent: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly stateMismatches: number;
  readonly criticalMismatches: number;
  /** Lease bookkeeping still open after quiescence (see check.ts). */
  readonly leftovers: number;
  readonly deadLettered: number;
  /** Partitions still behind at the deadline (function group over the ingress, lessee group over the slots). */
  readonly stuck: number;
  readonly stuckPartitions: readonly string[];
  /** Leases still held (not revoked and merged) when the wait for quiescence ended. */
  readonly openLeases: readonly string[];
  readonly quiescent: boolean;
  /** Summed over every worker incarnation's last /leases answer. */
  readonly counters: CounterTotals;
  readonly kills: number;
  readonly pauses: number;
  readonly faults: readonly FaultRecord[];
  /** Faults whose target (a lessee, a BLOCKED lessor) was not found in time. */
  readonly missedFaults: readonly string[];
  readonly hotKeys: readonly string[];
  readonly hotShare: number;
  readonly unexpectedExits: readonly string[];
  /** Incarnations that never answered /leases (their counters are missing). */
  readonly silentIncarnations: readonly string[];
  readonly notes: readonly string[];
  readonly elapsedMs: number;
  readonly logDir: string;
}

/** Why a seed failed (empty: passed). */
export function failures(r: LeasingResult): string[] {
  const f: string[] = [];
  for (const k of [
    'lost',
    'duplicated',
    'stateMismatches',
    'criticalMismatches',
    'leftovers',
    'stuck',
  ] as const) {
    if (r[k] > 0) f.push(`${k} ${r[k]}`);
  }
  if (!r.quiescent) f.push('not quiescent');
  if (r.missedFaults.length > 0) f.push(`missed faults: ${r.missedFaults.join(', ')}`);
  if (r.counters.granted === 0) f.push('no lease granted');
  if (r.counters.revoked === 0) f.push('no lease revoked');
  if (r.counters.barriers === 0) f.push('no barrier');
  return f;
}

export const passed = (r: LeasingResult): boolean => failures(r).length === 0;

/** The per-seed JSON line. */
export function leasingSeedLine(r: LeasingResult): string {
  const c = r.counters;
  return JSON.stringify({
    seed: r.seed,
    mode: 'leasing',
    ok: passed(r),
    sent: r.sent,
    lost: r.lost,
    duplicated: r.duplicated,
    stateMismatches: r.stateMismatches,
    criticalMismatches: r.criticalMismatches,
    leftovers: r.leftovers,
    stuck: r.stuck,
    quiescent: r.quiescent,
    leasesGranted: c.granted,
    leasesRevoked: c.revoked,
    barriers: c.barriers,
    kills: r.kills,
    pauses: r.pauses,
    counters: c,
    deadLettered: r.deadLettered,
    faults: r.faults,
    missedFaults: r.missedFaults,
    failures: failures(r),
    hotKeys: r.hotKeys,
    hotShare: Math.round(r.hotShare * 1000) / 1000,
    stuckPartitions: r.stuckPartitions,
    openLeases: r.openLeases.slice(0, 10),
    unexpectedExits: r.unexpectedExits,
    silentIncarnations: r.silentIncarnations,
    notes: r.notes.slice(0, 15),
    logDir: r.logDir,
    elapsedMs: r.elapsedMs,
  });
}

/** The aggregate over seeds (sums), in the contract's key order. */
export function leasingAggregateLine(results: readonly LeasingResult[]): string {
  const sum = (f: (r: LeasingResult) => number) => results.reduce((s, r) => s + f(r), 0);
  return JSON.stringify({
    mode: 'leasing',
    sent: sum((r) => r.sent),
    lost: sum((r) => r.lost),
    duplicated: sum((r) => r.duplicated),
    stateMismatches: sum((r) => r.stateMismatches),
    criticalMismatches: sum((r) => r.criticalMismatches),
    leasesGranted: sum((r) => r.counters.granted),
    leasesRevoked: sum((r) => r.counters.revoked),
    barriers: sum((r) => r.counters.barriers),
    kills: sum((r) => r.kills),
    pauses: sum((r) => r.pauses),
  });
}
