// Helpers of the chaos command that the test reuses: the seeded PRNG, the result of one seed, the pass/fail
// rule per guarantee, and the JSON lines (per seed, and the aggregate whose key order is a contract).
import { seededRandom } from '@dirigo/testkit';
import type { ShapeName } from './names.ts';

/** A small deterministic PRNG (mulberry32) so a seed reproduces the records and the fault schedule. */
export const seeded = seededRandom;

export type Mode = 'exactly_once' | 'at_least_once';

/** The counts the pass/fail rule and the JSON contract are about. */
export interface ChaosCounts {
  sent: number;
  lost: number;
  duplicated: number;
  stateMismatches: number;
  stuck: number;
  timerMismatches: number;
  kills: number;
  pauses: number;
}

export interface ShapeCounts {
  readonly lost: number;
  readonly duplicated: number;
  readonly stateMismatches: number;
  readonly timerMismatches: number;
}

/** One seed's run. */
export interface ChaosResult extends ChaosCounts {
  readonly seed: number;
  readonly mode: Mode;
  readonly shapes: readonly ShapeName[];
  /** The failure counts of each shape. */
  readonly byShape: Partial<Record<ShapeName, ShapeCounts>>;
  /** Partitions still behind at the deadline, by name (topic/partition, group, committed offset, remaining). */
  readonly stuckPartitions: readonly string[];
  /** Timers whose output never appeared by the deadline. */
  readonly pendingTimers: readonly string[];
  /** Workers that exited without being asked to. */
  readonly unexpectedExits: readonly string[];
  /** A few examples of each failure. */
  readonly notes: readonly string[];
  readonly elapsedMs: number;
  readonly logDir: string;
  /** Broker nodes SIGKILLed (`--broker-kills`). */
  readonly brokerKills: number;
}

/**
 * Exactly-once passes with all failure counts 0. At-least-once allows duplicates (its state checks already
 * accept counts above the tracker's, and its timer check accepts extra closes).
 */
export function passed(r: ChaosCounts & { readonly mode: Mode }): boolean {
  const base = r.lost === 0 && r.stateMismatches === 0 && r.stuck === 0 && r.timerMismatches === 0;
  return base && (r.mode !== 'exactly_once' || r.duplicated === 0);
}

/** The per-seed JSON line: the counts, the seed, and the names of what was stuck. */
export function seedLine(r: ChaosResult): string {
  return JSON.stringify({
    seed: r.seed,
    mode: r.mode,
    sent: r.sent,
    lost: r.lost,
    duplicated: r.duplicated,
    stateMismatches: r.stateMismatches,
    stuck: r.stuck,
    timerMismatches: r.timerMismatches,
    kills: r.kills,
    pauses: r.pauses,
    brokerKills: r.brokerKills,
    ok: passed(r),
    byShape: r.byShape,
    stuckPartitions: r.stuckPartitions,
    pendingTimers: r.pendingTimers.slice(0, 20),
    unexpectedExits: r.unexpectedExits,
    notes: r.notes.slice(0, 15),
    logDir: r.logDir,
    elapsedMs: r.elapsedMs,
  });
}

/** The aggregate over seeds (sums), in the contract's key order. */
export function aggregateLine(
  mode: Mode,
  shapes: readonly ShapeName[],
  results: readonly ChaosResult[],
): string {
  const sum = (k: keyof ChaosCounts) => results.reduce((s, r) => s + r[k], 0);
  return JSON.stringify({
    mode,
    sent: sum('sent'),
    lost: sum('lost'),
    duplicated: sum('duplicated'),
    stateMismatches: sum('stateMismatches'),
    stuck: sum('stuck'),
    timerMismatches: sum('timerMismatches'),
    kills: sum('kills'),
    pauses: sum('pauses'),
    shapes,
    seeds: results.map((r) => r.seed),
    // Only in runs with --broker-kills (the line of the other runs keeps its keys).
    ...(results.some((r) => r.brokerKills > 0)
      ? { brokerKills: results.reduce((s, r) => s + r.brokerKills, 0) }
      : {}),
  });
}
