// The faults of a leasing chaos run, aimed at the roles of leasing rather than at random workers. The plan
// (which kinds, in which order, the gaps, the restart delays, when the freeze starts) is drawn from the seed;
// the targets are found at run time through the workers' `GET /leases` (probe.ts):
// - SIGKILL of a LESSEE: a worker that owns a lease slot of an active lease (the lessors' leases name their
//   slots; each worker names the slots it owns);
// - SIGKILL of a LESSOR WHILE BLOCKED: every worker is polled every 25 ms until one answers with a lease in
//   mode BLOCKED (a SYNC round is out, the key's messages wait durably); that worker is killed at once, either
//   at first sight (the step that blocked the key has usually not committed yet) or once the key has been seen
//   BLOCKED for 150 ms (usually committed: the successor restores the key BLOCKED), alternately; the run reads
//   back from the changelog which it was (`committedAtKill`);
// - optionally SIGKILLs of any worker;
// - SIGSTOP past the session timeout (its partitions and slots move, it is fenced when it resumes), then SIGCONT,
//   of a worker with the drawn role (lessee or lessor) if one is found within a few seconds, else of any.
// Killed workers are restarted 0.5-2 s later. Each fault is recorded with the role(s) the worker had at that
// moment, the lease that made it the target, and whether it held a BLOCKED lease at its last answer.
import type { EventLog } from '../events.ts';
import type { WorkerProcs } from '../procs.ts';
import type { Incarnation, LeaseProbe, LeasesSnapshot, Observed } from './probe.ts';

export interface LeasingFaultSettings {
  readonly workers: number;
  /** SIGKILLs of a lessee, of a BLOCKED lessor, and of any worker. */
  readonly lesseeKills: number;
  readonly blockedKills: number;
  readonly randomKills: number;
  readonly pauses: number;
  readonly feedMs: number;
  readonly sessionTimeoutMs: number;
  /** How long a hunt looks for its target before the fault is recorded as missed. */
  readonly huntMs: number;
}

export type KillTarget = 'lessee' | 'blocked-lessor' | 'any';
export interface LeaseKillFault {
  readonly target: KillTarget;
  /**
   * Blocked-lessor kills: how long the key must have been seen BLOCKED (same key and epoch, consecutive answers)
   * before the kill. 0: at first sight, usually before the step that blocked it has committed (the successor
   * re-runs it); longer: usually after (the successor restores the key BLOCKED, with its waiting messages).
   */
  readonly blockedForMs: number;
  /** When its hunt starts, ms after the faults began (or when the previous kill is over, if later). */
  readonly at: number;
  readonly restartAfterMs: number;
}
export interface LeasePauseFault {
  readonly target: 'lessee' | 'lessor';
  /** When the hunt for its target starts, ms after the faults began. */
  readonly at: number;
  readonly ms: number;
}
export interface LeasingFaultPlan {
  readonly kills: readonly LeaseKillFault[];
  readonly pauses: readonly LeasePauseFault[];
}

/** How long a key must have been seen BLOCKED for a "durable" blocked-lessor kill. */
const DURABLE_BLOCKED_MS = 150;

/** Draws the plan from `random` only, so a seed gives the same plan. */
export function planLeasingFaults(s: LeasingFaultSettings, random: () => number): LeasingFaultPlan {
  const targets: KillTarget[] = [
    ...Array<KillTarget>(s.lesseeKills).fill('lessee'),
    ...Array<KillTarget>(s.blockedKills).fill('blocked-lessor'),
    ...Array<KillTarget>(s.randomKills).fill('any'),
  ];
  for (let i = targets.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [targets[i], targets[j]] = [targets[j]!, targets[i]!];
  }
  // Spread over the feed (after a first stretch in which leases start), one slice each.
  const slice = (s.feedMs * 0.7) / Math.max(1, targets.length);
  let blocked = 0;
  const kills = targets.map(
    (target, i): LeaseKillFault => ({
      target,
      // Alternately durable (seen BLOCKED for a while) and at first sight, the durable one first.
      blockedForMs: target === 'blocked-lessor' && blocked++ % 2 === 0 ? DURABLE_BLOCKED_MS : 0,
      at: 2_000 + s.feedMs * 0.05 + i * slice + random() * slice * 0.6,
      restartAfterMs: 500 + random() * 1_500,
    }),
  );
  const pauses: LeasePauseFault[] = [];
  for (let i = 0; i < s.pauses; i++) {
    const slice = (s.feedMs * 0.5) / s.pauses;
    pauses.push({
      target: random() < 0.5 ? 'lessee' : 'lessor',
      at: s.feedMs * 0.2 + i * slice + random() * slice,
      ms: s.sessionTimeoutMs + 4_000,
    });
  }
  return { kills, pauses };
}

/** The lease that made a worker a target. */
export interface TargetLease {
  readonly key: string;
  readonly lessor: number;
  /** The key's partition (of the ingress and the function's changelog). */
  readonly partition: number;
  readonly epoch: number;
  readonly slots: readonly number[];
  readonly mode: string;
  readonly waiting: number;
  /** The slot whose owner was the target (lessee kills). */
  readonly slot?: number;
}

/** What one fault did. */
export interface FaultRecord {
  readonly signal: 'SIGKILL' | 'SIGSTOP';
  readonly target: KillTarget | 'lessee' | 'lessor';
  readonly worker: number;
  readonly pid: number;
  /** ms since the run began, and the wall clock (ms since the epoch). */
  readonly at: number;
  readonly wallMs: number;
  /** What the worker was at that moment, by the last /leases answers: lessor of active leases, lessee. */
  readonly roles: readonly ('lessor' | 'lessee')[];
  /** It held a lease in mode BLOCKED in its last answer before the signal. */
  readonly blocked: boolean;
  /** How old that answer was when the signal went (ms). */
  readonly answerAgeMs: number;
  readonly lease?: TargetLease;
  /** Blocked-lessor kills: how long the key had been seen BLOCKED when it was killed. */
  readonly blockedForMs?: number;
  readonly restartAfterMs?: number;
  readonly ms?: number;
  /**
   * For a kill of a BLOCKED lessor: the key's lease record as last committed before the kill (read back from
   * the function's changelog after the run; null: none). BLOCKED there means the successor restored the key
   * BLOCKED, with its waiting messages; otherwise the BLOCKED step died uncommitted and is re-run.
   */
  committedAtKill?: { readonly mode: string; readonly epoch: number; readonly waiting: number } | null;
}

export interface LeasingFaultOutcome {
  kills: number;
  pauses: number;
  readonly records: FaultRecord[];
  /** Faults whose target was not found in time (by kind). */
  readonly missed: string[];
}

export interface FaultDeps {
  readonly procs: WorkerProcs;
  readonly probe: LeaseProbe;
  readonly events: EventLog;
  readonly random: () => number;
  /** (Re)starts worker `w` with a fresh metrics port, registering its incarnation with the probe. */
  readonly restart: (w: number) => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const active = (l: LeasesSnapshot['leases'][number]) => l.slots.length > 0 || l.waiting > 0;

/** Plays the plan from now; resolves when every fault is over (killed workers restarted, frozen ones resumed). */
export async function runLeasingFaults(
  plan: LeasingFaultPlan,
  s: LeasingFaultSettings,
  d: FaultDeps,
): Promise<LeasingFaultOutcome> {
  const { procs, probe, events, random } = d;
  const t0 = Date.now();
  const outcome: LeasingFaultOutcome = { kills: 0, pauses: 0, records: [], missed: [] };
  /** Workers frozen or being killed and restarted: no other fault touches them meanwhile. */
  const busy = new Set<number>();

  /** The latest incarnation of `w`, when it is running as that incarnation and no other fault holds it. */
  const eligible = (w: number): Incarnation | undefined => {
    if (busy.has(w)) return undefined;
    const p = procs.current(w);
    const inc = probe.current().find((i) => i.worker === w);
    return p !== undefined && inc !== undefined && inc.pid === p.pid ? inc : undefined;
  };
  const eligibleWorkers = () => [...Array(s.workers).keys()].filter((w) => eligible(w) !== undefined);

  /** Roles of `w` in the answers `obs` (fresh, of every worker that answered). */
  const rolesOf = (w: number, obs: readonly Observed[]) => {
    const mine = obs.find((o) => o.inc.worker === w);
    const roles: ('lessor' | 'lessee')[] = [];
    if (mine?.snapshot.leases.some(active)) roles.push('lessor');
    const owned = new Set(mine === undefined ? [] : probe.ownedSlots(mine.snapshot));
    const leasedSlots = obs
      .filter((o) => o.inc.worker !== w)
      .flatMap((o) => o.snapshot.leases.flatMap((l) => l.slots));
    if (leasedSlots.some((slot) => owned.has(slot))) roles.push('lessee');
    const blocked = mine?.snapshot.leases.some((l) => l.mode === 'BLOCKED') ?? false;
    return { roles, blocked, at: mine?.at ?? 0 };
  };

  /** The last answer of every worker's latest incarnation (no new poll). */
  const lastObserved = (): Observed[] =>
    probe
      .current()
      .flatMap((inc) => (inc.last === undefined ? [] : [{ inc, at: inc.lastAt, snapshot: inc.last }]));

  const leaseOf = (lessor: number, l: LeasesSnapshot['leases'][number], slot?: number): TargetLease => ({
    key: l.key,
    lessor,
    partition: l.partition,
    epoch: l.epoch,
    slots: l.slots,
    mode: l.mode,
    waiting: l.waiting,
    ...(slot === undefined ? {} : { slot }),
  });

  /** Polls until some eligible worker owns a slot of another worker's active lease. */
  const findLessee = async (deadline: number) => {
    while (Date.now() < deadline) {
      const obs = await probe.pollAll(400, eligibleWorkers());
      const owner = new Map<number, number>();
      for (const o of obs) for (const slot of probe.ownedSlots(o.snapshot)) owner.set(slot, o.inc.worker);
      const found: { worker: number; lease: TargetLease }[] = [];
      for (const o of obs) {
        for (const l of o.snapshot.leases) {
          if (l.slots.length === 0) continue;
          for (const slot of l.slots) {
            const w = owner.get(slot);
            if (w !== undefined && w !== o.inc.worker && eligible(w) !== undefined) {
              found.push({ worker: w, lease: leaseOf(o.inc.worker, l, slot) });
            }
          }
        }
      }
      if (found.length > 0) return { ...found[Math.floor(random() * found.length)]!, obs };
      await sleep(100);
    }
    return undefined;
  };

  /**
   * Polls every eligible worker every 25 ms; resolves at the first answer holding a lease that has been BLOCKED
   * (same key and epoch, in consecutive answers) for at least `minMs`.
   */
  const findBlocked = (deadline: number, minMs: number) =>
    new Promise<{ worker: number; lease: TargetLease; answeredAt: number; blockedForMs: number } | undefined>(
      (resolve) => {
        let done = false;
        const loops = [...Array(s.workers).keys()].map(async (w) => {
          const since = new Map<string, number>();
          while (!done && Date.now() < deadline) {
            const inc = eligible(w);
            if (inc === undefined) {
              since.clear();
              await sleep(100);
              continue;
            }
            const snap = await probe.poll(inc, 250);
            if (done) return;
            const now = Date.now();
            const seen = new Map<string, LeasesSnapshot['leases'][number]>();
            for (const l of snap?.leases ?? []) if (l.mode === 'BLOCKED') seen.set(`${l.key}@${l.epoch}`, l);
            for (const id of since.keys()) if (!seen.has(id)) since.delete(id);
            for (const [id, l] of seen) {
              const first = since.get(id) ?? now;
              since.set(id, first);
              if (now - first >= minMs && eligible(w) === inc) {
                done = true;
                resolve({ worker: w, lease: leaseOf(w, l), answeredAt: now, blockedForMs: now - first });
                return;
              }
            }
            await sleep(25);
          }
        });
        void Promise.all(loops).then(() => resolve(undefined));
      },
    );

  const kill = async (
    k: LeaseKillFault,
    w: number,
    lease: TargetLease | undefined,
    roles: ReturnType<typeof rolesOf>,
    blocked: boolean,
    blockedForMs?: number,
  ) => {
    const p = procs.current(w);
    if (p === undefined) {
      outcome.missed.push(k.target);
      events.warn('SIGKILL skipped: the target is not running any more', { worker: w, target: k.target });
      return false;
    }
    busy.add(w);
    const answerAgeMs = roles.at === 0 ? -1 : Date.now() - roles.at;
    const killed = procs.kill(w); // the signal goes synchronously, before the first await
    const record: FaultRecord = {
      signal: 'SIGKILL',
      target: k.target,
      worker: w,
      pid: p.pid ?? -1,
      at: events.elapsed(),
      wallMs: Date.now(),
      roles: roles.roles,
      blocked,
      answerAgeMs,
      ...(lease === undefined ? {} : { lease }),
      ...(blockedForMs === undefined ? {} : { blockedForMs }),
      restartAfterMs: Math.round(k.restartAfterMs),
    };
    await killed;
    outcome.kills++;
    outcome.records.push(record);
    events.info('SIGKILL', { ...record });
    await sleep(k.restartAfterMs);
    await d.restart(w);
    busy.delete(w);
    return true;
  };

  const killTimeline = async () => {
    for (const k of plan.kills) {
      await sleep(Math.max(0, t0 + k.at - Date.now()));
      const deadline = Date.now() + s.huntMs;
      events.info('hunting', { target: k.target });
      if (k.target === 'blocked-lessor') {
        // A durable kill falls back to one at first sight for the second half of the hunt, or of what is left of
        // the feed if less (keys are BLOCKED only while reports arrive: a hunt pushed late by a freeze missed its
        // fault in CI, durable until the feed had ended).
        const feedLeft = t0 + s.feedMs - Date.now();
        const half = Date.now() + Math.max(0, Math.min(s.huntMs, feedLeft) / 2);
        const found =
          (k.blockedForMs > 0 ? await findBlocked(half, k.blockedForMs) : undefined) ??
          (await findBlocked(deadline, 0));
        if (found === undefined) {
          outcome.missed.push('blocked-lessor');
          events.warn('no BLOCKED lessor found in time', { huntMs: s.huntMs });
          continue;
        }
        // Its roles by the latest answers of every worker; BLOCKED by the answer that chose it.
        const roles = rolesOf(found.worker, lastObserved());
        await kill(
          k,
          found.worker,
          found.lease,
          { ...roles, at: found.answeredAt },
          true,
          found.blockedForMs,
        );
        continue;
      }
      if (k.target === 'lessee') {
        const found = await findLessee(deadline);
        if (found === undefined) {
          outcome.missed.push('lessee');
          events.warn('no lessee of an active lease found in time', { huntMs: s.huntMs });
          continue;
        }
        const roles = rolesOf(found.worker, found.obs);
        await kill(k, found.worker, found.lease, roles, roles.blocked);
        continue;
      }
      const ws = eligibleWorkers();
      if (ws.length === 0) {
        outcome.missed.push('any');
        continue;
      }
      const obs = await probe.pollAll(400, ws);
      const w = ws[Math.floor(random() * ws.length)]!;
      const roles = rolesOf(w, obs);
      await kill(k, w, undefined, roles, roles.blocked);
    }
  };

  const freeze = async (p: LeasePauseFault) => {
    await sleep(Math.max(0, t0 + p.at - Date.now()));
    let w: number | undefined;
    let lease: TargetLease | undefined;
    let obs: Observed[] = [];
    const deadline = Date.now() + 10_000;
    if (p.target === 'lessee') {
      const found = await findLessee(deadline);
      if (found !== undefined) ({ worker: w, lease, obs } = found);
    } else {
      while (w === undefined && Date.now() < deadline) {
        obs = await probe.pollAll(400, eligibleWorkers());
        const lessors = obs.filter((o) => o.snapshot.leases.some(active));
        if (lessors.length > 0) {
          const o = lessors[Math.floor(random() * lessors.length)]!;
          w = o.inc.worker;
          lease = leaseOf(w, o.snapshot.leases.find(active)!);
        } else await sleep(100);
      }
    }
    if (w === undefined || eligible(w) === undefined) {
      events.warn('no worker with the wanted role to freeze; freezing any', { target: p.target });
      const ws = eligibleWorkers();
      if (ws.length === 0) {
        outcome.missed.push(`pause-${p.target}`);
        return;
      }
      obs = await probe.pollAll(400, ws);
      w = ws[Math.floor(random() * ws.length)]!;
      lease = undefined;
    }
    const proc = procs.current(w)!;
    busy.add(w);
    const roles = rolesOf(w, obs);
    proc.kill('SIGSTOP');
    const record: FaultRecord = {
      signal: 'SIGSTOP',
      target: p.target,
      worker: w,
      pid: proc.pid ?? -1,
      at: events.elapsed(),
      wallMs: Date.now(),
      roles: roles.roles,
      blocked: roles.blocked,
      answerAgeMs: roles.at === 0 ? -1 : Date.now() - roles.at,
      ...(lease === undefined ? {} : { lease }),
      ms: Math.round(p.ms),
    };
    outcome.pauses++;
    outcome.records.push(record);
    events.info('SIGSTOP', { ...record });
    await sleep(p.ms);
    proc.kill('SIGCONT');
    events.info('SIGCONT', { worker: w, pid: proc.pid });
    busy.delete(w);
  };

  await Promise.all([killTimeline(), ...plan.pauses.map(freeze)]);
  return outcome;
}
