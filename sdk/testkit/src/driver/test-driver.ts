// The test driver: runs apps on the in-memory transport with a test clock, through the same Worker code path
// as production. Pipe records into ingress topics, let the workers settle, then read egress topics, dead
// letters and actor state. Deterministic: time moves only when the test advances the clock.
import {
  type AppDefinition,
  type IncomingRecord,
  json,
  type Logger,
  type OutgoingRecord,
  type RecordHeaders,
  type ResolvedApp,
  resolveApp,
  type Serde,
  silentLogger,
} from '@dirigo/core';
import {
  type Clock,
  type LeaseCounters,
  type LeaseView,
  type RecordedRecord,
  readRecordFile,
  replayRecords,
  type SchedulerOptions,
  Worker,
  type WorkerOptions,
} from '@dirigo/runtime';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';

/** A clock that moves only when told to. */
export class TestClock implements Clock {
  private t: number;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface TestDriverOptions {
  /** Start time of the test clock. Default 2026-01-01T00:00:00Z. */
  readonly startTime?: number;
  /** Worker processes simulated on the shared in-memory cluster. Default 1. */
  readonly workers?: number;
  /** Partitions of ingress topics the driver creates. Default 4. */
  readonly ingressPartitions?: number;
  readonly logger?: Logger;
  /** The workers' data-plane scheduler (default: the worker's default, `edf`). */
  readonly scheduler?: SchedulerOptions | false;
  /** Test-only faults injected into leasing on every worker (see `WorkerOptions.leasingFaults`). */
  readonly leasingFaults?: WorkerOptions['leasingFaults'];
  /**
   * Serve each worker's metrics endpoint (`/metrics`, `/dashboard`, ...) on a free port (read it from
   * `driver.workers[i].metricsAddress`). Default false.
   */
  readonly metrics?: boolean;
  /** Tracing options of every worker (see `WorkerOptions.tracing`). */
  readonly tracing?: WorkerOptions['tracing'];
}

/** A record to pipe in. `value` is encoded with the ingress serde of the topic (JSON if none). */
export interface TestInput {
  /** Text (written as UTF-8), exact bytes, or null / absent for no key. */
  readonly key?: string | Buffer | null;
  readonly value: unknown;
  readonly headers?: Record<string, string>;
  /** Default: the test clock's now. */
  readonly timestamp?: number;
}

/** A record read back, value decoded. */
export interface TestOutput<T = unknown> {
  /** The key as UTF-8 text. */
  readonly key: string | null;
  /** The key's exact bytes. */
  readonly keyBytes: Buffer | null;
  readonly value: T;
  readonly headers: RecordHeaders;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
}

/**
 * The leasing counters of several workers as one: counts summed; the times of first events (`first*`, ms since
 * epoch, 0: never) the earliest of those that happened, the times of last events (`last*`) the latest.
 */
export function combineLeaseCounters(all: readonly LeaseCounters[]): LeaseCounters {
  const out: Record<string, number> = {};
  for (const c of all) {
    for (const [k, v] of Object.entries(c) as [string, number][]) {
      const prev = out[k];
      if (prev === undefined) out[k] = v;
      else if (k.startsWith('first')) out[k] = prev === 0 ? v : v === 0 ? prev : Math.min(prev, v);
      else if (k.startsWith('last')) out[k] = Math.max(prev, v);
      else out[k] = prev + v;
    }
  }
  return out as unknown as LeaseCounters;
}

export class TestDriver {
  readonly clock: TestClock;
  readonly kafka: MemoryKafka;
  readonly transport: MemoryTransport;
  readonly workers: Worker[] = [];
  private readonly apps: ResolvedApp[];
  private readonly options: TestDriverOptions;

  private constructor(apps: readonly AppDefinition[], options: TestDriverOptions) {
    this.options = options;
    this.clock = new TestClock(options.startTime);
    this.kafka = new MemoryKafka({ clock: this.clock, retryBackoffMs: 1 });
    this.transport = new MemoryTransport(this.kafka);
    this.apps = apps.map((a) => resolveApp(a));
  }

  /** Creates the ingress topics and starts the workers. */
  static async start(
    apps: AppDefinition | readonly AppDefinition[],
    options: TestDriverOptions = {},
  ): Promise<TestDriver> {
    const driver = new TestDriver(Array.isArray(apps) ? apps : [apps as AppDefinition], options);
    await driver.init();
    return driver;
  }

  private async init(): Promise<void> {
    const admin = await this.transport.admin();
    const partitions = this.options.ingressPartitions ?? 4;
    const topics = new Set(this.apps.flatMap((a) => a.ingresses.map((i) => i.topic)));
    await admin.createTopics([...topics].map((name) => ({ name, partitions })));
    const n = this.options.workers ?? 1;
    for (let i = 0; i < n; i++) {
      const worker = new Worker({
        transport: new MemoryTransport(this.kafka),
        apps: this.apps.map((a) => a.definition),
        clock: this.clock,
        logger: this.options.logger ?? silentLogger(),
        workerId: `test-worker-${i}`,
        tickIntervalMs: 0,
        // Every record of every topic stays readable (output() of a function topic): no purge.
        purgeIntervalMs: 0,
        loadReportIntervalMs: 0,
        metricsLogIntervalMs: 0,
        sessionTimeoutMs: 60_000,
        ...(this.options.scheduler === undefined ? {} : { scheduler: this.options.scheduler }),
        ...(this.options.leasingFaults === undefined ? {} : { leasingFaults: this.options.leasingFaults }),
        ...(this.options.metrics === true ? { metricsPort: 0 } : {}),
        ...(this.options.tracing === undefined ? {} : { tracing: this.options.tracing }),
      });
      this.workers.push(worker);
      await worker.start();
    }
  }

  private serdeFor(topic: string, kind: 'ingress' | 'egress'): Serde<unknown> {
    for (const app of this.apps) {
      if (kind === 'ingress') {
        const ing = app.ingresses.find((i) => i.topic === topic);
        if (ing) return ing.serde;
      } else {
        for (const eg of app.egresses.values()) if (eg.topic === topic) return eg.serde;
        for (const fn of app.functions.values()) if (fn.topic === topic) return fn.serde;
      }
    }
    return json();
  }

  /** Produces records to a topic (an ingress topic, usually) and waits until the apps have processed them. */
  async pipe(
    topic: string,
    inputs: TestInput | readonly TestInput[],
    options: { settle?: boolean } = {},
  ): Promise<void> {
    const serde = this.serdeFor(topic, 'ingress');
    const list: readonly TestInput[] = Array.isArray(inputs)
      ? (inputs as readonly TestInput[])
      : [inputs as TestInput];
    const records: OutgoingRecord[] = list.map((r) => ({
      topic,
      key: r.key === undefined || r.key === null ? null : Buffer.isBuffer(r.key) ? r.key : Buffer.from(r.key),
      value: serde.serialize(r.value),
      timestamp: r.timestamp ?? this.clock.now(),
      ...(r.headers
        ? { headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Buffer.from(v)])) }
        : {}),
    }));
    const producer = this.transport.producer();
    await producer.connect();
    await producer.send(records);
    await producer.disconnect();
    if (options.settle !== false) await this.settle();
  }

  /** Produces raw bytes (e.g. an undecodable record) to a topic and settles. */
  async pipeRaw(topic: string, key: string | Buffer | null, value: Buffer | null): Promise<void> {
    const producer = this.transport.producer();
    await producer.connect();
    await producer.send([
      { topic, key: key === null || Buffer.isBuffer(key) ? key : Buffer.from(key), value },
    ]);
    await producer.disconnect();
    await this.settle();
  }

  /**
   * Produces the records of a record file (`dirigo record --topic T > file.jsonl`, or records read with
   * `readRecordFile`) with their exact bytes, and settles: a production incident becomes a regression test.
   * By default each record goes to its recorded topic and partition with its recorded timestamp; `topic` sends
   * them all to one topic, `partitions: 'key'` places them by key (when the topic has fewer partitions),
   * `timestamps: 'now'` stamps them with the test clock. Resolves with the number of records produced.
   */
  async pipeFile(
    file: string | readonly RecordedRecord[],
    options: {
      topic?: string;
      partitions?: 'original' | 'key';
      timestamps?: 'original' | 'now';
      settle?: boolean;
    } = {},
  ): Promise<number> {
    const recorded = typeof file === 'string' ? await readRecordFile(file) : file;
    // `now` is the test clock's, not the wall clock's.
    const now = this.clock.now();
    const records = options.timestamps === 'now' ? recorded.map((r) => ({ ...r, timestamp: now })) : recorded;
    await replayRecords(this.transport, records, {
      ...(options.topic === undefined ? {} : { topic: options.topic }),
      ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    });
    if (options.settle !== false) await this.settle();
    return records.length;
  }

  /** Moves the test clock, fires due timers on every worker, and settles. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    for (const w of this.workers) await w.tick();
    await this.settle();
  }

  /**
   * Waits until every running app has processed everything readable on its input topics (no uncommitted step,
   * no open transaction). Throws after `timeoutMs` of real time naming what is still pending.
   */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let quietRounds = 0;
    let pending = '';
    while (quietRounds < 2) {
      pending = await this.pendingWork();
      quietRounds = pending === '' ? quietRounds + 1 : 0;
      if (Date.now() > deadline)
        throw new Error(`test driver: not settled after ${timeoutMs} ms: ${pending}`);
      await new Promise((r) => setTimeout(r, pending === '' ? 0 : 2));
    }
  }

  private async pendingWork(): Promise<string> {
    const admin = await this.transport.admin();
    for (const app of this.apps) {
      const status = this.workers[0]?.appStats().get(app.name)?.status;
      if (status !== 'running') continue;
      const groups = [
        ...[...app.functions.values()].map((f) => ({ group: f.group, topic: f.topic })),
        ...app.ingresses.filter((i) => !i.direct).map((i) => ({ group: i.group, topic: i.topic })),
        ...(app.lease === undefined ? [] : [{ group: app.lease.group, topic: app.lease.topic }]),
      ];
      for (const { group, topic } of groups) {
        const committed = await admin.fetchCommittedOffsets(group, topic);
        const offsets = await admin.fetchTopicOffsets(topic);
        for (const o of offsets) {
          const c = committed.find((x) => x.partition === o.partition)?.offset ?? -1;
          const from = Math.max(c, 0);
          if (from >= o.high) continue;
          let unread = 0;
          await this.transport.readToEnd([{ topic, partition: o.partition, fromOffset: from }], (rs) => {
            unread += rs.length;
          });
          if (unread > 0)
            return `group '${group}' has ${unread} unprocessed records in ${topic}/${o.partition}`;
        }
      }
    }
    return '';
  }

  /** Every committed record of a topic, values decoded with the topic's egress (or function) serde. */
  async output<T = unknown>(topic: string): Promise<TestOutput<T>[]> {
    const serde = this.serdeFor(topic, 'egress') as Serde<T>;
    const records = await this.readAll(topic);
    // Schema-registry serdes fetch the writer schemas first (see Serde.prepare).
    if (serde.prepare !== undefined) {
      for (const r of records) if (r.value !== null) await serde.prepare(r.value);
    }
    return records.map((r) => ({
      key: r.key === null ? null : r.key.toString('utf8'),
      keyBytes: r.key,
      value: (r.value === null ? null : serde.deserialize(r.value)) as T,
      headers: r.headers,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp,
    }));
  }

  /** Raw committed records of a topic, partition by partition. */
  async readAll(topic: string): Promise<IncomingRecord[]> {
    const admin = await this.transport.admin();
    const offsets = await admin.fetchTopicOffsets(topic);
    const out: IncomingRecord[] = [];
    await this.transport.readToEnd(
      offsets.map((o) => ({ topic, partition: o.partition, fromOffset: 0 })),
      (rs) => {
        out.push(...rs);
      },
    );
    return out;
  }

  /** The latest value per key of an egress topic (like reading a table). */
  async latest<T = unknown>(topic: string): Promise<Map<string, T>> {
    const m = new Map<string, T>();
    for (const r of await this.output<T>(topic)) if (r.key !== null) m.set(r.key, r.value);
    return m;
  }

  /** Dead-lettered records of an app (raw value; headers carry the reason and origin). */
  async deadLetters(app: string): Promise<IncomingRecord[]> {
    const a = this.apps.find((x) => x.name === app);
    if (a === undefined) throw new Error(`test driver: no app '${app}'`);
    return this.readAll(a.options.deadLetterTopic);
  }

  /** Committed state of an actor, from whichever worker owns its partition. */
  async state(app: string, fn: string, key: string | Buffer, stateName: string): Promise<unknown> {
    for (const w of this.workers) {
      const v = await w.readState(app, fn, key, stateName);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /**
   * Leases held by every worker as lessor, and the leasing counters of the workers combined (see
   * `combineLeaseCounters`: counts summed, first/last times the earliest/latest) and per worker, in worker
   * order.
   */
  leases(): { leases: LeaseView[]; counters: LeaseCounters; perWorker: LeaseCounters[] } {
    const leases: LeaseView[] = [];
    const perWorker: LeaseCounters[] = [];
    for (const w of this.workers) {
      const l = w.leases();
      leases.push(...l.leases);
      perWorker.push({ ...l.counters });
    }
    return { leases, counters: combineLeaseCounters(perWorker), perWorker };
  }

  /** Status of an app on the first worker ('running', 'stopped' or 'failed'), with its error. */
  appStatus(app: string): { status: string; error?: string } {
    const s = this.workers[0]?.appStats().get(app);
    return s === undefined
      ? { status: 'unknown' }
      : { status: s.status, ...(s.error ? { error: s.error } : {}) };
  }

  /** Stops one simulated worker (its partitions move to the others). */
  async stopWorker(index: number): Promise<void> {
    await this.workers[index]?.stop();
  }

  async stop(): Promise<void> {
    for (const w of this.workers) await w.stop();
    await this.kafka.close();
  }
}
