// Shared plumbing of the transport contract suite: a per-test harness (fresh transport, unique topic and group
// names, tracked clients cleaned up after each test) and a collector of consumer callbacks.
import { randomBytes } from 'node:crypto';
import type {
  Admin,
  Consumer,
  ConsumerHandlers,
  ConsumerOptions,
  IncomingRecord,
  OutgoingRecord,
  Producer,
  ProducerOptions,
  RecordBatch,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
  Transport,
} from '@dirigo/core';
import { afterEach, beforeEach, it } from 'vitest';
import { waitFor, waitForValue } from '../wait.ts';

/** Builds the transport under test; called once per test. `cleanup` runs after the transport is closed. */
export type TransportFactory = () => Promise<{ transport: Transport; cleanup?(): Promise<void> }>;

export interface ContractOptions {
  /** A real broker: long timeouts (group joins take seconds). Default false. */
  readonly slow?: boolean;
  /**
   * Compacts a topic right now (memory: `MemoryKafka.compact`). When absent, the compaction test only checks
   * that `readToEnd` yields the latest value per key.
   */
  compact?(topic: string): Promise<void>;
  /**
   * A transport on the same cluster whose `readToEnd` fetches about one record batch at a time (the test of
   * records deleted while a read is under way needs several fetches); closed after the test. When absent, that
   * test is left out.
   */
  batchByBatch?(): Transport;
  /**
   * How long to freeze a member (its event loop blocked, as SIGSTOP would) so that the group coordinator drops it:
   * past the session timeout of the group protocol in use (the consumer's 6 s under `classic`; the broker's
   * `group.consumer.session.timeout.ms` under `consumer`). When absent, the frozen-member test is left out (the
   * memory transport has no sessions).
   */
  readonly frozenMemberMs?: number;
}

export const str = (b: Buffer | null): string | null => (b === null ? null : b.toString('utf8'));
export const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/** One test's view of the transport under test. */
export class Harness {
  readonly transport: Transport;
  /** Timeout of every `waitFor` of the suite. */
  readonly waitMs: number;
  private readonly cleanup: (() => Promise<void>) | undefined;
  private readonly topics: string[] = [];
  private readonly clients: { disconnect(): Promise<void> }[] = [];
  private adminClient: Admin | null = null;

  constructor(transport: Transport, waitMs: number, cleanup?: () => Promise<void>) {
    this.transport = transport;
    this.waitMs = waitMs;
    this.cleanup = cleanup;
  }

  /** A name unique across runs, safe to use on a shared broker. */
  name(prefix: string): string {
    return `dirigo-contract-${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  }

  async admin(): Promise<Admin> {
    this.adminClient ??= await this.transport.admin();
    return this.adminClient;
  }

  /** Creates the topics (deleted again after the test) and waits until all of them can be described. */
  async createTopics(specs: readonly TopicSpec[]): Promise<void> {
    const admin = await this.admin();
    for (const s of specs) if (!this.topics.includes(s.name)) this.topics.push(s.name);
    await admin.createTopics(specs);
    await this.waitFor(
      async () => (await admin.describeTopics(specs.map((s) => s.name))).length === specs.length,
    );
  }

  /** Creates one topic with a unique name and returns the name. */
  async topic(prefix: string, partitions: number, spec: Partial<TopicSpec> = {}): Promise<string> {
    const name = this.name(prefix);
    await this.createTopics([{ ...spec, name, partitions }]);
    return name;
  }

  /** A connected producer, disconnected after the test. */
  async producer(options?: ProducerOptions): Promise<Producer> {
    const p = this.transport.producer(options);
    this.clients.push(p);
    await p.connect();
    return p;
  }

  /** Sends with a fresh plain producer (kept for the rest of the test). */
  async send(records: readonly OutgoingRecord[]): Promise<void> {
    const p = await this.producer();
    await p.send(records);
  }

  /** A connected consumer subscribed to `topics`, disconnected after the test. */
  async consumer(
    topics: readonly string[],
    options: Partial<ConsumerOptions> & { groupId: string },
  ): Promise<Consumer> {
    const c = this.transport.consumer({
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 500,
      maxWaitMs: 100,
      ...options,
    });
    this.clients.push(c);
    await c.connect();
    await c.subscribe(topics);
    return c;
  }

  /** Reads whole topics (all partitions from the earliest offset) with `readToEnd`. */
  async readAll(
    topics: readonly string[],
  ): Promise<{ records: IncomingRecord[]; ends: TopicPartitionOffset[] }> {
    const admin = await this.admin();
    const descs = await admin.describeTopics(topics);
    const from = descs.flatMap((d) =>
      Array.from({ length: d.partitions }, (_, p) => ({ topic: d.name, partition: p, fromOffset: 0 })),
    );
    const records: IncomingRecord[] = [];
    const ends = await this.transport.readToEnd(from, (rs) => {
      records.push(...rs);
    });
    return { records, ends };
  }

  waitFor(condition: () => boolean | Promise<boolean>, message?: string): Promise<void> {
    return waitFor(condition, this.waitMs, { intervalMs: 20, ...(message === undefined ? {} : { message }) });
  }

  waitForValue<T>(probe: () => T | undefined | Promise<T | undefined>, message?: string): Promise<T> {
    return waitForValue(probe, this.waitMs, {
      intervalMs: 20,
      ...(message === undefined ? {} : { message }),
    });
  }

  async dispose(): Promise<void> {
    const settle = async (p: Promise<unknown>): Promise<void> => {
      await p.catch(() => undefined);
    };
    await Promise.all(this.clients.map((c) => settle(c.disconnect())));
    if (this.adminClient !== null && this.topics.length > 0)
      await settle(this.adminClient.deleteTopics(this.topics));
    if (this.adminClient !== null) await settle(this.adminClient.close());
    await settle(this.transport.close());
    if (this.cleanup !== undefined) await this.cleanup();
  }
}

/** Records everything a consumer's handlers see, and checks that batches only come for owned partitions. */
export class Collector {
  readonly batches: RecordBatch[] = [];
  readonly records: IncomingRecord[] = [];
  readonly assigned: TopicPartition[][] = [];
  readonly revoked: TopicPartition[][] = [];
  /** Problems found while delivering (a batch of a partition not owned, offsets out of order). */
  readonly violations: string[] = [];
  private owned = new Set<string>();

  /**
   * Handlers for `run`. After each batch, `onBatch` runs (it may throw to fail the batch); then, when `commit` is
   * given, the batch's end is committed with it.
   */
  handlers(
    opts: { commit?: Consumer; onBatch?(batch: RecordBatch): Promise<void> | void } = {},
  ): ConsumerHandlers {
    return {
      eachBatch: async (batch) => {
        const key = `${batch.topic}:${batch.partition}`;
        if (!this.owned.has(key)) this.violations.push(`batch of ${key} delivered while not assigned`);
        batch.records.forEach((r, i) => {
          const prev = batch.records[i - 1];
          if (prev !== undefined && r.offset <= prev.offset)
            this.violations.push(`offsets out of order in ${key}`);
        });
        this.batches.push(batch);
        this.records.push(...batch.records);
        await opts.onBatch?.(batch);
        const last = batch.records.at(-1);
        if (opts.commit !== undefined && last !== undefined) {
          await opts.commit.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: last.offset + 1 },
          ]);
        }
      },
      onAssigned: (partitions) => {
        this.assigned.push([...partitions]);
        this.owned = new Set(partitions.map((p) => `${p.topic}:${p.partition}`));
      },
      onRevoked: (partitions) => {
        this.revoked.push([...partitions]);
        for (const p of partitions) this.owned.delete(`${p.topic}:${p.partition}`);
      },
    };
  }

  /** Values (as text) of the records received, in delivery order, optionally of one topic/partition. */
  values(topic?: string, partition?: number): (string | null)[] {
    return this.records
      .filter(
        (r) =>
          (topic === undefined || r.topic === topic) &&
          (partition === undefined || r.partition === partition),
      )
      .map((r) => str(r.value));
  }
}

/** What each part of the suite gets: a way to declare tests that receive a fresh harness. */
export interface ContractContext {
  readonly options: ContractOptions;
  test(name: string, fn: (h: Harness) => Promise<void>): void;
}

/** Registers per-test setup/teardown in the current `describe` and returns the context for the parts. */
export function contractContext(factory: TransportFactory, options: ContractOptions): ContractContext {
  const testTimeout = options.slow ? 180_000 : 20_000;
  const waitMs = options.slow ? 60_000 : 5_000;
  let current: Harness | null = null;
  beforeEach(async () => {
    const made = await factory();
    current = new Harness(
      made.transport,
      waitMs,
      made.cleanup === undefined ? undefined : () => made.cleanup!(),
    );
  });
  afterEach(async () => {
    const h = current;
    current = null;
    await h?.dispose();
  });
  return {
    options,
    test: (name, fn) => {
      it(name, () => fn(current!), testTimeout);
    },
  };
}
