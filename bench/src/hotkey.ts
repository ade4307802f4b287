// Hot-key benchmark: one app with a leasable function (hotkey-app.ts) on a pool of two worker PROCESSES, where
// one key gets most of the traffic. Run twice on the same input, each time on a fresh namespace, topics and
// control topic: leasing off (policy `edf`, which never forwards: the hot key is held to the one core of the
// worker owning its partition) and leasing on (policy `dirigo`: a message that would miss its deadline on the
// lessor is forwarded to a lease slot on the other worker).
//
// Per mode: workers spawned (bench/src/hotkey-worker.ts) and ready (every worker owns lease slots and sees a
// peer's slots in the load reports), a warm-up at a low rate, then
// 1. overload: `records` messages fed at `overloadRate`/s, above what one core can do. recordsPerSec = messages
//    whose handler ran in the window [feed start + 30% of the feed, feed end] / window length (the steady state;
//    the backlog left over is drained afterwards and not counted). Handler time, not output timestamp: outputs
//    are produced when their step commits, and an overloaded partition's steps grow to whole fetches (seconds
//    of work), so output timestamps come in clumps. Only outputs that were committed count. Then the drain and
//    the end of every lease.
// 2. paced: `rate`/s for `seconds`, a load that fits two cores but not one (default: a factor of the leasing-off
//    throughput). Latency per message = output record timestamp - the time the driver produced the input
//    (carried in the value; see `ingestHeaderRewritten` for why not the `dirigo-ingest` header); p99 and
//    satisfaction (share of messages with latency <= the app's latency target; a message never seen counts as
//    missed). Then the drain and the end of every lease.
// 3. a critical report message for the hot key: its output carries the key's merged sum, checked against the
//    hot messages sent (nothing lost or counted twice across leases).
// Leasing timings come from the workers' GET /leases counters: scaleOutMs = the lessee's firstLesseeAt - the
// lessor's firstForwardAt (the first lease of the run, whichever phase it came in: `firstForwardPhase`);
// scaleInMs = the lessor's lastFinalMergeAt - its lastForwardAt after the paced phase (the last lease: from the
// end of the overload to the lease revoked and its partial merged back; it includes idleRevokeMs).
// Diagnostics: per worker, messages handled (hot key and all) and cores busy per phase, leasing counters after
// each phase, the hot key's lease state sampled every 100 ms while fed (active / being revoked / none), the
// dispatcher's view. The machine may be shared: cores busy and load averages are recorded with every run.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { IncomingRecord, Logger, OutgoingRecord, Producer, Transport } from '@dirigo/core';
import type { LeaseCounters, LeaseView, SchedulerSnapshot } from '@dirigo/runtime';
import { HOT_KEY, hotkeyTopics, type WorkMessage, type WorkOutput } from './hotkey-app.ts';
import type { HotkeyWorkerConfig } from './hotkey-worker.ts';
import { machineTicks, processTicks } from './proc-cpu.ts';
import { benchTransport, type TransportName } from './transports.ts';

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface HotkeyOptions {
  readonly brokers: string;
  /** The Kafka client of the workers and the driver. */
  readonly transport: TransportName;
  /** Which runs, in this order (both by default; one alone is for investigating). */
  readonly modes: readonly Mode[];
  readonly workers: number;
  readonly partitions: number;
  /** Keys other than the hot one (they share the rest of the traffic). */
  readonly coldKeys: number;
  readonly hotShare: number;
  readonly costMs: number;
  readonly targetMs: number;
  readonly idleRevokeMs: number;
  readonly slots: number;
  /** Overload phase: messages, fed at `overloadRate`/s. */
  readonly records: number;
  readonly overloadRate: number;
  /** Paced phase: messages/s (undefined: `autoRateFactor` x the leasing-off recordsPerSec) for `seconds`. */
  readonly rate: number | undefined;
  readonly autoRateFactor: number;
  readonly seconds: number;
  /** `marginMs` of the dirigo policy (undefined: the policy's default). */
  readonly marginMs: number | undefined;
  /** `forwardDelayMs` of the dirigo policy (undefined: the policy's default). */
  readonly forwardDelayMs?: number | undefined;
  /** `options.leasing.stepBudgetMs` of the app (undefined: the default). */
  readonly stepBudgetMs?: number | undefined;
  /** The workers' `pipelineSteps`. */
  readonly pipelineSteps: boolean;
  readonly loadReportIntervalMs: number;
  readonly drainTimeoutMs: number;
  readonly logger: Logger;
}

export type Mode = 'leasingOff' | 'leasingOn';

/** A worker's leasing counters and lease slots, as GET /leases answered. */
export interface WorkerLeases {
  counters: LeaseCounters;
  slots: Record<string, number[]>;
  /** Leases this worker holds as lessor (active, or waiting for a final partial). */
  leases: LeaseView[];
}

export interface PhaseCpu {
  /** Cores busy per worker process over the phase's window. */
  workers: Record<string, number>;
  /** Cores busy, whole machine (the broker, the driver and anything else running included). */
  machine: number;
}

export interface OverloadResult {
  offeredPerSec: number;
  sent: number;
  feedMs: number;
  windowMs: number;
  outputsInWindow: number;
  recordsPerSec: number;
  /**
   * recordsPerSec / cores busy in both worker processes over the window: how much work per CPU second. On a
   * shared machine the workers get what the OS gives them; this tells a speed-up from using more CPU (the second
   * worker's) apart from one from using it better.
   */
  recordsPerWorkerCoreSec: number | null;
  /** Messages handled in the window per worker: hot-key messages and all. */
  perWorker: Record<string, { hot: number; all: number }>;
  cpu: PhaseCpu | null;
  /** Feed end -> every input offset committed and every lease ended (the backlog drained). */
  drainMs: number;
  drained: boolean;
  hotLease: HotLeaseShare;
}

/**
 * The hot key's lease while the phase was fed, sampled from the lessor's GET /leases every 100 ms: share of
 * samples with lessees (forwarding possible), being revoked (no lessee, a final partial awaited: forwarding is
 * refused until it is merged), and without a lease.
 */
export interface HotLeaseShare {
  samples: number;
  active: number;
  revoking: number;
  none: number;
}

export interface PacedResult {
  rate: number;
  seconds: number;
  sent: number;
  outputs: number;
  missing: number;
  duplicates: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  satisfaction: number;
  /** p99 of handler finish - produced: delivery, queueing (and forwarding), the handler. */
  untilHandledP99Ms: number;
  /** Outputs per worker: hot-key messages and all. */
  perWorker: Record<string, { hot: number; all: number }>;
  /**
   * Per worker where the handler ran: latency p50/p99, handler finish - produced p50/p99 (so the rest is the
   * commit that made the output visible), and the share within the target: where the late messages ran.
   */
  latencyPerWorker: Record<
    string,
    { p50Ms: number; p99Ms: number; handledP50Ms: number; handledP99Ms: number; satisfaction: number }
  >;
  cpu: PhaseCpu | null;
  drainMs: number;
  drained: boolean;
  hotLease: HotLeaseShare;
}

export interface ModeResult {
  mode: Mode;
  policy: string;
  namespace: string;
  /** The worker owning the hot key's partition (most hot outputs in leasing off; the forwarding one with leasing). */
  hotOwner: string | null;
  overload: OverloadResult;
  paced: PacedResult;
  /** GET /leases counters per worker: after the overload phase (drained, leases ended) and at the end. */
  counters: { afterOverload: Record<string, WorkerLeases>; final: Record<string, WorkerLeases> };
  scaleOutMs: number | null;
  /** The phase in which the lessor first forwarded (scaleOutMs is measured there). */
  firstForwardPhase: 'warm-up' | 'overload' | 'paced' | null;
  /** From the lessor's last forward (and from the end of feeding) to its last final merge, per phase. */
  scaleIn: {
    overload: { fromLastForwardMs: number; fromFeedEndMs: number } | null;
    paced: { fromLastForwardMs: number; fromFeedEndMs: number } | null;
  };
  /** The hot key's merged sum in the critical report vs hot messages sent. */
  check: { hotSent: number; reportedTotal: number | null; ok: boolean };
  /** Outputs whose `dirigo-ingest` header is not the input's produce time (forwarded messages get a new one). */
  ingestHeaderRewritten: number;
  /** Dispatcher view per worker at SIGTERM (whole run). */
  dispatcher: Record<
    string,
    {
      satisfaction: number | null;
      latencyP99Ms: number;
      /** The dispatcher's mean handler cost (what the policy's laxity check adds up), ms. */
      costMeanMs: number | null;
      arrivals: Record<string, number>;
      completed: number;
      cpuMs: number | null;
    }
  >;
  loadAvg: [number, number];
  /** When each phase's feeding started and ended (ms since epoch). */
  timeline: { overload: [number, number]; paced: [number, number] };
}

interface WorkerLine {
  event: string;
  at: number;
  metricsPort?: number;
  processed?: number;
  slots?: number[];
  peerSlots?: boolean;
  scheduler?: SchedulerSnapshot | null;
  cpuMs?: number;
}

class WorkerProc {
  readonly id: string;
  readonly proc: ChildProcess;
  port: number | undefined;
  last: WorkerLine | undefined;
  final: WorkerLine | undefined;
  readonly exited: Promise<void>;

  constructor(config: HotkeyWorkerConfig, logFile: string) {
    this.id = config.workerId;
    const log = openSync(logFile, 'a');
    this.proc = spawn(
      process.execPath,
      ['--conditions=source', join(here, 'hotkey-worker.ts'), JSON.stringify(config)],
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
      if (msg.event === 'ready') this.port = msg.metricsPort;
      else if (msg.event === 'stats') this.last = msg;
      else if (msg.event === 'final') this.final = msg;
    });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async leases(): Promise<WorkerLeases> {
    const res = await fetch(`http://127.0.0.1:${this.port}/leases`);
    const body = (await res.json()) as {
      counters: LeaseCounters;
      slots: Record<string, number[]>;
      leases: LeaseView[];
    };
    return { counters: body.counters, slots: body.slots, leases: body.leases };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(t);
  }
}

interface CpuSnap {
  total: number;
  idle: number;
  /** utime + stime per process, clock ticks. */
  procs: number[];
}

/** Machine and per-process CPU counters from /proc (Linux); undefined elsewhere. */
function cpuSnap(pids: readonly number[]): CpuSnap | undefined {
  try {
    return { ...machineTicks(), procs: pids.map(processTicks) };
  } catch {
    return undefined;
  }
}

function cpuBusy(
  ids: readonly string[],
  a: CpuSnap | undefined,
  b: CpuSnap | undefined,
  seconds: number,
): PhaseCpu | null {
  if (a === undefined || b === undefined || b.total <= a.total || seconds <= 0) return null;
  const cores = availableParallelism();
  const busy = 1 - (b.idle - a.idle) / (b.total - a.total);
  const ticksPerSec = (b.total - a.total) / cores / seconds;
  const workers: Record<string, number> = {};
  ids.forEach((id, i) => {
    workers[id] = Number(((b.procs[i]! - a.procs[i]!) / ticksPerSec / seconds).toFixed(2));
  });
  return { workers, machine: Number((busy * cores).toFixed(2)) };
}

const quantile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/** The key of message `s`: the hot key for a `hotShare` of the messages (spread evenly), else a cold key. */
function keyOf(s: number, hotShare: number, coldKeys: number): string {
  const r = (s * 0.6180339887498949) % 1;
  return r < hotShare ? HOT_KEY : `k${s % coldKeys}`;
}

interface Sent {
  /** Produce time per seq (NaN: not sent). */
  readonly at: number[];
  readonly key: string[];
}

/**
 * Produces seqs [from, from + count) at `rate`/s to the input (each send carries every record due by then).
 * Returns [first produce time, last produce time].
 */
async function feed(
  producer: Producer,
  topic: string,
  o: HotkeyOptions,
  sent: Sent,
  from: number,
  count: number,
  rate: number,
): Promise<[number, number]> {
  const begin = Date.now();
  let i = 0;
  let last = begin;
  while (i < count) {
    const due = Math.min(count, Math.max(1, Math.floor(((Date.now() - begin) * rate) / 1000)));
    if (due <= i) {
      await sleep(2);
      continue;
    }
    const now = Date.now();
    const records: OutgoingRecord[] = [];
    for (; i < due; i++) {
      const s = from + i;
      const key = keyOf(s, o.hotShare, o.coldKeys);
      sent.at[s] = now;
      sent.key[s] = key;
      const m: WorkMessage = { s, t: now };
      records.push({ topic, key: Buffer.from(key), value: Buffer.from(JSON.stringify(m)), timestamp: now });
    }
    await producer.send(records);
    last = now;
  }
  return [begin, last];
}

interface Out {
  ts: number;
  w: string;
  h: number;
  ingestHeader: number;
  t: number;
  total?: number;
}

/**
 * The egress, read incrementally (read_committed): the first output per message seq, duplicates, and the
 * critical reports.
 */
class Outputs {
  readonly bySeq = new Map<number, Out>();
  readonly reports: Out[] = [];
  duplicates = 0;
  private readonly transport: Transport;
  private readonly topic: string;
  private readonly next: number[];

  constructor(transport: Transport, topic: string, partitions: number) {
    this.transport = transport;
    this.topic = topic;
    this.next = new Array(partitions).fill(0);
  }

  /** Reads what was committed since the last poll. */
  async poll(): Promise<void> {
    const from = this.next.map((fromOffset, partition) => ({ topic: this.topic, partition, fromOffset }));
    const ends = await this.transport.readToEnd(from, (records: readonly IncomingRecord[]) => {
      for (const r of records) this.add(r);
    });
    for (const e of ends) this.next[e.partition] = Math.max(this.next[e.partition]!, e.offset);
  }

  private add(r: IncomingRecord): void {
    const v = JSON.parse(r.value!.toString('utf8')) as WorkOutput;
    const out: Out = {
      ts: r.timestamp,
      w: v.w,
      h: v.h,
      t: v.t,
      ingestHeader: Number(r.headers['dirigo-ingest']?.toString('latin1')),
      ...(v.total === undefined ? {} : { total: v.total }),
    };
    if (v.total !== undefined) {
      this.reports.push(out);
      return;
    }
    const prev = this.bySeq.get(v.s);
    if (prev !== undefined) {
      this.duplicates++;
      if (prev.ts <= out.ts) return;
    }
    this.bySeq.set(v.s, out);
  }

  /** How many of seqs [from, to) have an output. */
  count(from: number, to: number): number {
    let n = 0;
    for (let s = from; s < to; s++) if (this.bySeq.has(s)) n++;
    return n;
  }
}

/** Samples the hot key's lease state on every worker every 100 ms until `stop()`. */
function sampleHotLease(workers: readonly WorkerProc[]): { stop(): Promise<HotLeaseShare> } {
  const share: HotLeaseShare = { samples: 0, active: 0, revoking: 0, none: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const views = (await Promise.all(workers.map((w) => w.leases()))).flatMap((l) => l.leases);
        const hot = views.find((v) => v.key === HOT_KEY);
        share.samples++;
        if (hot === undefined) share.none++;
        else if (hot.slots.length > 0) share.active++;
        else share.revoking++;
      } catch {
        // a worker busy or gone: skip the sample
      }
      await sleep(Math.max(0, 100 - (Date.now() - at)));
    }
  })();
  const r3 = (x: number) => Number(x.toFixed(3));
  return {
    async stop() {
      running = false;
      await loop;
      const n = Math.max(1, share.samples);
      return {
        samples: share.samples,
        active: r3(share.active / n),
        revoking: r3(share.revoking / n),
        none: r3(share.none / n),
      };
    },
  };
}

async function allLeases(workers: readonly WorkerProc[]): Promise<Record<string, WorkerLeases>> {
  const out: Record<string, WorkerLeases> = {};
  for (const w of workers) out[w.id] = await w.leases();
  return out;
}

/**
 * Waits until every message sent so far (seqs below `upTo`) has a committed output and no worker holds a lease
 * any more (revoked and its final partial merged back). False after `timeoutMs`.
 */
async function drain(
  outputs: Outputs,
  upTo: number,
  workers: readonly WorkerProc[],
  timeoutMs: number,
  log: Logger,
): Promise<boolean> {
  const by = Date.now() + timeoutMs;
  let l: Record<string, WorkerLeases> = {};
  while (Date.now() < by) {
    await outputs.poll();
    if (outputs.count(0, upTo) === upTo) {
      l = await allLeases(workers);
      if (Object.values(l).every((x) => x.leases.length === 0)) return true;
    }
    await sleep(100);
  }
  log.warn(
    {
      outputs: outputs.count(0, upTo),
      sent: upTo,
      leases: Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.leases])),
    },
    'did not drain',
  );
  return false;
}

function lessorOf(c: Record<string, WorkerLeases>): string | undefined {
  let best: string | undefined;
  for (const [id, l] of Object.entries(c)) {
    if (
      l.counters.forwarded > 0 &&
      (best === undefined || l.counters.forwarded > c[best]!.counters.forwarded)
    )
      best = id;
  }
  return best;
}

function scaleIn(
  c: Record<string, WorkerLeases>,
  lessor: string | undefined,
  feedEnd: number,
  since: number,
): { fromLastForwardMs: number; fromFeedEndMs: number } | null {
  if (lessor === undefined) return null;
  const k = c[lessor]!.counters;
  if (k.lastForwardAt < since || k.lastFinalMergeAt < k.lastForwardAt) return null;
  return {
    fromLastForwardMs: k.lastFinalMergeAt - k.lastForwardAt,
    fromFeedEndMs: k.lastFinalMergeAt - feedEnd,
  };
}

async function runMode(
  o: HotkeyOptions,
  transport: Transport,
  runId: string,
  mode: Mode,
  pacedRate: (overload: OverloadResult) => number,
  logDir: string,
): Promise<ModeResult> {
  const policy = mode === 'leasingOn' ? 'dirigo' : 'edf';
  /** The dirigo policy's options given on the command line (none: its defaults). */
  const dirigoOptions = Object.fromEntries(
    Object.entries({ marginMs: o.marginMs, forwardDelayMs: o.forwardDelayMs }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  const log = o.logger.child({ mode });
  const ns = `hk-${runId}-${mode === 'leasingOn' ? 'on' : 'off'}`;
  const t = hotkeyTopics(ns);
  const admin = await transport.admin();
  await admin.createTopics([{ name: t.input, partitions: o.partitions }]);
  const workers: WorkerProc[] = [];
  for (let i = 0; i < o.workers; i++) {
    const workerId = `hk-${mode === 'leasingOn' ? 'on' : 'off'}-w${i}`;
    workers.push(
      new WorkerProc(
        {
          brokers: o.brokers,
          transport: o.transport,
          workerId,
          policy,
          ...(policy === 'dirigo' ? { policyOptions: dirigoOptions } : {}),
          controlTopic: t.control,
          loadReportIntervalMs: o.loadReportIntervalMs,
          pipelineSteps: o.pipelineSteps,
          app: {
            namespace: ns,
            partitions: o.partitions,
            latencyTargetMs: o.targetMs,
            costMs: o.costMs,
            idleRevokeMs: o.idleRevokeMs,
            slots: o.slots,
            ...(o.stepBudgetMs === undefined ? {} : { stepBudgetMs: o.stepBudgetMs }),
          },
        },
        join(logDir, `${mode}-w${i}.log`),
      ),
    );
  }
  const producer = transport.producer({ clientId: `hk-feeder-${mode}` });
  const ids = workers.map((w) => w.id);
  const outputs = new Outputs(transport, t.output, o.partitions);
  try {
    await producer.connect();
    // Ready: started, owns lease slots, and sees a peer's lease slots in the load reports (a lessee to pick).
    const readyBy = Date.now() + 90_000;
    while (
      !workers.every(
        (w) => w.port !== undefined && (w.last?.slots?.length ?? 0) > 0 && w.last?.peerSlots === true,
      )
    ) {
      if (Date.now() > readyBy) throw new Error(`workers not ready after 90 s (logs in ${logDir})`);
      if (workers.some((w) => !w.running))
        throw new Error(`a worker exited during start (logs in ${logDir})`);
      await sleep(100);
    }
    for (const w of workers) {
      for (;;) {
        const r = await fetch(`http://127.0.0.1:${w.port}/readyz`);
        if (r.ok) break;
        if (Date.now() > readyBy) throw new Error(`worker ${w.id} not ready after 90 s (logs in ${logDir})`);
        await sleep(100);
      }
    }
    log.info('workers ready');
    const sent: Sent = { at: [], key: [] };
    // Warm-up: a low rate over every key (partitions open, handlers compiled, cost estimates learnt).
    const warm = 200;
    await feed(producer, t.input, o, sent, 0, warm, 100);
    if (!(await drain(outputs, sent.at.length, workers, o.drainTimeoutMs, log)))
      log.warn('warm-up did not drain');
    const loadStart = loadavg()[0]!;
    const pids = workers.map((w) => w.proc.pid ?? 0);

    // 1. Overload.
    const oFrom = warm;
    const snaps: (CpuSnap | undefined)[] = [];
    const feedMs = (o.records / o.overloadRate) * 1000;
    const skipMs = feedMs * 0.3;
    const cpuTimer = setTimeout(() => snaps.push(cpuSnap(pids)), skipMs);
    const oSampler = sampleHotLease(workers);
    const [oStart, oEnd] = await feed(producer, t.input, o, sent, oFrom, o.records, o.overloadRate);
    const oLease = await oSampler.stop();
    clearTimeout(cpuTimer);
    const oCpu = cpuBusy(ids, snaps[0], cpuSnap(pids), (Date.now() - oStart - skipMs) / 1000);
    const oDrained = await drain(outputs, sent.at.length, workers, o.drainTimeoutMs, log);
    const oDrainMs = Date.now() - oEnd;
    if (!oDrained) log.warn('overload phase did not drain');
    const afterOverload = await allLeases(workers);
    const windowFrom = oStart + skipMs;

    // 2. Paced.
    const pFrom = oFrom + o.records;
    const overloadPartial: OverloadResult = {
      offeredPerSec: o.overloadRate,
      sent: o.records,
      feedMs: oEnd - oStart,
      windowMs: Math.max(1, oEnd - windowFrom),
      outputsInWindow: 0,
      recordsPerSec: 0,
      recordsPerWorkerCoreSec: null,
      perWorker: {},
      cpu: oCpu,
      drainMs: oDrainMs,
      drained: oDrained,
      hotLease: oLease,
    };
    // The paced rate may depend on the overload throughput: count it now (a read of the egress so far).
    countOverload(overloadPartial, outputs.bySeq, sent, oFrom, o.records, windowFrom, oEnd, ids);
    const rate = pacedRate(overloadPartial);
    const pCount = Math.round(rate * o.seconds);
    const pCpu0 = cpuSnap(pids);
    const pSampler = sampleHotLease(workers);
    const [pStart, pEnd] = await feed(producer, t.input, o, sent, pFrom, pCount, rate);
    const pLease = await pSampler.stop();
    const pCpu = cpuBusy(ids, pCpu0, cpuSnap(pids), (Date.now() - pStart) / 1000);
    const pDrained = await drain(outputs, sent.at.length, workers, o.drainTimeoutMs, log);
    const pDrainMs = Date.now() - pEnd;
    if (!pDrained) log.warn('paced phase did not drain');
    const loadEnd = loadavg()[0]!;

    // 3. The critical report of the hot key.
    const reportSeq = pFrom + pCount;
    const report: WorkMessage = { s: reportSeq, t: Date.now(), report: true };
    await producer.send([
      { topic: t.input, key: Buffer.from(HOT_KEY), value: Buffer.from(JSON.stringify(report)) },
    ]);
    const reportBy = Date.now() + o.drainTimeoutMs;
    while (outputs.reports.length === 0 && Date.now() < reportBy) {
      await sleep(100);
      await outputs.poll();
    }
    if (outputs.reports.length === 0) log.warn('the report was not processed');
    const final = await allLeases(workers);
    await Promise.all(workers.map((w) => w.stop()));

    await outputs.poll();
    const outs = outputs;
    const overload = overloadPartial;
    countOverload(overload, outs.bySeq, sent, oFrom, o.records, windowFrom, oEnd, ids);

    const lat: number[] = [];
    const handled: number[] = [];
    const pPer: Record<string, { hot: number; all: number }> = Object.fromEntries(
      ids.map((id) => [id, { hot: 0, all: 0 }]),
    );
    const byWorker = new Map<string, { lat: number[]; handled: number[]; met: number }>();
    let met = 0;
    let pOut = 0;
    for (let s = pFrom; s < pFrom + pCount; s++) {
      const out = outs.bySeq.get(s);
      if (out === undefined) continue;
      pOut++;
      const l = out.ts - sent.at[s]!;
      const h = out.h - sent.at[s]!;
      lat.push(l);
      handled.push(h);
      if (l <= o.targetMs) met++;
      tally(pPer, out.w, sent.key[s] === HOT_KEY);
      let w = byWorker.get(out.w);
      if (w === undefined) {
        w = { lat: [], handled: [], met: 0 };
        byWorker.set(out.w, w);
      }
      w.lat.push(l);
      w.handled.push(h);
      if (l <= o.targetMs) w.met++;
    }
    lat.sort((a, b) => a - b);
    handled.sort((a, b) => a - b);
    const latencyPerWorker: PacedResult['latencyPerWorker'] = {};
    for (const [id, w] of byWorker) {
      w.lat.sort((a, b) => a - b);
      w.handled.sort((a, b) => a - b);
      latencyPerWorker[id] = {
        p50Ms: quantile(w.lat, 0.5),
        p99Ms: quantile(w.lat, 0.99),
        handledP50Ms: quantile(w.handled, 0.5),
        handledP99Ms: quantile(w.handled, 0.99),
        satisfaction: Number((w.met / w.lat.length).toFixed(3)),
      };
    }
    let rewritten = 0;
    for (const [s, out] of outs.bySeq) if (out.ingestHeader !== sent.at[s]) rewritten++;

    let hotSent = 0;
    for (const k of sent.key) if (k === HOT_KEY) hotSent++;
    const reported = outs.reports.length > 0 ? outs.reports[outs.reports.length - 1]!.total! : null;

    const lessor = lessorOf(final);
    const lessee =
      lessor === undefined
        ? undefined
        : Object.entries(final).find(([id, l]) => id !== lessor && l.counters.lesseeProcessed > 0)?.[0];
    const scaleOutMs =
      lessor !== undefined && lessee !== undefined
        ? final[lessee]!.counters.firstLesseeAt - final[lessor]!.counters.firstForwardAt
        : null;
    const ff = lessor === undefined ? 0 : final[lessor]!.counters.firstForwardAt;
    const firstForwardPhase =
      lessor === undefined ? null : ff < oStart ? 'warm-up' : ff < pStart ? 'overload' : 'paced';
    let hotOwner: string | null = lessor ?? null;
    if (hotOwner === null) {
      let best = -1;
      for (const [id, p] of Object.entries(overload.perWorker)) {
        if (p.hot > best) {
          best = p.hot;
          hotOwner = id;
        }
      }
    }
    const dispatcher: ModeResult['dispatcher'] = {};
    for (const w of workers) {
      const a = w.final?.scheduler?.apps?.hotkey;
      dispatcher[w.id] = {
        satisfaction: a?.satisfaction ?? null,
        latencyP99Ms: a?.latencyMs.p99 ?? Number.NaN,
        costMeanMs: a === undefined ? null : Number(a.costMs.mean.toFixed(3)),
        arrivals: a?.arrivals ?? {},
        completed: a?.completed ?? 0,
        cpuMs: w.final?.cpuMs ?? null,
      };
    }
    const r3 = (x: number) => Number(x.toFixed(3));
    return {
      mode,
      policy,
      namespace: ns,
      hotOwner,
      overload,
      paced: {
        rate,
        seconds: o.seconds,
        sent: pCount,
        outputs: pOut,
        missing: pCount - pOut,
        duplicates: outs.duplicates,
        p50Ms: quantile(lat, 0.5),
        p90Ms: quantile(lat, 0.9),
        p99Ms: quantile(lat, 0.99),
        maxMs: lat.length === 0 ? Number.NaN : lat[lat.length - 1]!,
        satisfaction: pCount === 0 ? 0 : r3(met / pCount),
        untilHandledP99Ms: quantile(handled, 0.99),
        perWorker: pPer,
        latencyPerWorker,
        cpu: pCpu,
        drainMs: pDrainMs,
        drained: pDrained,
        hotLease: pLease,
      },
      counters: { afterOverload, final },
      scaleOutMs,
      firstForwardPhase,
      scaleIn: {
        overload: scaleIn(afterOverload, lessorOf(afterOverload), oEnd, oStart),
        paced: scaleIn(final, lessor, pEnd, pStart),
      },
      check: { hotSent, reportedTotal: reported, ok: reported === hotSent },
      ingestHeaderRewritten: rewritten,
      dispatcher,
      loadAvg: [Number(loadStart.toFixed(2)), Number(loadEnd.toFixed(2))],
      timeline: { overload: [oStart, oEnd], paced: [pStart, pEnd] },
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await producer.disconnect().catch(() => {});
    const mine = (await admin.listTopics()).filter((x) => x.startsWith(`${ns}-`) || x.startsWith(`${ns}.`));
    await admin.deleteTopics(mine).catch(() => {});
  }
}

/** Counts an output of worker `w` (and of the hot key when `hot`). */
function tally(per: Record<string, { hot: number; all: number }>, w: string, hot: boolean): void {
  let p = per[w];
  if (p === undefined) {
    p = { hot: 0, all: 0 };
    per[w] = p;
  }
  p.all++;
  if (hot) p.hot++;
}

/** Fills the overload phase's throughput from the outputs read so far. */
function countOverload(
  r: OverloadResult,
  bySeq: ReadonlyMap<number, Out>,
  sent: Sent,
  from: number,
  count: number,
  windowFrom: number,
  windowTo: number,
  ids: readonly string[],
): void {
  let n = 0;
  const per: Record<string, { hot: number; all: number }> = Object.fromEntries(
    ids.map((id) => [id, { hot: 0, all: 0 }]),
  );
  for (const [s, out] of bySeq) {
    if (out.h < windowFrom || out.h > windowTo) continue;
    n++;
    tally(per, out.w, s >= from && s < from + count && sent.key[s] === HOT_KEY);
  }
  r.outputsInWindow = n;
  r.recordsPerSec = Math.round(n / (r.windowMs / 1000));
  r.perWorker = per;
  const cores = r.cpu === null ? 0 : Object.values(r.cpu.workers).reduce((a, b) => a + b, 0);
  r.recordsPerWorkerCoreSec = cores > 0 ? Math.round(r.recordsPerSec / cores) : null;
}

export interface HotkeyResult {
  leasingOff?: ModeResult;
  leasingOn?: ModeResult;
}

export async function runHotkey(o: HotkeyOptions): Promise<HotkeyResult> {
  const runId = Date.now().toString(36);
  const logDir = join(tmpdir(), `dirigo-bench-hotkey-${runId}`);
  mkdirSync(logDir, { recursive: true });
  process.stderr.write(`bench: hotkey worker logs in ${logDir}\n`);
  let rate: number | undefined = o.rate;
  const results: HotkeyResult = {};
  for (const mode of o.modes) {
    const started = Date.now();
    // A transport per mode (see isolation.ts: its watermark probe keeps every topic it was asked about).
    const transport = benchTransport(o.transport, o.brokers, `bench-hotkey-${mode}`, o.logger);
    try {
      const r = await runMode(
        o,
        transport,
        runId,
        mode,
        (overload) => {
          // Auto: a factor of the leasing-off throughput (one core for the hot key), fixed for later modes.
          rate ??= Math.max(1, Math.round(overload.recordsPerSec * o.autoRateFactor));
          return rate;
        },
        logDir,
      );
      results[mode] = r;
      process.stderr.write(
        `bench: ${mode} (${r.policy}): overload ${r.overload.recordsPerSec}/s of ${r.overload.offeredPerSec}/s offered; paced ${r.paced.rate}/s: p99 ${r.paced.p99Ms} ms, satisfaction ${r.paced.satisfaction}; forwarded ${Object.values(r.counters.final).reduce((s, c) => s + c.counters.forwarded, 0)} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
      );
    } finally {
      await transport.close();
    }
  }
  return results;
}
