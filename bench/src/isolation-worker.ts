// One worker process of the isolation benchmark:
//   node --conditions=source bench/src/isolation-worker.ts '<json IsolationWorkerConfig>'
// Hosts both apps of isolation-apps.ts with the given scheduling policy. Writes JSON lines to stdout: `ready`
// once started, `stats` every second (steps/processed per app, so the driver can tell when partitions of both
// apps are being processed here), and `final` on SIGTERM, just before a graceful stop: scheduler metrics and
// timings of the Kafka path (see TimedTransport). Logs go to stderr.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type Consumer,
  type ConsumerHandlers,
  type ConsumerOptions,
  createLogger,
  type OutgoingRecord,
  type Producer,
  type ProducerOptions,
  type Transport,
} from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { Worker } from '@dirigo/runtime';
import { stopOnSignals } from '@dirigo/runtime/process';
import { type IsolationAppsConfig, isolationApps, isolationTopics } from './isolation-apps.ts';

export interface IsolationWorkerConfig {
  readonly brokers: string;
  readonly workerId: string;
  readonly policy: string;
  /** Partitions each function processes at once on this worker (WorkerOptions.concurrency). */
  readonly concurrency: number;
  readonly apps: IsolationAppsConfig;
}

/** p50 / p99 / max / count of a sample, in ms. */
export interface Dist {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** Where the time of each app's messages goes on the Kafka side of one worker. */
export interface PathTimings {
  /** Record timestamp (ingest) -> the step receiving it (eachBatch), per record. */
  delivered: Dist;
  /** eachBatch duration per step (scheduler wait + handlers + produce + commit). */
  step: Dist;
  /** Records per step. */
  stepRecords: Dist;
  /** Producer send of the step's outputs, per call. */
  send: Dist;
  /** Offset commit, per call. */
  commit: Dist;
}

class Sample {
  private readonly values: number[] = [];
  add(v: number): void {
    if (this.values.length < 200_000) this.values.push(v);
  }
  dist(): Dist {
    const v = [...this.values].sort((a, b) => a - b);
    const q = (p: number) => (v.length === 0 ? 0 : v[Math.min(v.length - 1, Math.floor(p * v.length))]!);
    const r = (x: number) => Math.round(x * 10) / 10;
    return { n: v.length, p50: r(q(0.5)), p99: r(q(0.99)), max: r(v[v.length - 1] ?? 0) };
  }
}

class AppPath {
  readonly delivered = new Sample();
  readonly step = new Sample();
  readonly stepRecords = new Sample();
  readonly send = new Sample();
  readonly commit = new Sample();
  timings(): PathTimings {
    return {
      delivered: this.delivered.dist(),
      step: this.step.dist(),
      stepRecords: this.stepRecords.dist(),
      send: this.send.dist(),
      commit: this.commit.dist(),
    };
  }
}

/**
 * A transport that times what the runtime does with Kafka, per app: when each input record reaches its step,
 * how long steps take, and the producer sends and offset commits. Apps are told apart by consumer group and
 * by the egress topic of the records sent. Instrumentation only; behaviour is the wrapped transport's.
 */
class TimedTransport implements Transport {
  readonly paths = new Map<string, AppPath>();
  private readonly inner: Transport;
  private readonly appOfGroup: (group: string) => string | undefined;
  private readonly appOfTopic: (topic: string) => string | undefined;

  constructor(
    inner: Transport,
    appOfGroup: (group: string) => string | undefined,
    appOfTopic: (topic: string) => string | undefined,
  ) {
    this.inner = inner;
    this.appOfGroup = appOfGroup;
    this.appOfTopic = appOfTopic;
  }

  get name(): string {
    return this.inner.name;
  }

  private path(app: string): AppPath {
    let p = this.paths.get(app);
    if (p === undefined) {
      p = new AppPath();
      this.paths.set(app, p);
    }
    return p;
  }

  admin() {
    return this.inner.admin();
  }

  readToEnd(...args: Parameters<Transport['readToEnd']>) {
    return this.inner.readToEnd(...args);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  producer(options?: ProducerOptions): Producer {
    const p = this.inner.producer(options);
    return {
      connect: () => p.connect(),
      disconnect: () => p.disconnect(),
      beginTransaction: () => p.beginTransaction(),
      send: async (records: readonly OutgoingRecord[]) => {
        const app = records.length > 0 ? this.appOfTopic(records[0]!.topic) : undefined;
        const t0 = performance.now();
        await p.send(records);
        if (app !== undefined) this.path(app).send.add(performance.now() - t0);
      },
    };
  }

  consumer(options: ConsumerOptions): Consumer {
    const c = this.inner.consumer(options);
    const app = this.appOfGroup(options.groupId);
    const path = app === undefined ? undefined : this.path(app);
    return {
      connect: () => c.connect(),
      subscribe: (topics) => c.subscribe(topics),
      pause: (topics) => c.pause(topics),
      resume: (topics) => c.resume(topics),
      seek: (position) => c.seek(position),
      assignment: () => c.assignment(),
      disconnect: () => c.disconnect(),
      commitOffsets: async (offsets) => {
        const t0 = performance.now();
        await c.commitOffsets(offsets);
        path?.commit.add(performance.now() - t0);
      },
      run: (handlers: ConsumerHandlers) =>
        c.run({
          ...handlers,
          eachBatch: async (batch) => {
            if (path === undefined) return handlers.eachBatch(batch);
            const now = Date.now();
            for (const r of batch.records) path.delivered.add(now - r.timestamp);
            path.stepRecords.add(batch.records.length);
            const t0 = performance.now();
            await handlers.eachBatch(batch);
            path.step.add(performance.now() - t0);
          },
        }),
    };
  }
}

function emit(event: string, data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write("usage: isolation-worker.ts '<json config>'\n");
    process.exit(2);
  }
  const config = JSON.parse(raw) as IsolationWorkerConfig;
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  const ns = config.apps.namespace;
  const topics = isolationTopics(ns);
  const transport = new TimedTransport(
    new KafkajsTransport({ brokers: config.brokers.split(','), clientId: config.workerId, logger }),
    (group) =>
      group.startsWith(`${ns}.critical.`)
        ? 'critical'
        : group.startsWith(`${ns}.batch.`)
          ? 'batch'
          : undefined,
    (topic) => (topic === topics.criticalOut ? 'critical' : topic === topics.batchOut ? 'batch' : undefined),
  );
  const worker = new Worker({
    transport,
    apps: isolationApps(config.apps),
    scheduler: { policy: config.policy },
    concurrency: config.concurrency,
    workerId: config.workerId,
    logger,
  });
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const appStats = () => Object.fromEntries([...worker.appStats()].map(([name, s]) => [name, { ...s }]));
  const timer = setInterval(() => emit('stats', { apps: appStats() }), 1000);
  stopOnSignals(worker, transport, logger, () => {
    clearInterval(timer);
    loop.disable();
    emit('final', {
      apps: appStats(),
      scheduler: worker.schedulerMetrics() ?? null,
      path: Object.fromEntries([...transport.paths].map(([app, p]) => [app, p.timings()])),
      eventLoopDelayMs: {
        p50: loop.percentile(50) / 1e6,
        p99: loop.percentile(99) / 1e6,
        max: loop.max / 1e6,
      },
    });
  });
  await worker.start();
  emit('ready', { workerId: config.workerId, policy: config.policy });
}

await main();
