// What the chaos tests compare: a run's failure counts, the faults it made, and where to look when it failed
// (stuck partitions, notes, the workers' logs), against a clean run of the same size.
import type { ChaosResult } from './run-chaos-lib.ts';

type Faults = Pick<ChaosResult, 'kills' | 'pauses' | 'brokerKills'>;

/** The run's verdict: the seed, records sent, every failure count, the faults made, and the evidence. */
export function verdict(seed: number, r: ChaosResult) {
  return {
    seed,
    sent: r.sent,
    lost: r.lost,
    duplicated: r.duplicated,
    stateMismatches: r.stateMismatches,
    stuck: r.stuck,
    timerMismatches: r.timerMismatches,
    kills: r.kills,
    pauses: r.pauses,
    brokerKills: r.brokerKills,
    stuckPartitions: r.stuckPartitions,
    notes: r.notes,
    logDir: r.logDir,
  };
}

/** The verdict of a clean run of `sent` records with these faults (`r` gives only where its logs are). */
export function cleanVerdict(
  seed: number,
  r: ChaosResult,
  expected: { readonly sent: number } & Partial<Faults>,
): ReturnType<typeof verdict> {
  return {
    seed,
    sent: expected.sent,
    lost: 0,
    duplicated: 0,
    stateMismatches: 0,
    stuck: 0,
    timerMismatches: 0,
    kills: expected.kills ?? 0,
    pauses: expected.pauses ?? 0,
    brokerKills: expected.brokerKills ?? 0,
    stuckPartitions: [],
    notes: [],
    logDir: r.logDir,
  };
}
