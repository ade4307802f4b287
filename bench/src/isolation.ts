// Isolation benchmark: a pool of worker PROCESSES hosting a latency-critical app and a batch app at once, run
// once per scheduling policy. The critical app gets a steady trickle of cheap messages; the batch app gets
// periodic bursts of expensive ones that saturate the pool for a while. Under FIFO the critical messages wait
// behind the batch backlog on the same worker; a deadline- or class-aware policy should let them overtake it.
//
// Per policy: fresh topics and namespace, workers spawned (bench/src/isolation-worker.ts), a warm-up until both
// workers are processing partitions of both apps, a measurement window that starts at a burst and spans a
// whole number of burst periods, a drain (committed offsets reach the input ends), SIGTERM, then the egress
// topics are read back. Only messages ingested inside the window count:
// - critical satisfaction: share of critical outputs whose produce timestamp <= their `dirigo-deadline`;
// - critical p50/p99: output timestamp - `dirigo-ingest`;
// - batch throughput: batch outputs produced inside the window / window length.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { IncomingRecord, Logger, OutgoingRecord } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import type { SchedulerSnapshot } from '@dirigo/runtime';
import { type IsolationAppsConfig, isolationTopics } from './isolation-apps.ts';
import type { IsolationWorkerConfig, PathTimings } from './isolation-worker.ts';
import { machineTicks, processTicks } from './proc-cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface IsolationOptions {
  readonly brokers: string;
  readonly policies: readonly string[];
  readonly workers: number;
  /** Partitions of each app's input topic. */
  readonly partitions: number;
  /** WorkerOptions.concurrency: partitions of one function processed at once per worker. */
  readonly concurrency: number;
  readonly guarantee: 'at_least_once' | 'exactly_once';
  readonly criticalRate: number;
  readonly criticalCostMs: number;
  readonly criticalTargetMs: number;
  readonly criticalKeys: number;
  readonly burst: number;
  readonly burstEveryMs: number;
  readonly batchCostMs: number;
  readonly batchTargetMs: number;
  readonly batchKeys: number;
  /** Minimum warm-up before the window; the window also waits until every worker processes both apps. */
  readonly warmupMs: number;
  /** Rounded up to a whole number of burst periods. */
  readonly measureMs: number;
  readonly drainTimeoutMs: number;
  readonly logger: Logger;
}

export interface PolicyResult {
  policy: string;
  critical: {
    satisfaction: number;
    p99Ms: number;
    p50Ms: number;
    p90Ms: number;
    maxMs: number;
    sent: number;
    outputs: number;
    /** Sent inside the window but never seen on the egress. */
    missing: number;
    duplicates: number;
    /** p99 of handler completion - ingest: delivery to the worker, queueing, the handler. */
    untilHandledP99Ms: number;
    /** p99 of output timestamp - handler completion: rest of the step, waiting to produce. */
    afterHandledP99Ms: number;
  };
  batch: {
    throughput: number;
    /** Offered load inside the window, messages/s. */
    offeredPerSec: number;
    sent: number;
    /** Outputs of window messages produced inside the window (the throughput numerator). */
    outputsInWindow: number;
    /** Outputs of window messages, whenever produced (after the drain: all, unless lost). */
    outputs: number;
    missing: number;
    p50Ms: number;
    p99Ms: number;
    /** Time from the window's end until the last batch output of a window message. */
    tailMs: number;
  };
  /** The workers' own view (scheduler metrics at SIGTERM, whole run incl. warm-up): per app, max over workers. */
  dispatcher: Record<string, { satisfaction: number | null; queueingP99Ms: number; latencyP99Ms: number }>;
  /** Messages processed per worker per app over the whole run (shows both workers hosted both apps). */
  processed: Record<string, Record<string, number>>;
  /**
   * Per worker, the Kafka side of each app's messages over the whole run (see TimedTransport in
   * isolation-worker.ts): ingest -> step start, step duration, records per step, producer send, commit; and the
   * worker's event-loop delay.
   */
  workers: Record<
    string,
    { path: Record<string, PathTimings>; eventLoopDelayMs: { p50: number; p99: number; max: number } | null }
  >;
  windowMs: number;
  drained: boolean;
  /** 1-minute load average at the window's start and end (other work on the machine skews results). */
  loadAvg: [number, number];
  /**
   * Cores busy during the window (Linux): the whole machine, and the bench's own processes (driver + workers).
   * The difference is the broker plus anything else running on the machine.
   */
  cpu: { machineCores: number; benchCores: number } | null;
}

interface WorkerLine {
  event: string;
  at: number;
  apps?: Record<string, { steps: number; processed: number; status: string }>;
  scheduler?: SchedulerSnapshot | null;
  path?: Record<string, PathTimings>;
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
}

class WorkerProc {
  readonly id: string;
  readonly proc: ChildProcess;
  ready = false;
  final: WorkerLine | undefined;
  /** `stats` lines, newest last. */
  readonly history: WorkerLine[] = [];
  readonly exited: Promise<void>;

  constructor(config: IsolationWorkerConfig, logFile: string) {
    this.id = config.workerId;
    const log = openSync(logFile, 'a');
    this.proc = spawn(
      process.execPath,
      ['--conditions=source', join(here, 'isolation-worker.ts'), JSON.stringify(config)],
      { stdio: ['ignore', 'pipe', log] },
    );
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
    const rl = createInterface({ input: this.proc.stdout! });
    rl.on('line', (line) => {
      let msg: WorkerLine;
      try {
        msg = JSON.parse(line) as WorkerLine;
      } catch {
        return;
      }
      if (msg.event === 'ready') this.ready = true;
      else if (msg.event === 'stats') {
        this.history.push(msg);
        if (this.history.length > 20) this.history.shift();
      } else if (msg.event === 'final') this.final = msg;
    });
  }

  /** True when `app` completed a step within the last `ms` (by the worker's own counters). */
  active(app: string, ms: number): boolean {
    const h = this.history;
    const last = h[h.length - 1];
    if (last === undefined) return false;
    const before = h.find((l) => l.at >= last.at - ms - 100) ?? h[0]!;
    const a = last.apps?.[app]?.steps ?? 0;
    const b = before === last ? 0 : (before.apps?.[app]?.steps ?? 0);
    return a > b;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(t);
  }
}

interface CpuSnap {
  total: number;
  idle: number;
  /** utime + stime of each bench process (driver and workers), clock ticks. */
  procs: number;
}

/** Machine and bench-process CPU counters from /proc (Linux); undefined elsewhere. */
function cpuSnap(pids: readonly number[]): CpuSnap | undefined {
  try {
    let procs = 0;
    for (const pid of pids) procs += processTicks(pid);
    return { ...machineTicks(), procs };
  } catch {
    return undefined;
  }
}

/** Cores busy over the interval: the whole machine, and the bench's own processes (driver + workers). */
function cpuBusy(a: CpuSnap | undefined, b: CpuSnap | undefined, cores: number, seconds: number) {
  if (a === undefined || b === undefined || b.total <= a.total) return null;
  const busy = 1 - (b.idle - a.idle) / (b.total - a.total);
  const ticksPerSec = (b.total - a.total) / cores / seconds;
  return {
    machineCores: Number((busy * cores).toFixed(2)),
    benchCores: Number(((b.procs - a.procs) / ticksPerSec / seconds).toFixed(2)),
  };
}

const quantile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

interface Output {
  ingest: number;
  deadline: number;
  ts: number;
  /** When the handler finished. */
  h: number;
}

/** Reads an egress topic: the first output per message seq, and how many duplicates there were. */
async function readOutputs(
  transport: KafkajsTransport,
  topic: string,
  partitions: number,
): Promise<{ bySeq: Map<number, Output>; duplicates: number }> {
  const bySeq = new Map<number, Output>();
  let duplicates = 0;
  const from = Array.from({ length: partitions }, (_, partition) => ({ topic, partition, fromOffset: 0 }));
  await transport.readToEnd(from, (records: readonly IncomingRecord[]) => {
    for (const r of records) {
      const { s: seq, h } = JSON.parse(r.value!.toString('utf8')) as { s: number; h: number };
      const ingest = Number(r.headers['dirigo-ingest']?.toString('latin1'));
      const deadline = Number(r.headers['dirigo-deadline']?.toString('latin1'));
      const prev = bySeq.get(seq);
      if (prev !== undefined) {
        duplicates++;
        if (prev.ts <= r.timestamp) continue;
      }
      bySeq.set(seq, { ingest, deadline, ts: r.timestamp, h });
    }
  });
  return { bySeq, duplicates };
}

async function runPolicy(
  o: IsolationOptions,
  transport: KafkajsTransport,
  runId: string,
  policy: string,
  logDir: string,
): Promise<PolicyResult> {
  const log = o.logger.child({ policy });
  const ns = `iso-${runId}-${policy}`;
  const topics = isolationTopics(ns);
  const admin = await transport.admin();
  await admin.createTopics([
    { name: topics.criticalIn, partitions: o.partitions },
    { name: topics.batchIn, partitions: o.partitions },
  ]);
  const apps: IsolationAppsConfig = {
    namespace: ns,
    guarantee: o.guarantee,
    critical: { latencyTargetMs: o.criticalTargetMs, costMs: o.criticalCostMs },
    batch: { latencyTargetMs: o.batchTargetMs, costMs: o.batchCostMs },
  };
  const workers: WorkerProc[] = [];
  for (let i = 0; i < o.workers; i++) {
    const workerId = `iso-${policy}-w${i}`;
    workers.push(
      new WorkerProc(
        { brokers: o.brokers, workerId, policy, concurrency: o.concurrency, apps },
        join(logDir, `${policy}-w${i}.log`),
      ),
    );
  }
  const critProducer = transport.producer({ clientId: 'iso-critical-feeder' });
  const batchProducer = transport.producer({ clientId: 'iso-batch-feeder' });
  try {
    await critProducer.connect();
    await batchProducer.connect();
    const readyBy = Date.now() + 60_000;
    while (!workers.every((w) => w.ready)) {
      if (Date.now() > readyBy) throw new Error(`workers not ready after 60 s (logs in ${logDir})`);
      if (workers.some((w) => w.proc.exitCode !== null))
        throw new Error(`a worker exited during start (logs in ${logDir})`);
      await sleep(100);
    }
    log.info('workers ready');

    // Sent messages: seq -> ingest time (the record timestamp).
    const critSent: number[] = [];
    const batchSent: number[] = [];
    let feeding = true;
    let windowStart = Number.POSITIVE_INFINITY;
    let windowEnd = Number.POSITIVE_INFINITY;
    let startWindowAtNextBurst = false;
    const periods = Math.max(1, Math.ceil(o.measureMs / o.burstEveryMs));
    const windowMs = periods * o.burstEveryMs;

    const critical = async () => {
      const begin = Date.now();
      while (feeding) {
        const due = Math.floor(((Date.now() - begin) * o.criticalRate) / 1000);
        if (due > critSent.length) {
          const records: OutgoingRecord[] = [];
          const now = Date.now();
          if (now >= windowEnd) break;
          while (critSent.length < due) {
            const s = critSent.length;
            critSent.push(now);
            records.push({
              topic: topics.criticalIn,
              key: Buffer.from(`c${s % o.criticalKeys}`),
              value: Buffer.from(`{"s":${s}}`),
              timestamp: now,
            });
          }
          await critProducer.send(records);
        }
        await sleep(2);
      }
    };
    const batch = async () => {
      let next = Date.now();
      while (feeding) {
        const now = Date.now();
        if (now >= next) {
          if (startWindowAtNextBurst && windowStart === Number.POSITIVE_INFINITY) {
            // The scheduled time, not `now`: later bursts keep to the schedule, so exactly `periods` of them
            // (this one included) fall inside the window.
            windowStart = next;
            windowEnd = next + windowMs;
          }
          if (now >= windowEnd) break;
          const records: OutgoingRecord[] = new Array(o.burst);
          for (let i = 0; i < o.burst; i++) {
            const s = batchSent.length;
            batchSent.push(now);
            records[i] = {
              topic: topics.batchIn,
              key: Buffer.from(`b${s % o.batchKeys}`),
              value: Buffer.from(`{"s":${s}}`),
              timestamp: now,
            };
          }
          await batchProducer.send(records);
          next += o.burstEveryMs;
        }
        await sleep(Math.max(1, Math.min(20, next - Date.now())));
      }
    };
    const feeders = Promise.all([critical(), batch()]);

    // Warm-up: at least warmupMs, and every worker completes steps of both apps (its partitions assigned).
    const warmStart = Date.now();
    const warmBy = warmStart + Math.max(30_000, o.warmupMs * 3);
    for (;;) {
      await sleep(250);
      const elapsed = Date.now() - warmStart;
      const allActive = workers.every(
        (w) => w.active('critical', 2000) && (o.burst === 0 || w.active('batch', o.burstEveryMs * 2)),
      );
      if (elapsed >= o.warmupMs && allActive) break;
      if (Date.now() > warmBy) {
        log.warn('warm-up: not every worker processes both apps; measuring anyway');
        break;
      }
    }
    startWindowAtNextBurst = true;
    log.info({ warmupMs: Date.now() - warmStart }, 'warm-up done');
    while (windowEnd === Number.POSITIVE_INFINITY) await sleep(20);
    const loadStart = loadavg()[0]!;
    const pids = [process.pid, ...workers.map((w) => w.proc.pid ?? 0)];
    const cpuStart = cpuSnap(pids);
    const cpuAt = Date.now();
    while (Date.now() < windowEnd) await sleep(50);
    const loadEnd = loadavg()[0]!;
    const cpu = cpuBusy(cpuStart, cpuSnap(pids), availableParallelism(), (Date.now() - cpuAt) / 1000);
    feeding = false;
    await feeders;

    // Drain: every group's committed offsets reach the input's end.
    const drainBy = Date.now() + o.drainTimeoutMs;
    let drained = false;
    const groups: [string, string][] = [
      [`${ns}.critical.handle`, topics.criticalIn],
      [`${ns}.batch.crunch`, topics.batchIn],
    ];
    while (Date.now() < drainBy) {
      let done = true;
      for (const [group, topic] of groups) {
        const ends = await admin.fetchTopicOffsets(topic);
        const committed = await admin.fetchCommittedOffsets(group, topic);
        for (const e of ends) {
          const offset = committed.find((c) => c.partition === e.partition)?.offset ?? -1;
          if (Math.max(0, offset) < e.high) done = false;
        }
      }
      if (done) {
        drained = true;
        break;
      }
      await sleep(200);
    }
    if (!drained) log.warn('drain timed out: some window messages may be missing');
    await Promise.all(workers.map((w) => w.stop()));

    const crit = await readOutputs(transport, topics.criticalOut, o.partitions);
    const bat = await readOutputs(transport, topics.batchOut, o.partitions);
    const inWindow = (t: number) => t >= windowStart && t < windowEnd;

    let critSentIn = 0;
    let critMissing = 0;
    let critOut = 0;
    let met = 0;
    const critLat: number[] = [];
    const critPre: number[] = [];
    const critPost: number[] = [];
    for (let s = 0; s < critSent.length; s++) {
      if (!inWindow(critSent[s]!)) continue;
      critSentIn++;
      const out = crit.bySeq.get(s);
      if (out === undefined) {
        critMissing++;
        continue;
      }
      critOut++;
      if (out.ts <= out.deadline) met++;
      critLat.push(out.ts - out.ingest);
      critPre.push(out.h - out.ingest);
      critPost.push(out.ts - out.h);
    }
    for (const a of [critLat, critPre, critPost]) a.sort((x, y) => x - y);

    let batchSentIn = 0;
    let batchMissing = 0;
    let batchOut = 0;
    let batchOutIn = 0;
    let lastTs = windowEnd;
    const batchLat: number[] = [];
    for (let s = 0; s < batchSent.length; s++) {
      if (!inWindow(batchSent[s]!)) continue;
      batchSentIn++;
      const out = bat.bySeq.get(s);
      if (out === undefined) {
        batchMissing++;
        continue;
      }
      batchOut++;
      if (out.ts < windowEnd) batchOutIn++;
      if (out.ts > lastTs) lastTs = out.ts;
      batchLat.push(out.ts - out.ingest);
    }
    batchLat.sort((a, b) => a - b);

    const dispatcher: PolicyResult['dispatcher'] = {};
    const processed: PolicyResult['processed'] = {};
    const workerTimings: PolicyResult['workers'] = {};
    for (const w of workers) {
      workerTimings[w.id] = {
        path: w.final?.path ?? {},
        eventLoopDelayMs: w.final?.eventLoopDelayMs ?? null,
      };
      processed[w.id] = Object.fromEntries(
        Object.entries(w.final?.apps ?? {}).map(([app, s]) => [app, s.processed]),
      );
      for (const [app, a] of Object.entries(w.final?.scheduler?.apps ?? {})) {
        dispatcher[app] ??= { satisfaction: null, queueingP99Ms: 0, latencyP99Ms: 0 };
        const d = dispatcher[app];
        if (a.satisfaction !== null)
          d.satisfaction =
            d.satisfaction === null ? a.satisfaction : Math.min(d.satisfaction, a.satisfaction);
        d.queueingP99Ms = Math.max(d.queueingP99Ms, a.queueingMs.p99);
        d.latencyP99Ms = Math.max(d.latencyP99Ms, a.latencyMs.p99);
      }
    }
    const r3 = (x: number) => Number(x.toFixed(3));
    return {
      policy,
      critical: {
        satisfaction: critOut === 0 ? 0 : r3(met / critOut),
        p99Ms: quantile(critLat, 0.99),
        p50Ms: quantile(critLat, 0.5),
        p90Ms: quantile(critLat, 0.9),
        maxMs: critLat.length === 0 ? Number.NaN : critLat[critLat.length - 1]!,
        sent: critSentIn,
        outputs: critOut,
        missing: critMissing,
        duplicates: crit.duplicates,
        untilHandledP99Ms: quantile(critPre, 0.99),
        afterHandledP99Ms: quantile(critPost, 0.99),
      },
      batch: {
        throughput: Math.round(batchOutIn / (windowMs / 1000)),
        offeredPerSec: Math.round(batchSentIn / (windowMs / 1000)),
        sent: batchSentIn,
        outputsInWindow: batchOutIn,
        outputs: batchOut,
        missing: batchMissing,
        p50Ms: quantile(batchLat, 0.5),
        p99Ms: quantile(batchLat, 0.99),
        tailMs: lastTs - windowEnd,
      },
      dispatcher,
      processed,
      workers: workerTimings,
      windowMs,
      drained,
      loadAvg: [Number(loadStart.toFixed(2)), Number(loadEnd.toFixed(2))],
      cpu,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await critProducer.disconnect().catch(() => {});
    await batchProducer.disconnect().catch(() => {});
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${ns}-`) || t.startsWith(`${ns}.`));
    await admin.deleteTopics(mine).catch(() => {});
  }
}

export async function runIsolation(o: IsolationOptions): Promise<PolicyResult[]> {
  const runId = Date.now().toString(36);
  const logDir = join(tmpdir(), `dirigo-bench-isolation-${runId}`);
  mkdirSync(logDir, { recursive: true });
  process.stderr.write(`bench: isolation worker logs in ${logDir}\n`);
  const results: PolicyResult[] = [];
  for (const policy of o.policies) {
    const started = Date.now();
    // A transport per policy run: its watermark probe keeps every topic it was asked about as a metadata
    // target, so after the previous run's topics are deleted every later watermark lookup on that transport
    // fails with UNKNOWN_TOPIC_OR_PARTITION.
    const transport = new KafkajsTransport({
      brokers: o.brokers.split(','),
      clientId: `bench-iso-${policy}`,
      logger: o.logger,
    });
    try {
      const r = await runPolicy(o, transport, runId, policy, logDir);
      results.push(r);
      process.stderr.write(
        `bench: ${policy}: critical satisfaction ${r.critical.satisfaction} p50 ${r.critical.p50Ms} ms p99 ${r.critical.p99Ms} ms; batch ${r.batch.throughput}/s of ${r.batch.offeredPerSec}/s offered (${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
      );
    } finally {
      await transport.close();
    }
  }
  return results;
}
