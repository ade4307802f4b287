// The faults of a chaos run, planned up front from the seed and then played against the worker processes:
// - SIGKILLs at random moments during and after the feed, each followed by a restart 0.5-2 s later;
// - freezes (SIGSTOP ... SIGCONT): first one longer than the session timeout, so the worker's partitions move
//   elsewhere and it comes back while they are elsewhere; then a second long freeze of the SAME worker once it
//   has rejoined and been handed partitions back (seen in its log); any further freeze is, at random, short
//   (half the session timeout: the worker keeps its partitions) or long, of another worker;
// - extra workers that join mid-run and leave later with SIGTERM (a graceful stop);
// - with `brokerKills` (a cluster the run started): broker nodes SIGKILLed one at a time at random moments and
//   started again 1-4 s later (the group and transaction coordinators, partition leaders and the KRaft
//   controller they held move to the other nodes, and back).
import type { KafkaCluster } from '@dirigo/local-kafka';
import type { EventLog } from './events.ts';
import type { WorkerProcs } from './procs.ts';

export interface FaultSettings {
  readonly workers: number;
  readonly kills: number;
  readonly pauses: number;
  readonly joinLeave: number;
  readonly feedMs: number;
  readonly sessionTimeoutMs: number;
  readonly brokerKills?: number;
  /** The ids of the nodes broker kills pick from. */
  readonly brokerNodes?: readonly number[];
}

export interface KillFault {
  readonly at: number;
  readonly worker: number;
  readonly restartAfterMs: number;
}
export interface PauseFault {
  readonly kind: 'evict' | 'evict-after-handback' | 'short' | 'long';
  readonly worker: number;
  /** When it starts, ms after the faults begin (the handback freeze: ms after the handback was seen). */
  readonly at: number;
  readonly ms: number;
}
export interface JoinLeaveFault {
  readonly worker: number;
  readonly at: number;
  readonly stayMs: number;
}
export interface BrokerKillFault {
  readonly at: number;
  readonly node: number;
  readonly downMs: number;
}
export interface FaultPlan {
  readonly kills: readonly KillFault[];
  readonly pauses: readonly PauseFault[];
  readonly joins: readonly JoinLeaveFault[];
  readonly brokerKills: readonly BrokerKillFault[];
}

/** Draws every fault from `random` (only), so a seed gives the same plan. */
export function planFaults(s: FaultSettings, random: () => number): FaultPlan {
  const window = s.feedMs + 5_000;
  const long = s.sessionTimeoutMs + 4_000;
  const frozen = Math.floor(random() * s.workers);
  const others = [...Array(s.workers).keys()].filter((w) => w !== frozen || s.workers === 1);
  const pick = () => others[Math.floor(random() * others.length)]!;
  const pauses: PauseFault[] = [];
  if (s.pauses >= 1)
    pauses.push({ kind: 'evict', worker: frozen, at: 1_500 + random() * (s.feedMs / 2), ms: long });
  if (s.pauses >= 2) {
    pauses.push({ kind: 'evict-after-handback', worker: frozen, at: 300 + random() * 1_700, ms: long });
  }
  for (let i = 2; i < s.pauses; i++) {
    const at = 1_000 + random() * window;
    const worker = pick();
    const short = random() < 0.5;
    pauses.push({ kind: short ? 'short' : 'long', worker, at, ms: short ? s.sessionTimeoutMs / 2 : long });
  }
  const kills: KillFault[] = [];
  for (let i = 0; i < s.kills; i++) {
    kills.push({ at: 2_000 + random() * window, worker: pick(), restartAfterMs: 500 + random() * 1_500 });
  }
  kills.sort((a, b) => a.at - b.at);
  const joins: JoinLeaveFault[] = [];
  for (let i = 0; i < s.joinLeave; i++) {
    joins.push({
      worker: s.workers + i,
      at: 1_000 + random() * s.feedMs * 0.6,
      stayMs: 8_000 + random() * 8_000,
    });
  }
  // Drawn last, so a seed without broker kills keeps the plan it always had.
  const brokerKills: BrokerKillFault[] = [];
  const nodes = s.brokerNodes ?? [];
  for (let i = 0; i < (s.brokerKills ?? 0) && nodes.length > 0; i++) {
    brokerKills.push({
      at: 2_000 + random() * window,
      node: nodes[Math.floor(random() * nodes.length)]!,
      downMs: 1_000 + random() * 3_000,
    });
  }
  brokerKills.sort((a, b) => a.at - b.at);
  return { kills, pauses, joins, brokerKills };
}

export interface FaultCounts {
  kills: number;
  pauses: number;
  brokerKills: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays the plan, its times counted from now (the harness calls it when the feed starts); resolves when every
 * fault is over (frozen workers resumed, killed ones restarted, joined ones gone).
 */
export async function runFaults(
  plan: FaultPlan,
  s: FaultSettings,
  procs: WorkerProcs,
  events: EventLog,
  cluster?: KafkaCluster,
): Promise<FaultCounts> {
  const t0 = Date.now();
  const until = (at: number) => sleep(Math.max(0, t0 + at - Date.now()));
  const counts: FaultCounts = { kills: 0, pauses: 0, brokerKills: 0 };

  /** SIGSTOP worker `w` for `ms`, then SIGCONT the same process. False when it was not running. */
  const freeze = async (p: PauseFault, w: number): Promise<boolean> => {
    let proc = procs.current(w);
    for (let i = 0; proc === undefined && i < 50; i++) {
      await sleep(200); // being restarted after a kill
      proc = procs.current(w);
    }
    if (proc === undefined) {
      events.warn('freeze skipped: worker not running', { worker: w, kind: p.kind });
      return false;
    }
    events.info('SIGSTOP', { worker: w, kind: p.kind, ms: Math.round(p.ms), pid: proc.pid });
    proc.kill('SIGSTOP');
    counts.pauses++;
    await sleep(p.ms);
    proc.kill('SIGCONT');
    events.info('SIGCONT', { worker: w, kind: p.kind, pid: proc.pid });
    return true;
  };

  const killTimeline = async () => {
    for (const k of plan.kills) {
      await until(k.at);
      events.info('SIGKILL', { worker: k.worker, pid: procs.current(k.worker)?.pid });
      if (await procs.kill(k.worker)) counts.kills++;
      else events.warn('SIGKILL skipped: worker not running', { worker: k.worker });
      await sleep(k.restartAfterMs);
      const p = procs.start(k.worker);
      events.info('restarted', { worker: k.worker, pid: p.pid });
    }
  };

  const freezeSequence = async () => {
    const [evict, again] = plan.pauses;
    if (evict === undefined) return;
    await until(evict.at);
    await freeze(evict, evict.worker);
    if (again === undefined) return;
    // Wait until the resumed worker has rejoined and been handed partitions back, then freeze it again.
    const from = procs.logSize(again.worker);
    const handedBack = await procs.waitForLog(
      again.worker,
      from,
      (l) => l.msg === 'partitions assigned' && Array.isArray(l.partitions) && l.partitions.length > 0,
      30_000 + s.sessionTimeoutMs,
    );
    if (handedBack) events.info('partitions handed back', { worker: again.worker });
    else events.warn('no partitions handed back in time; freezing again anyway', { worker: again.worker });
    await sleep(again.at);
    await freeze(again, again.worker);
  };

  const otherFreezes = plan.pauses.slice(2).map(async (p) => {
    await until(p.at);
    await freeze(p, p.worker);
  });

  const joinLeave = plan.joins.map(async (j) => {
    await until(j.at);
    const p = procs.start(j.worker);
    events.info('joined', { worker: j.worker, pid: p.pid });
    await sleep(j.stayMs);
    events.info('SIGTERM (leaving)', { worker: j.worker, pid: p.pid });
    const how = await procs.end(p, 'SIGTERM', 60_000);
    if (how === 'exited') events.info('left', { worker: j.worker, exitCode: p.exitCode });
    else events.warn('did not stop within 60 s of SIGTERM; killed', { worker: j.worker });
  });

  // One node down at a time (min.insync.replicas 2 of 3): a kill due while one is down waits for its restart.
  const brokerTimeline = async () => {
    if (plan.brokerKills.length > 0 && cluster === undefined)
      throw new Error('broker kills need a cluster the run started');
    for (const k of plan.brokerKills) {
      await until(k.at);
      events.info('broker SIGKILL', { node: k.node });
      await cluster!.stopNode(k.node, 'SIGKILL');
      counts.brokerKills++;
      await sleep(k.downMs);
      const started = Date.now();
      await cluster!.startNode(k.node);
      events.info('broker restarted', { node: k.node, startMs: Date.now() - started });
    }
  };

  await Promise.all([killTimeline(), freezeSequence(), ...otherFreezes, ...joinLeave, brokerTimeline()]);
  return counts;
}
