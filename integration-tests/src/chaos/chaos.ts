// One chaos run (one seed): the shapes' apps deployed together on N worker processes started at once on a
// fresh namespace and control topic (a worker that dies on its own is reported and restarted, as a supervisor
// would); once they run, they are fed while workers are killed, frozen, joined and removed (faults.ts);
// then a bounded wait until every function group has caught up and every timer has fired (progress.ts); then
// an independent tracker (what the feeder knows the broker acknowledged) is compared with everything committed
// (read_committed): egress outputs, internal topics, and the final state in the changelogs (checks/).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger, OutgoingRecord, Transport } from '@dirigo/core';
import { fanOutInHarness } from './checks/fan-out-in.ts';
import { oneHopHarness } from './checks/one-hop.ts';
import type { ShapeHarness, Verdict } from './checks/shape.ts';
import { twoHopTimerHarness } from './checks/two-hop-timer.ts';
import { windowedHarness } from './checks/windowed.ts';
import { EventLog } from './events.ts';
import { type FaultCounts, planFaults, runFaults } from './faults.ts';
import type { ShapeName } from './names.ts';
import { topics } from './names.ts';
import { type ExactlyOnceChoice, repoRoot, WorkerProcs } from './procs.ts';
import { SureFeeder } from './sure-feed.ts';
import { describeBehind, waitSettled } from './progress.ts';
import { type ChaosResult, type Mode, seeded } from './run-chaos-lib.ts';
import type { GroupProtocol } from '@dirigo/platformatic';
import type { KafkaCluster } from '@dirigo/local-kafka';

export interface ChaosOptions {
  readonly transport: Transport;
  readonly brokers: string;
  readonly guarantee: Mode;
  readonly shapes: readonly ShapeName[];
  /** Input records in total, split evenly over the shapes. */
  readonly records: number;
  readonly workers: number;
  readonly kills: number;
  readonly pauses: number;
  /** Extra workers that join mid-run and leave with SIGTERM. */
  readonly joinLeave: number;
  readonly partitions: number;
  /** How long feeding takes (ms): faults happen during and after it. */
  readonly feedMs: number;
  readonly sessionTimeoutMs: number;
  /** Bound of the wait for the groups to catch up, after feeding and faults. */
  readonly timeoutMs: number;
  readonly seed: number;
  readonly logger: Logger;
  /** Keep the run's topics (default: deleted at the end). */
  readonly keepTopics?: boolean;
  /** The workers' consumer group protocol (see `WorkerProcsOptions.groupProtocol`). */
  readonly groupProtocol?: GroupProtocol;
  /** The workers' exactly-once protocol (see `WorkerProcsOptions.exactlyOnce`). */
  readonly exactlyOnce?: ExactlyOnceChoice;
  /** Broker nodes SIGKILLed one at a time during the run, each started again after 1-4 s (needs `cluster`). */
  readonly brokerKills?: number;
  /** The cluster the run started, whose nodes it may kill. */
  readonly cluster?: KafkaCluster;
}

const harnesses: Record<ShapeName, (ns: string, partitions: number) => ShapeHarness> = {
  'one-hop': oneHopHarness,
  'two-hop-timer': twoHopTimerHarness,
  'fan-out-in': fanOutInHarness,
  windowed: windowedHarness,
};

/** Workers that exit on their own are restarted, up to this many times per run. */
const MAX_SUPERVISED_RESTARTS = 20;
/** How long the harness waits for the workers started at once to be running. */
const STARTUP_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the feed sends batches through: a plain producer, or a SureFeeder while brokers are killed. */
interface Feeder {
  send(records: readonly OutgoingRecord[], seqs: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

async function plainFeeder(transport: Transport): Promise<Feeder> {
  const producer = transport.producer({ clientId: 'chaos-feeder' });
  await producer.connect();
  return { send: (records) => producer.send(records), close: () => producer.disconnect() };
}

/**
 * Feeds `records` inputs spread over `feedMs`, round-robin over the shapes; seqs are unique across the run. While
 * brokers are killed, each batch is a transaction that is checked for when it fails (sure-feed.ts).
 */
async function feed(
  o: ChaosOptions,
  ns: string,
  shapes: readonly ShapeHarness[],
  random: () => number,
  events: EventLog,
  notes: string[],
): Promise<void> {
  const acked: number[] = [];
  const sure =
    (o.brokerKills ?? 0) > 0
      ? new SureFeeder(
          o.transport,
          `${ns}.feeder`,
          shapes.flatMap((s) => s.ingressTopics),
          o.logger,
        )
      : undefined;
  const feeder = sure ?? (await plainFeeder(o.transport));
  try {
    const batch = 500;
    const batches = Math.ceil(o.records / batch);
    for (let b = 0; b < batches; b++) {
      const started = Date.now();
      const drafts = [];
      const seqs: number[] = [];
      for (let seq = b * batch; seq < Math.min(o.records, (b + 1) * batch); seq++) {
        drafts.push(shapes[seq % shapes.length]!.draw(seq, random));
        seqs.push(seq);
      }
      await feeder.send(
        drafts.map((d): OutgoingRecord => d.record),
        seqs,
      );
      for (const d of drafts) d.acked();
      acked.push(...seqs);
      await sleep(Math.max(0, o.feedMs / batches - (Date.now() - started)));
    }
  } finally {
    await feeder.close();
  }
  if (sure !== undefined) {
    events.info('feed batches failed', {
      resent: sure.resent,
      committedDespiteError: sure.committedDespiteError,
    });
    const { missing, repeated } = await sure.check(acked);
    for (const [what, seqs] of [
      ['are not in the input topics', missing],
      ['are in the input topics more than once', repeated],
    ] as const) {
      if (seqs.length === 0) continue;
      const note = `input: ${seqs.length} acknowledged records ${what} (seqs ${seqs.slice(0, 10).join(', ')})`;
      events.warn(note, { records: seqs.length });
      notes.push(note);
    }
    if (missing.length + repeated.length === 0)
      events.info('every acknowledged record is in the input topics once', { records: acked.length });
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const random = seeded(o.seed);
  const id = `s${o.seed}-${Date.now().toString(36)}`;
  const ns = `chaos-${id}`;
  const logDir = join(repoRoot, '.cache', 'chaos', id);
  mkdirSync(logDir, { recursive: true });
  const events = new EventLog(logDir, o.logger);
  const shapes = o.shapes.map((s) => harnesses[s](ns, o.partitions));
  const admin = await o.transport.admin();
  await admin.createTopics(
    shapes.flatMap((s) => s.ingressTopics).map((name) => ({ name, partitions: o.partitions })),
  );
  const unexpectedExits: string[] = [];
  const procs = new WorkerProcs({
    brokers: o.brokers,
    transport: o.transport.name,
    ...(o.groupProtocol === undefined ? {} : { groupProtocol: o.groupProtocol }),
    ...(o.exactlyOnce === undefined ? {} : { exactlyOnce: o.exactlyOnce }),
    sessionTimeoutMs: o.sessionTimeoutMs,
    controlTopic: topics(ns).control,
    logDir,
    env: {
      CHAOS_NS: ns,
      CHAOS_GUARANTEE: o.guarantee,
      CHAOS_SHAPES: o.shapes.join(','),
      CHAOS_PARTITIONS: String(o.partitions),
    },
    onUnexpectedExit: (worker, how) => {
      unexpectedExits.push(`worker ${worker}: ${how} at ${events.elapsed()} ms`);
      events.warn('worker exited unexpectedly', { worker, how });
      // Like a process supervisor: restart it (unless the run is ending or someone already did).
      if (unexpectedExits.length <= MAX_SUPERVISED_RESTARTS) {
        setTimeout(() => {
          if (ending || procs.current(worker) !== undefined) return;
          const p = procs.start(worker);
          events.info('restarted after unexpected exit', { worker, pid: p.pid });
        }, 1_000);
      }
    },
  });
  let ending = false;
  // Faults are drawn before any record, so the plan and the records depend on the seed only.
  const plan = planFaults({ ...o, brokerNodes: o.cluster?.nodes.map((n) => n.id) ?? [] }, random);
  events.info('start', { seed: o.seed, ns, mode: o.guarantee, shapes: o.shapes, records: o.records, plan });

  let counts: FaultCounts = { kills: 0, pauses: 0, brokerKills: 0 };
  /** What the feeder found wrong with the inputs themselves (broker kills only). */
  const feedNotes: string[] = [];
  let settled: Awaited<ReturnType<typeof waitSettled>>;
  try {
    // All workers at once, on a namespace and control topic nobody has used.
    for (let i = 0; i < o.workers; i++) procs.start(i);
    events.info('workers started', { workers: o.workers, logDir });
    // Feed and faults begin once every worker is up, so the faults hit workers that are processing.
    const up = await Promise.all(
      [...Array(o.workers).keys()].map((i) =>
        procs.waitForLog(i, 0, (l) => l.msg === 'worker running', STARTUP_TIMEOUT_MS),
      ),
    );
    const down = up.flatMap((ok, i) => (ok ? [] : [i]));
    if (down.length > 0) events.warn('workers not running in time; going on', { workers: down });
    else events.info('workers running');
    [, counts] = await Promise.all([
      feed(o, ns, shapes, random, events, feedNotes).then(() =>
        events.info('fed', { sent: shapes.reduce((s, h) => s + h.sent, 0) }),
      ),
      runFaults(plan, o, procs, events, o.cluster),
    ]);
    events.info('faults over', { ...counts });
    const groups = shapes.flatMap((s) => s.groups);
    const pendingTimers = async () =>
      (await Promise.all(shapes.map((s) => s.pendingTimers(o.transport)))).flat();
    settled = await waitSettled(o.transport, groups, pendingTimers, Date.now() + o.timeoutMs, events);
    events.info(settled.settled ? 'settled' : 'NOT settled', {
      behind: settled.behind.map(describeBehind),
      pendingTimers: settled.pendingTimers.length,
    });
    ending = true;
    const killed = await procs.stopAll(30_000);
    if (killed.length > 0) events.warn('workers did not stop within 30 s of SIGTERM; killed', { killed });
  } finally {
    ending = true;
    await procs.killAll();
  }

  const verified = await verifyShapes(shapes, o.transport, o.guarantee === 'exactly_once');
  const result: ChaosResult = {
    seed: o.seed,
    mode: o.guarantee,
    sent: verified.sent,
    lost: verified.lost,
    duplicated: verified.duplicated,
    stateMismatches: verified.stateMismatches,
    stuck: settled.behind.length,
    timerMismatches: verified.timerMismatches,
    kills: counts.kills,
    brokerKills: counts.brokerKills,
    pauses: counts.pauses,
    shapes: o.shapes,
    byShape: verified.byShape,
    stuckPartitions: settled.behind.map(describeBehind),
    pendingTimers: settled.pendingTimers,
    unexpectedExits,
    notes: [...feedNotes, ...verified.notes],
    elapsedMs: Date.now() - started,
    logDir,
  };
  if (!o.keepTopics) {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${ns}.`));
    await admin.deleteTopics(mine).catch(() => {});
  }
  events.info('result', { ...result });
  return result;
}

/** Every shape's verdict, summed, with the per-shape counts and the notes. */
async function verifyShapes(shapes: readonly ShapeHarness[], transport: Transport, exact: boolean) {
  const sum = { sent: 0, lost: 0, duplicated: 0, stateMismatches: 0, timerMismatches: 0 };
  const byShape: Partial<Record<ShapeName, Omit<Verdict, 'notes'>>> = {};
  const notes: string[] = [];
  for (const s of shapes) {
    const { notes: shapeNotes, ...v } = await s.verify(transport, exact);
    byShape[s.name] = v;
    sum.sent += s.sent;
    sum.lost += v.lost;
    sum.duplicated += v.duplicated;
    sum.stateMismatches += v.stateMismatches;
    sum.timerMismatches += v.timerMismatches;
    notes.push(...shapeNotes);
  }
  return { ...sum, byShape, notes };
}
