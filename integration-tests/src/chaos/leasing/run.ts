// One leasing chaos run (one seed): the `hotkeys` app (app.ts: one leasable function, the `chaos-lease`
// policy) on N `dirigo worker` processes started at once on a fresh namespace and control topic, each with its
// own metrics port (polled for /leases); once every worker owns lease slots, the feeder sends a hot-key
// workload with interleaved reports (workload.ts) while faults aimed at lessees and BLOCKED lessors are played
// (faults.ts); the feed ends with one report per key. Then a bounded wait for quiescence: every group caught up
// (the function's over the ingress, which also carries the PARTIAL replies, and the lessees' over the lease
// slots) AND no lease left on any worker (all revoked and merged), twice in a row. Then the checks (check.ts).
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger, OutgoingRecord, Transport } from '@dirigo/core';
import type { LeasingFaults } from '@dirigo/runtime';
import type { Draft } from '../checks/shape.ts';
import { EventLog } from '../events.ts';
import { type ExactlyOnceChoice, repoRoot, WorkerProcs } from '../procs.ts';
import { type Behind, describeBehind, findBehind } from '../progress.ts';
import { seeded } from '../run-chaos-lib.ts';
import { committedLeaseAt, verifyLeasing } from './check.ts';
import { type LeasingFaultOutcome, planLeasingFaults, runLeasingFaults } from './faults.ts';
import {
  DEFAULT_POLICY_OPTIONS,
  LEASE_APP,
  LEASE_POLICY,
  type LeaseEnv,
  type LeasePolicyOptions,
  leaseEnvVars,
  leaseTopics,
} from './names.ts';
import { LeaseProbe } from './probe.ts';
import type { LeasingResult } from './result.ts';
import { LeaseTracker } from './workload.ts';
import type { GroupProtocol } from '@dirigo/platformatic';

export interface LeasingOptions {
  readonly transport: Transport;
  readonly brokers: string;
  readonly seed: number;
  /** Records of the main feed (the final reports, one per key, come on top). */
  readonly records: number;
  readonly workers: number;
  readonly lesseeKills: number;
  readonly blockedKills: number;
  readonly randomKills: number;
  readonly pauses: number;
  readonly partitions: number;
  /** Lease slots (at least the number of workers, so every worker can be a lessee). */
  readonly slots: number;
  readonly hotKeys: number;
  readonly coldKeys: number;
  readonly idleRevokeMs: number;
  /** CPU an add burns, in microseconds. */
  readonly burnUs: number;
  /** How long the main feed takes (ms). */
  readonly feedMs: number;
  readonly sessionTimeoutMs: number;
  /** How long a hunt for a lessee or a BLOCKED lessor may take. */
  readonly huntMs: number;
  /** Bound of the wait for quiescence, after the feed and the faults. */
  readonly timeoutMs: number;
  readonly policy?: Partial<Omit<LeasePolicyOptions, 'seed'>>;
  /**
   * Only for checking the checks: run the workers with these runtime test-only leasing faults on (through
   * faulty-worker.ts instead of `dirigo worker`); the run must then fail.
   */
  readonly breakWith?: LeasingFaults;
  readonly logger: Logger;
  readonly keepTopics?: boolean;
  /** The workers' consumer group protocol (see `WorkerProcsOptions.groupProtocol`). */
  readonly groupProtocol?: GroupProtocol;
  /** The workers' exactly-once protocol (see `WorkerProcsOptions.exactlyOnce`). */
  readonly exactlyOnce?: ExactlyOnceChoice;
}

const here = dirname(fileURLToPath(import.meta.url));
const STARTUP_TIMEOUT_MS = 60_000;
const MAX_SUPERVISED_RESTARTS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const usedPorts = new Set<number>();
/** A port nothing listens on (outside the usual ephemeral range), for a worker's metrics endpoint. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 21_000 + Math.floor(Math.random() * 9_000);
    if (usedPorts.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, () => srv.close(() => resolve(true)));
    });
    if (free) {
      usedPorts.add(port);
      return port;
    }
  }
  throw new Error('no free port for a metrics endpoint');
}

/** Feeds `records` drafts over `feedMs` in batches (one producer, one batch at a time), then the final reports. */
async function feed(
  o: LeasingOptions,
  tracker: LeaseTracker,
  random: () => number,
  events: EventLog,
): Promise<void> {
  const producer = o.transport.producer({ clientId: 'chaos-lease-feeder' });
  await producer.connect();
  const send = async (drafts: Draft[]) => {
    await producer.send(drafts.map((d): OutgoingRecord => d.record));
    for (const d of drafts) d.acked();
  };
  try {
    const batch = 500;
    const batches = Math.ceil(o.records / batch);
    for (let b = 0; b < batches; b++) {
      const started = Date.now();
      const drafts: Draft[] = [];
      for (let seq = b * batch; seq < Math.min(o.records, (b + 1) * batch); seq++) {
        drafts.push(tracker.draw(seq, random));
      }
      await send(drafts);
      await sleep(Math.max(0, o.feedMs / batches - (Date.now() - started)));
    }
    // One last report per key: it must equal the key's totals.
    const keys = tracker.keys();
    for (let i = 0; i < keys.length; i += batch) {
      await send(keys.slice(i, i + batch).map((k, j) => tracker.report(o.records + i + j, k)));
    }
    events.info('fed', { sent: tracker.sent, adds: tracker.adds.size, reports: tracker.reports.size });
  } finally {
    await producer.disconnect();
  }
}

export async function runLeasingChaos(o: LeasingOptions): Promise<LeasingResult> {
  const started = Date.now();
  const random = seeded(o.seed);
  const id = `lease-s${o.seed}-${Date.now().toString(36)}`;
  const ns = `chaos-${id}`;
  const t = leaseTopics(ns);
  const logDir = join(repoRoot, '.cache', 'chaos', id);
  mkdirSync(logDir, { recursive: true });
  const events = new EventLog(logDir, o.logger);
  const admin = await o.transport.admin();
  await admin.createTopics([{ name: t.input, partitions: o.partitions }]);

  // Everything drawn from the seed comes first: the fault plan, the workload's hot share, then the records.
  const plan = planLeasingFaults({ ...o }, random);
  const tracker = new LeaseTracker(
    t.input,
    {
      hotKeys: o.hotKeys,
      coldKeys: o.coldKeys,
      partitions: o.partitions,
      reportHot: 0.015,
      reportCold: 0.01,
    },
    random,
  );
  const env: LeaseEnv = {
    ns,
    partitions: o.partitions,
    slots: o.slots,
    idleRevokeMs: o.idleRevokeMs,
    burnUs: o.burnUs,
  };
  const policy: LeasePolicyOptions = { ...DEFAULT_POLICY_OPTIONS, ...o.policy, seed: o.seed };
  const probe = new LeaseProbe(LEASE_APP);
  const unexpectedExits: string[] = [];
  let ending = false;
  const procs = new WorkerProcs({
    brokers: o.brokers,
    transport: o.transport.name,
    ...(o.groupProtocol === undefined ? {} : { groupProtocol: o.groupProtocol }),
    ...(o.exactlyOnce === undefined ? {} : { exactlyOnce: o.exactlyOnce }),
    sessionTimeoutMs: o.sessionTimeoutMs,
    controlTopic: t.control,
    logDir,
    appModule: join(here, 'app.ts'),
    env: {
      ...leaseEnvVars(env),
      ...(o.breakWith === undefined ? {} : { CHAOS_LEASING_FAULTS: JSON.stringify(o.breakWith) }),
    },
    ...(o.breakWith === undefined ? {} : { entry: join(here, 'faulty-worker.ts') }),
    onUnexpectedExit: (worker, how) => {
      unexpectedExits.push(`worker ${worker}: ${how} at ${events.elapsed()} ms`);
      events.warn('worker exited unexpectedly', { worker, how });
      if (unexpectedExits.length <= MAX_SUPERVISED_RESTARTS) {
        setTimeout(() => {
          if (ending || procs.current(worker) !== undefined) return;
          void start(worker).then(() => events.info('restarted after unexpected exit', { worker }));
        }, 1_000);
      }
    },
  });
  /** Starts (or restarts) worker `w` on a fresh metrics port and registers the incarnation with the probe. */
  const start = async (w: number): Promise<void> => {
    const port = await freePort();
    const n = procs.startCount(w);
    const p = procs.start(w, [
      '--metrics-port',
      String(port),
      '--policy',
      LEASE_POLICY,
      '--policy-options',
      JSON.stringify(policy),
    ]);
    probe.register(w, n, p.pid ?? -1, port);
    events.info(n === 0 ? 'started' : 'restarted', { worker: w, incarnation: n, pid: p.pid, port });
  };
  events.info('start', {
    seed: o.seed,
    ns,
    records: o.records,
    workers: o.workers,
    hotKeys: tracker.hot,
    hotShare: tracker.hotShare,
    env,
    policy,
    plan,
    ...(o.breakWith === undefined ? {} : { breakWith: o.breakWith }),
  });

  let faults: LeasingFaultOutcome = { kills: 0, pauses: 0, records: [], missed: [] };
  let quiet: Quiescence = { quiescent: false, behind: [], openLeases: [] };
  try {
    await Promise.all([...Array(o.workers).keys()].map((w) => start(w)));
    const up = await Promise.all(
      [...Array(o.workers).keys()].map((w) =>
        procs.waitForLog(w, 0, (l) => l.msg === 'worker running', STARTUP_TIMEOUT_MS),
      ),
    );
    const down = up.flatMap((ok, w) => (ok ? [] : [w]));
    if (down.length > 0) events.warn('workers not running in time; going on', { workers: down });
    // Leasing needs lease slots owned by other workers (and their load reports): wait for every worker's slots.
    const slotsDeadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      const obs = await probe.pollAll(1_000);
      const owning = obs.filter((x) => probe.ownedSlots(x.snapshot).length > 0).length;
      if (owning >= Math.min(o.workers, o.slots)) {
        events.info('workers running and owning lease slots', {
          slots: Object.fromEntries(obs.map((x) => [x.inc.worker, probe.ownedSlots(x.snapshot)])),
        });
        break;
      }
      if (Date.now() >= slotsDeadline) {
        events.warn('not every worker owns lease slots; going on', { owning });
        break;
      }
      await sleep(250);
    }
    await sleep(1_500); // a few load reports, so every lessor knows the others' slots
    probe.start(500);
    [, faults] = await Promise.all([
      feed(o, tracker, random, events),
      runLeasingFaults(plan, { ...o }, { procs, probe, events, random, restart: start }),
    ]);
    events.info('faults over', { kills: faults.kills, pauses: faults.pauses, missed: faults.missed });
    quiet = await waitQuiescent(o, ns, probe, Date.now() + o.timeoutMs, events);
    events.info(quiet.quiescent ? 'quiescent' : 'NOT quiescent', {
      behind: quiet.behind.map(describeBehind),
      openLeases: quiet.openLeases,
    });
    await probe.pollAll(2_000); // the final counters of every running worker
    ending = true;
    await probe.stop();
    const killed = await procs.stopAll(30_000);
    if (killed.length > 0) events.warn('workers did not stop within 30 s of SIGTERM; killed', { killed });
  } finally {
    ending = true;
    await probe.stop();
    await procs.killAll();
  }

  const verdict = await verifyLeasing(o.transport, ns, tracker);
  for (const f of faults.records) {
    if (f.target !== 'blocked-lessor' || f.lease === undefined) continue;
    const at = await committedLeaseAt(o.transport, t.changelog, f.lease.partition, f.lease.key, f.wallMs);
    f.committedAtKill = at ?? null;
  }
  const result: LeasingResult = {
    seed: o.seed,
    sent: tracker.sent,
    lost: verdict.lost,
    duplicated: verdict.duplicated,
    stateMismatches: verdict.stateMismatches,
    criticalMismatches: verdict.criticalMismatches,
    leftovers: verdict.leftovers,
    deadLettered: verdict.deadLettered,
    stuck: quiet.behind.length,
    stuckPartitions: quiet.behind.map(describeBehind),
    openLeases: quiet.openLeases,
    quiescent: quiet.quiescent,
    counters: probe.totals(),
    kills: faults.kills,
    pauses: faults.pauses,
    faults: faults.records,
    missedFaults: faults.missed,
    hotKeys: tracker.hot,
    hotShare: tracker.hotShare,
    unexpectedExits,
    silentIncarnations: probe.silent(),
    notes: verdict.notes,
    elapsedMs: Date.now() - started,
    logDir,
  };
  if (!o.keepTopics) {
    const mine = (await admin.listTopics()).filter((x) => x.startsWith(`${ns}.`));
    await admin.deleteTopics(mine).catch(() => {});
  }
  events.info('result', { ...result });
  return result;
}

interface Quiescence {
  readonly quiescent: boolean;
  readonly behind: readonly Behind[];
  /** Leases still held, as `key@worker ...`. */
  readonly openLeases: readonly string[];
}

/**
 * Polls until every group is caught up (reusing the stuck check), every worker answers /leases and none holds
 * a lease (all revoked, their final partials merged), twice in a row; or until `deadline`.
 */
async function waitQuiescent(
  o: LeasingOptions,
  ns: string,
  probe: LeaseProbe,
  deadline: number,
  events: EventLog,
): Promise<Quiescence> {
  const t = leaseTopics(ns);
  const groups = [
    { group: t.group, topic: t.input },
    { group: t.lessees, topic: t.lease },
  ];
  let clean = 0;
  let lastLog = 0;
  for (;;) {
    let behind: Behind[] = [];
    let failed = false;
    try {
      behind = await findBehind(o.transport, groups);
    } catch (e) {
      events.warn('progress check failed; retrying', { err: (e as Error).message });
      failed = true;
    }
    const obs = await probe.pollAll(2_000);
    const silent = probe
      .current()
      .filter((inc) => !obs.some((x) => x.inc === inc))
      .map((inc) => `worker ${inc.worker}#${inc.n} did not answer /leases`);
    const openLeases = obs.flatMap((x) =>
      x.snapshot.leases.map(
        (l) =>
          `${l.key} at worker ${x.inc.worker} (partition ${l.partition}): epoch ${l.epoch}, slots [${l.slots}], ${l.mode}, waiting ${l.waiting}`,
      ),
    );
    const open = [...openLeases, ...silent];
    if (!failed && behind.length === 0 && open.length === 0) {
      if (++clean >= 2) return { quiescent: true, behind, openLeases: [] };
    } else clean = 0;
    const remaining = behind.reduce((s, b) => s + b.remaining, 0);
    if (Date.now() >= deadline) {
      events.warn('timed out waiting for quiescence', { behind: behind.length, remaining, open });
      return { quiescent: false, behind, openLeases: open };
    }
    if (Date.now() - lastLog >= 10_000) {
      lastLog = Date.now();
      events.info('waiting for quiescence', {
        partitionsBehind: behind.length,
        remaining,
        open: open.slice(0, 10),
        ...(behind.length <= 10 ? { behind: behind.map(describeBehind) } : {}),
      });
    }
    await sleep(remaining > 20_000 ? 3_000 : 1_000);
  }
}
