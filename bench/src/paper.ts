// The Dirigo experiment on Kafka (`npm run bench -- paper`): four NEXMark apps (paper-apps.ts: two latency-
// critical, two best effort) co-located on one pool of worker PROCESSES (paper-worker.ts), fed generated events
// in real time under a load that changes over time (square or sine; constant with --steady) with a hot key
// (the generator's hot auction, and Q7's single key, which every bid goes through). The same workload runs three
// times, each on a fresh namespace, topics and control topic:
//
// - fifoPeak: policy `fifo`, no leasing, `peakWorkers` processes: a static allocation sized for the peak;
// - fifoEqual: policy `fifo`, no leasing, `workers` processes (as many as dirigo);
// - dirigo: policy `dirigo` (earliest deadline first, and a hot key's messages that would miss their deadline
//   forwarded to a lessee on another worker: leasing), `workers` processes.
//
// Per run: the workers start and are ready (every app's partitions open, every worker sees a peer's lease
// slots), then the writer produces the events in real time (event time = wall time of writing: the generator's
// baseTime is the start of the feed) for warmupMs + durationMs + tailMs. Results are read from the results
// topics, which the driver creates with message.timestamp.type=LogAppendTime: a result's latency is the broker's
// append time minus its window's end, and it is on time when that is at most the app's target (the paper's
// deadline: window end + target). Only windows ending in [feed start + warmupMs, + durationMs] count; the tail
// lets the last of them close. The expected results are the direct computations of examples/nexmark
// (reference.ts) over the very events written: a result that never came counts as missed, and a result whose
// value differs from the direct computation is counted as `wrong` (it still counts for timing).
//
// Resources, over the feed (start to end of writing): allocated worker-seconds = processes x wall seconds;
// consumed CPU-seconds = user + system time of the worker processes (from /proc), workers only (not the broker,
// not this driver).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { IncomingRecord, Logger, Producer } from '@dirigo/core';
import {
  eventTime,
  type HighestBidResult,
  type HotItemsResult,
  highestBidReference,
  hotItemsReference,
  type NewUserResult,
  NexmarkGenerator,
  type NexmarkOptions,
  type Q7Result,
  q7Reference,
  q8Reference,
  type RateShape,
  writeNexmark,
} from '@dirigo/example-nexmark';
import { KafkajsTransport } from '@dirigo/kafkajs';
import type { LeaseCounters, LeaseView, SchedulerSnapshot } from '@dirigo/runtime';
import {
  closeDelayMs,
  messageTargetMs,
  PAPER_APPS,
  PAPER_INPUTS,
  type PaperAppName,
  type PaperAppsConfig,
  type PaperTopics,
  paperTopics,
} from './paper-apps.ts';
import type { PaperWorkerConfig } from './paper-worker.ts';
import { processCpuSeconds } from './proc-cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type RunName = 'fifoPeak' | 'fifoEqual' | 'dirigo';
export const RUNS: readonly RunName[] = ['fifoPeak', 'fifoEqual', 'dirigo'];

export interface PaperOptions {
  readonly brokers: string;
  readonly runs: readonly RunName[];
  /** Worker processes of fifoPeak. */
  readonly peakWorkers: number;
  /** Worker processes of fifoEqual and dirigo. */
  readonly workers: number;
  readonly partitions: number;
  readonly concurrency: number;
  /** Events per second over time (all kinds of events; 46 of 50 are bids). */
  readonly rate: RateShape;
  /** Hot auction: 1 - 1/ratio of the bids go to the current hot auction (the generator's `hot` skew). */
  readonly hotAuctionRatio: number;
  readonly seed: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly tailMs: number;
  /** After the feed: how long to wait for the counted results still missing. */
  readonly drainTimeoutMs: number;
  readonly windowMs: number;
  readonly graceMs: number;
  readonly slideMs: number;
  readonly targets: Readonly<Record<PaperAppName, number>>;
  readonly critical: readonly PaperAppName[];
  /** Added wall-clock cost per message of each app's heavy function, ms. */
  readonly costMs: Readonly<Record<PaperAppName, number>>;
  readonly idleRevokeMs: number;
  readonly slots: number;
  /** Options of the dirigo policy (undefined: its defaults). */
  readonly dirigoOptions: Record<string, number> | undefined;
  /**
   * How many times to run the three runs (each round in a rotated order: the machine's load drifts); results are
   * pooled over the rounds.
   */
  readonly rounds: number;
  /** Buckets of the time series (latency by window end, lessees), ms. */
  readonly bucketMs: number;
  readonly logger: Logger;
}

/** Satisfaction and latency of one app's results (or of several apps' pooled). */
export interface Outcome {
  expected: number;
  received: number;
  onTime: number;
  missing: number;
  /** Received results whose value differs from the direct computation. */
  wrong: number;
  duplicates: number;
  /** Results on time over results expected; null when no result was expected. */
  satisfaction: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Every received result's latency, ms, sorted (for pooling rounds). */
  latencies: number[];
}

export interface RunResult {
  run: RunName;
  policy: string;
  /** Whether this run may lease (the dirigo policy). */
  leases: boolean;
  workers: number;
  namespace: string;
  /** Latency-critical apps pooled (the headline satisfaction). */
  overall: Outcome;
  /** Every app pooled. */
  allApps: Outcome;
  apps: Record<PaperAppName, Outcome>;
  workerSeconds: number;
  cpuSeconds: number | null;
  cpuPerWorker: Record<string, number>;
  /** Wall seconds of the feed (the resource window). */
  feedSeconds: number;
  writer: { events: number; bids: number; wallMs: number; plannedMs: number };
  /** Per bucket of window end (s since feed start): p99 latency of the latency-critical apps' results. */
  latencySeries: { t: number; p99Ms: number | null; onTime: number; results: number }[];
  /** Per lease sample (s since feed start): lessees of Q7's key and every key leased at that moment. */
  leaseSeries: { t: number; hotKeyLessees: number; leasedKeys: number; lessees: number }[];
  leasing: {
    forwarded: number;
    lesseeProcessed: number;
    granted: number;
    revoked: number;
    barriers: number;
  };
  /**
   * Per app: handler time summed over the workers (the dispatcher's cost counters, whole run: lessee work
   * included), seconds. The share of the pool's time each app took; wall time of handlers, not CPU.
   */
  handlerSeconds: Record<PaperAppName, number>;
  /**
   * Per worker, per app, the dispatcher's own view (whole run): messages completed, their latency (ingest to
   * handler end) and queueing p50/p99 ms, mean handler time ms.
   */
  dispatcher: Record<
    string,
    Record<
      string,
      {
        completed: number;
        latencyP50Ms: number;
        latencyP99Ms: number;
        queueingP99Ms: number;
        costMeanMs: number;
      }
    >
  >;
  /** Per worker, per app: messages the policy decided to forward (dispatcher counters at the end). */
  forwardDecisions: Record<string, Record<string, number>>;
  startupMs: number;
  drained: boolean;
  loadAvg: [number, number];
}

export interface PaperResult {
  /** Per run, every round pooled (see `poolRuns`). */
  runs: Partial<Record<RunName, RunResult>>;
  /** Each round's results (one round by default). */
  rounds: Partial<Record<RunName, RunResult>>[];
  /** Events per second of event time, per second since the feed start (the same events in every run). */
  offered: { t: number; events: number }[];
  params: Omit<PaperOptions, 'logger' | 'brokers'>;
}

interface WorkerLine {
  event: string;
  at: number;
  metricsPort?: number;
  slots?: number;
  peerSlots?: boolean;
  scheduler?: SchedulerSnapshot | null;
  cpuMs?: number;
  counters?: LeaseCounters;
}

class WorkerProc {
  readonly id: string;
  readonly proc: ChildProcess;
  port: number | undefined;
  last: WorkerLine | undefined;
  final: WorkerLine | undefined;
  readonly exited: Promise<void>;

  constructor(config: PaperWorkerConfig, logFile: string) {
    this.id = config.workerId;
    const log = openSync(logFile, 'a');
    this.proc = spawn(
      process.execPath,
      ['--conditions=source', join(here, 'paper-worker.ts'), JSON.stringify(config)],
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

  async leases(): Promise<{ counters: LeaseCounters; leases: LeaseView[] }> {
    const res = await fetch(`http://127.0.0.1:${this.port}/leases`);
    return (await res.json()) as { counters: LeaseCounters; leases: LeaseView[] };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(t);
  }
}

/** user + system CPU seconds of each process so far (Linux /proc); undefined elsewhere. */
function cpuSeconds(pids: readonly number[]): number[] | undefined {
  try {
    return pids.map(processCpuSeconds);
  } catch {
    return undefined;
  }
}

const quantile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const r3 = (x: number) => Number(x.toFixed(3));

/** One expected result: where its window ends, and its value as the direct computation has it. */
interface Expected {
  end: number;
  value: string;
}

/** A result's identity within its app (window start, and for Q8 the person). */
function resultId(app: PaperAppName, v: Record<string, unknown>): string {
  return app === 'q8' ? `${String(v.id)}@${String(v.start)}` : String(v.start);
}

/** The part of a result compared with the direct computation. */
function resultValue(app: PaperAppName, v: Record<string, unknown>): string {
  switch (app) {
    case 'hb':
      return `${String(v.auction)}:${String(v.price)}`;
    case 'q7':
      return `${String(v.auction)}:${String(v.bidder)}:${String(v.price)}:${String(v.dateTime)}`;
    case 'q5':
      return `${String(v.count)}:${JSON.stringify(v.auctions)}`;
    default:
      return `${String(v.name)}:${String(v.auctions)}`;
  }
}

/** The results each app must give for windows ending in [from, to], by result id. */
function expectedResults(
  events: ReturnType<NexmarkGenerator['take']>,
  o: PaperOptions,
  from: number,
  to: number,
): Record<PaperAppName, Map<string, Expected>> {
  const pick = <T extends { end: number }>(app: PaperAppName, rs: readonly T[]) => {
    const m = new Map<string, Expected>();
    for (const r of rs) {
      if (r.end <= from || r.end > to) continue;
      const v = r as unknown as Record<string, unknown>;
      m.set(resultId(app, v), { end: r.end, value: resultValue(app, v) });
    }
    return m;
  };
  return {
    hb: pick<HighestBidResult>('hb', highestBidReference(events, o.windowMs)),
    q7: pick<Q7Result>('q7', q7Reference(events, o.windowMs)),
    q5: pick<HotItemsResult>('q5', hotItemsReference(events, o.windowMs, o.slideMs)),
    q8: pick<NewUserResult>('q8', q8Reference(events, o.windowMs)),
  };
}

interface Seen {
  at: number;
  value: string;
}

/** The results topics, read incrementally (read_committed): the first result per id, and duplicates. */
class Results {
  readonly seen: Record<PaperAppName, Map<string, Seen>> = {
    hb: new Map(),
    q7: new Map(),
    q5: new Map(),
    q8: new Map(),
  };
  readonly duplicates: Record<PaperAppName, number> = { hb: 0, q7: 0, q5: 0, q8: 0 };
  private readonly next = new Map<string, number>();

  private readonly transport: KafkajsTransport;
  private readonly topics: Readonly<Record<PaperAppName, string>>;
  private readonly partitions: number;

  constructor(
    transport: KafkajsTransport,
    topics: Readonly<Record<PaperAppName, string>>,
    partitions: number,
  ) {
    this.transport = transport;
    this.topics = topics;
    this.partitions = partitions;
  }

  async poll(): Promise<void> {
    for (const app of PAPER_APPS) {
      const topic = this.topics[app];
      const from = Array.from({ length: this.partitions }, (_, partition) => ({
        topic,
        partition,
        fromOffset: this.next.get(`${topic}/${partition}`) ?? 0,
      }));
      const ends = await this.transport.readToEnd(from, (records: readonly IncomingRecord[]) => {
        for (const r of records) this.add(app, r);
      });
      for (const e of ends) {
        const k = `${topic}/${e.partition}`;
        this.next.set(k, Math.max(this.next.get(k) ?? 0, e.offset));
      }
    }
  }

  private add(app: PaperAppName, r: IncomingRecord): void {
    if (r.value === null) return;
    const v = JSON.parse(r.value.toString('utf8')) as Record<string, unknown>;
    const id = resultId(app, v);
    const prev = this.seen[app].get(id);
    if (prev !== undefined) {
      this.duplicates[app]++;
      return;
    }
    // The topic has message.timestamp.type=LogAppendTime: the broker's append time.
    this.seen[app].set(id, { at: r.timestamp, value: resultValue(app, v) });
  }

  /** Expected results not seen yet. */
  missing(expected: Record<PaperAppName, Map<string, Expected>>): number {
    let n = 0;
    for (const app of PAPER_APPS) for (const id of expected[app].keys()) if (!this.seen[app].has(id)) n++;
    return n;
  }
}

function outcome(
  pairs: { expected: Expected; seen: Seen | undefined; target: number }[],
  duplicates: number,
): Outcome {
  const lat: number[] = [];
  let onTime = 0;
  let wrong = 0;
  for (const p of pairs) {
    if (p.seen === undefined) continue;
    const l = p.seen.at - p.expected.end;
    lat.push(l);
    if (l <= p.target) onTime++;
    if (p.seen.value !== p.expected.value) wrong++;
  }
  lat.sort((a, b) => a - b);
  return {
    expected: pairs.length,
    received: lat.length,
    onTime,
    missing: pairs.length - lat.length,
    wrong,
    duplicates,
    satisfaction: pairs.length === 0 ? null : r3(onTime / pairs.length),
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    maxMs: lat.length === 0 ? null : lat[lat.length - 1]!,
    latencies: lat,
  };
}

/** Outcomes of several rounds as one: counts added, latencies pooled. */
function poolOutcomes(xs: readonly Outcome[]): Outcome {
  const sum = (k: 'expected' | 'received' | 'onTime' | 'missing' | 'wrong' | 'duplicates') =>
    xs.reduce((n, x) => n + x[k], 0);
  const lat = xs.flatMap((x) => x.latencies).sort((a, b) => a - b);
  const expected = sum('expected');
  return {
    expected,
    received: sum('received'),
    onTime: sum('onTime'),
    missing: sum('missing'),
    wrong: sum('wrong'),
    duplicates: sum('duplicates'),
    satisfaction: expected === 0 ? null : r3(sum('onTime') / expected),
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    maxMs: lat.length === 0 ? null : lat[lat.length - 1]!,
    latencies: lat,
  };
}

/**
 * The rounds of one run as one result: satisfaction and latency over every round's results, resources added up;
 * the time series, dispatcher views and start-up time are the first round's.
 */
function poolRuns(rs: readonly RunResult[]): RunResult {
  const first = rs[0]!;
  if (rs.length === 1) return first;
  const add = (f: (r: RunResult) => number) => r3(rs.reduce((n, r) => n + f(r), 0));
  const apps = Object.fromEntries(
    PAPER_APPS.map((a) => [a, poolOutcomes(rs.map((r) => r.apps[a]))]),
  ) as Record<PaperAppName, Outcome>;
  return {
    ...first,
    overall: poolOutcomes(rs.map((r) => r.overall)),
    allApps: poolOutcomes(rs.map((r) => r.allApps)),
    apps,
    workerSeconds: add((r) => r.workerSeconds),
    cpuSeconds: rs.some((r) => r.cpuSeconds === null) ? null : add((r) => r.cpuSeconds!),
    feedSeconds: add((r) => r.feedSeconds),
    handlerSeconds: Object.fromEntries(PAPER_APPS.map((a) => [a, add((r) => r.handlerSeconds[a])])) as Record<
      PaperAppName,
      number
    >,
    leasing: {
      forwarded: add((r) => r.leasing.forwarded),
      lesseeProcessed: add((r) => r.leasing.lesseeProcessed),
      granted: add((r) => r.leasing.granted),
      revoked: add((r) => r.leasing.revoked),
      barriers: add((r) => r.leasing.barriers),
    },
    drained: rs.every((r) => r.drained),
  };
}

type PaperParams = Omit<PaperOptions, 'logger' | 'brokers'>;

function appsConfig(o: PaperParams, namespace: string): PaperAppsConfig {
  return {
    namespace,
    partitions: o.partitions,
    windowMs: o.windowMs,
    graceMs: o.graceMs,
    slideMs: o.slideMs,
    targets: o.targets,
    critical: o.critical,
    costMs: o.costMs,
    leasing: { slots: o.slots, idleRevokeMs: o.idleRevokeMs },
    eventTime: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 10_000, watermarkIntervalMs: 200 },
  };
}

function generatorOptions(o: PaperOptions, baseTime: number): NexmarkOptions {
  return {
    seed: o.seed,
    baseTime,
    rate: o.rate,
    skew: { kind: 'hot', hotAuctionRatio: o.hotAuctionRatio },
    // Every bid and auction refers to an existing auction and person (Q8's join needs the person first).
    idLead: 0,
  };
}

/** Placeholder topics the writer is given; `copyingProducer` writes each record to every app's copy instead. */
const WRITE_TOPIC = { persons: '@persons', auctions: '@auctions', bids: '@bids' } as const;

/** A producer that writes each record of the writer to the copy of every app that reads its kind of event. */
function copyingProducer(inner: Producer, t: PaperTopics): Producer {
  const targets: Record<string, string[]> = {};
  for (const kind of ['persons', 'auctions', 'bids'] as const)
    targets[WRITE_TOPIC[kind]] = PAPER_APPS.filter((a) => PAPER_INPUTS[a].includes(kind)).map(
      (a) => t.apps[a][kind],
    );
  return {
    connect: () => inner.connect(),
    disconnect: () => inner.disconnect(),
    beginTransaction: () => inner.beginTransaction(),
    send: (records) =>
      inner.send(records.flatMap((r) => (targets[r.topic] ?? [r.topic]).map((topic) => ({ ...r, topic })))),
  };
}

/** Samples every worker's leases (as lessor) every 250 ms until `stop()`. */
function sampleLeases(workers: readonly WorkerProc[], since: () => number) {
  const series: RunResult['leaseSeries'] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const views = (await Promise.all(workers.map((w) => w.leases()))).flatMap((l) => l.leases);
        const hot = views.find((v) => v.app === 'q7' && v.fn === 'highest');
        series.push({
          t: r3((at - since()) / 1000),
          hotKeyLessees: hot?.slots.length ?? 0,
          leasedKeys: views.filter((v) => v.slots.length > 0).length,
          lessees: views.reduce((n, v) => n + v.slots.length, 0),
        });
      } catch {
        // a worker busy or gone: skip the sample
      }
      await sleep(Math.max(0, 250 - (Date.now() - at)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return series;
    },
  };
}

async function runOne(
  o: PaperOptions,
  run: RunName,
  runId: string,
  logDir: string,
): Promise<{ result: RunResult; offered: PaperResult['offered'] }> {
  const policy = run === 'dirigo' ? 'dirigo' : 'fifo';
  const n = run === 'fifoPeak' ? o.peakWorkers : o.workers;
  const log = o.logger.child({ run });
  const ns = `pp-${runId}-${run}`;
  const t = paperTopics(ns);
  const transport = new KafkajsTransport({
    brokers: o.brokers.split(','),
    clientId: `bench-paper-${run}`,
    logger: o.logger,
  });
  const admin = await transport.admin();
  const workers: WorkerProc[] = [];
  const producer = transport.producer({ clientId: `paper-writer-${run}` });
  const startBegin = Date.now();
  try {
    await admin.createTopics([
      ...PAPER_APPS.flatMap((app) => PAPER_INPUTS[app].map((kind) => t.apps[app][kind])).map((name) => ({
        name,
        partitions: o.partitions,
      })),
      ...PAPER_APPS.map((app) => ({
        name: t.apps[app].results,
        partitions: o.partitions,
        config: { 'message.timestamp.type': 'LogAppendTime' },
      })),
    ]);
    const appsCfg = appsConfig(o, ns);
    for (let i = 0; i < n; i++) {
      const workerId = `${ns}-w${i}`;
      const config: PaperWorkerConfig = {
        brokers: o.brokers,
        workerId,
        policy,
        ...(policy === 'dirigo' && o.dirigoOptions !== undefined ? { policyOptions: o.dirigoOptions } : {}),
        loadReportIntervalMs: 250,
        concurrency: o.concurrency,
        apps: appsCfg,
      };
      workers.push(new WorkerProc(config, join(logDir, `${run}-w${i}.log`)));
    }
    await producer.connect();
    // Ready: every worker started, every app's partitions open (readyz), and every worker sees a peer's lease
    // slots in the load reports (a lessee to pick; harmless for fifo, which never forwards).
    const readyBy = Date.now() + 180_000;
    for (;;) {
      if (Date.now() > readyBy) throw new Error(`workers not ready after 180 s (logs in ${logDir})`);
      if (workers.some((w) => !w.running))
        throw new Error(`a worker exited during start (logs in ${logDir})`);
      if (workers.every((w) => w.port !== undefined && (n === 1 || w.last?.peerSlots === true))) {
        const ok = await Promise.all(
          workers.map((w) =>
            fetch(`http://127.0.0.1:${w.port}/readyz`)
              .then((r) => r.ok)
              .catch(() => false),
          ),
        );
        if (ok.every(Boolean)) break;
      }
      await sleep(200);
    }
    const startupMs = Date.now() - startBegin;
    log.info({ startupMs }, 'workers ready');

    // The feed: event time = wall time of writing (baseTime = the feed's start).
    const baseTime = Date.now();
    const plannedMs = o.warmupMs + o.durationMs + o.tailMs;
    const pids = workers.map((w) => w.proc.pid ?? 0);
    const loadStart = loadavg()[0]!;
    const results = new Results(
      transport,
      Object.fromEntries(PAPER_APPS.map((a) => [a, t.apps[a].results])) as Record<PaperAppName, string>,
      o.partitions,
    );
    const sampler = sampleLeases(workers, () => baseTime);
    const cpu0 = cpuSeconds(pids);
    const feedStart = Date.now();
    let feeding = true;
    const poller = (async () => {
      while (feeding) {
        await sleep(1000);
        await results.poll().catch(() => undefined);
      }
    })();
    const written = await writeNexmark(copyingProducer(producer, t), {
      topics: { persons: WRITE_TOPIC.persons, auctions: WRITE_TOPIC.auctions, bids: WRITE_TOPIC.bids },
      generator: new NexmarkGenerator(generatorOptions(o, baseTime)),
      durationMs: plannedMs,
      realTime: true,
    });
    const feedEnd = Date.now();
    const cpu1 = cpuSeconds(pids);
    feeding = false;
    await poller;

    // The same events again, for the direct computations and the offered load.
    const events = new NexmarkGenerator(generatorOptions(o, baseTime)).take(written.events);
    const from = baseTime + o.warmupMs;
    const to = from + o.durationMs;
    const expected = expectedResults(events, o, from, to);
    const drainBy = Date.now() + o.drainTimeoutMs;
    let drained = false;
    for (;;) {
      await results.poll();
      if (results.missing(expected) === 0) {
        drained = true;
        break;
      }
      if (Date.now() > drainBy) break;
      await sleep(500);
    }
    const leaseSeries = await sampler.stop();
    const loadEnd = loadavg()[0]!;
    const final: Record<string, { counters: LeaseCounters }> = {};
    for (const w of workers) final[w.id] = await w.leases().catch(() => ({ counters: zeroCounters() }));
    await Promise.all(workers.map((w) => w.stop()));

    const offeredBuckets = new Map<number, number>();
    for (const e of events) {
      const s = Math.floor((eventTime(e) - baseTime) / 1000);
      offeredBuckets.set(s, (offeredBuckets.get(s) ?? 0) + 1);
    }
    const offered = [...offeredBuckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, events]) => ({ t: s, events }));

    const pairs = (app: PaperAppName) =>
      [...expected[app].entries()].map(([id, e]) => ({
        expected: e,
        seen: results.seen[app].get(id),
        target: o.targets[app],
      }));
    const apps = Object.fromEntries(
      PAPER_APPS.map((app) => [app, outcome(pairs(app), results.duplicates[app])]),
    ) as Record<PaperAppName, Outcome>;
    const critPairs = o.critical.flatMap((app) => pairs(app));
    const sumDup = (names: readonly PaperAppName[]) => names.reduce((s, a) => s + results.duplicates[a], 0);
    const overall = outcome(critPairs, sumDup(o.critical));
    const allApps = outcome(
      PAPER_APPS.flatMap((app) => pairs(app)),
      sumDup(PAPER_APPS),
    );

    const buckets = new Map<number, { lat: number[]; onTime: number; results: number }>();
    for (const p of critPairs) {
      const b = Math.floor((p.expected.end - baseTime) / o.bucketMs);
      const x = buckets.get(b) ?? { lat: [], onTime: 0, results: 0 };
      buckets.set(b, x);
      x.results++;
      if (p.seen === undefined) continue;
      const l = p.seen.at - p.expected.end;
      x.lat.push(l);
      if (l <= p.target) x.onTime++;
    }
    const latencySeries = [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([b, x]) => ({
        t: (b * o.bucketMs) / 1000,
        p99Ms: quantile(
          x.lat.sort((a, c) => a - c),
          0.99,
        ),
        onTime: x.onTime,
        results: x.results,
      }));

    const feedSeconds = (feedEnd - feedStart) / 1000;
    const cpuPerWorker: Record<string, number> = {};
    let cpuTotal: number | null = null;
    if (cpu0 !== undefined && cpu1 !== undefined) {
      cpuTotal = 0;
      workers.forEach((w, i) => {
        const c = cpu1[i]! - cpu0[i]!;
        cpuPerWorker[w.id] = r3(c);
        cpuTotal! += c;
      });
    }
    const sumCounter = (k: keyof LeaseCounters) =>
      Object.values(final).reduce((s, x) => s + (x.counters[k] as number), 0);
    const forwardDecisions: RunResult['forwardDecisions'] = {};
    const dispatcher: RunResult['dispatcher'] = {};
    const handlerSeconds = Object.fromEntries(PAPER_APPS.map((a) => [a, 0])) as Record<PaperAppName, number>;
    for (const w of workers) {
      const snaps = w.final?.scheduler?.apps ?? {};
      for (const a of PAPER_APPS) handlerSeconds[a] += (snaps[a]?.costMs.total ?? 0) / 1000;
      dispatcher[w.id] = Object.fromEntries(
        Object.entries(snaps).map(([name, a]) => [
          name,
          {
            completed: a.completed,
            latencyP50Ms: Math.round(a.latencyMs.p50),
            latencyP99Ms: Math.round(a.latencyMs.p99),
            queueingP99Ms: Math.round(a.queueingMs.p99),
            costMeanMs: r3(a.costMs.mean),
          },
        ]),
      );
      forwardDecisions[w.id] = Object.fromEntries(
        Object.entries(snaps).map(([name, a]) => [name, a.arrivals.forward ?? 0]),
      );
    }
    return {
      offered,
      result: {
        run,
        policy,
        leases: policy === 'dirigo',
        workers: n,
        namespace: ns,
        overall,
        allApps,
        apps,
        workerSeconds: r3(n * feedSeconds),
        cpuSeconds: cpuTotal === null ? null : r3(cpuTotal),
        cpuPerWorker,
        feedSeconds: r3(feedSeconds),
        writer: { events: written.events, bids: written.bids, wallMs: Math.round(written.wallMs), plannedMs },
        latencySeries,
        leaseSeries,
        leasing: {
          forwarded: sumCounter('forwarded'),
          lesseeProcessed: sumCounter('lesseeProcessed'),
          granted: sumCounter('granted'),
          revoked: sumCounter('revoked'),
          barriers: sumCounter('barriers'),
        },
        handlerSeconds: Object.fromEntries(PAPER_APPS.map((a) => [a, r3(handlerSeconds[a])])) as Record<
          PaperAppName,
          number
        >,
        dispatcher,
        forwardDecisions,
        startupMs,
        drained,
        loadAvg: [r3(loadStart), r3(loadEnd)],
      },
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await producer.disconnect().catch(() => {});
    const mine = (await admin.listTopics().catch(() => [] as string[])).filter(
      (x) => x.startsWith(`${ns}-`) || x.startsWith(`${ns}.`),
    );
    await admin.deleteTopics(mine).catch(() => {});
    await transport.close();
  }
}

function zeroCounters(): LeaseCounters {
  return {
    granted: 0,
    slotsAdded: 0,
    revoked: 0,
    forwarded: 0,
    syncs: 0,
    merged: 0,
    barriers: 0,
    blockedMs: 0,
    blockedPeriods: 0,
    stale: 0,
    unknown: 0,
    lesseeProcessed: 0,
    replies: 0,
    rejectedForwards: 0,
    firstForwardAt: 0,
    lastForwardAt: 0,
    firstLesseeAt: 0,
    lastFinalMergeAt: 0,
  } as LeaseCounters;
}

/** The per-message targets the dispatcher uses, per app (for the report). */
export function messageTargets(o: PaperParams): Record<PaperAppName, number> {
  const c = appsConfig(o, 'x');
  return Object.fromEntries(PAPER_APPS.map((a) => [a, messageTargetMs(c, a)])) as Record<
    PaperAppName,
    number
  >;
}

export function closeDelays(o: PaperParams): Record<PaperAppName, number> {
  return closeDelayMs(o);
}

export async function runPaper(o: PaperOptions): Promise<PaperResult> {
  const runId = Date.now().toString(36);
  const logDir = join(tmpdir(), `dirigo-bench-paper-${runId}`);
  mkdirSync(logDir, { recursive: true });
  process.stderr.write(`bench: paper worker logs in ${logDir}\n`);
  const { logger: _l, brokers: _b, ...params } = o;
  const out: PaperResult = { runs: {}, rounds: [], offered: [], params };
  for (let round = 0; round < o.rounds; round++) {
    const order = o.runs.map((_, i) => o.runs[(i + round) % o.runs.length]!);
    const results: Partial<Record<RunName, RunResult>> = {};
    out.rounds.push(results);
    for (const run of order) {
      const started = Date.now();
      const { result, offered } = await runOne(o, run, `${runId}r${round}`, logDir);
      results[run] = result;
      if (round === 0) out.offered = offered;
      process.stderr.write(
        `bench: round ${round + 1}/${o.rounds} ${run} (${result.policy}, ${result.workers} workers): satisfaction ${result.overall.satisfaction} (critical apps; all apps ${result.allApps.satisfaction}), p50 ${result.overall.p50Ms} ms, p99 ${result.overall.p99Ms} ms, missing ${result.allApps.missing}, wrong ${result.allApps.wrong}; ${result.workerSeconds} worker-s, ${result.cpuSeconds} CPU-s; forwarded ${result.leasing.forwarded}; start ${(result.startupMs / 1000).toFixed(0)} s, run ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
      );
    }
  }
  for (const run of o.runs) {
    const rs = out.rounds.map((r) => r[run]).filter((r): r is RunResult => r !== undefined);
    if (rs.length > 0) out.runs[run] = poolRuns(rs);
  }
  return out;
}
