// MemoryKafka: the in-memory cluster behind MemoryTransport. Holds topics (partition logs), consumer groups and
// the transaction coordinator; several transports may share one cluster to simulate several workers.
import {
  DirigoError,
  type Logger,
  type OutgoingRecord,
  partitionFor,
  silentLogger,
  type TopicDescription,
  type TopicPartitionOffset,
  type TopicSpec,
  TransportError,
  UnknownTopicError,
} from '@dirigo/core';
import type { AssignmentStrategy } from './assignors.ts';
import { Group } from './group.ts';
import { PartitionLog, type TxnState } from './partition-log.ts';
import { TransactionCoordinator } from './transactions.ts';

/** A source of time for record timestamps. */
export interface Clock {
  now(): number;
}

export interface MemoryKafkaOptions {
  /** Timestamps of records produced without one. Default: `Date`. */
  readonly clock?: Clock;
  /** Group partition assignment. Default 'range' (co-partitions topics with equal partition counts). */
  readonly assignment?: AssignmentStrategy;
  /** Most records per delivered batch. Default 500. */
  readonly maxBatchRecords?: number;
  /**
   * Wait before re-delivering a partition whose `eachBatch` rejected (from its last committed or sought
   * position). Default 100 ms.
   */
  readonly retryBackoffMs?: number;
  /** Receives errors thrown by user callbacks (onAssigned, onRevoked, eachBatch). Default: silent. */
  readonly logger?: Logger;
}

interface Topic {
  readonly name: string;
  readonly config: Readonly<Record<string, string>>;
  readonly compacted: boolean;
  readonly logs: readonly PartitionLog[];
}

/** Anything `close()` must disconnect. */
interface Client {
  disconnect(): Promise<void>;
}

/**
 * An in-memory Kafka cluster: topics with partition logs (offsets, watermarks, headers, timestamps), consumer
 * groups with eager rebalancing, transactions with fencing, and explicit compaction (`compact`). No auto-creation
 * of topics. Time only matters for record timestamps (injected `clock`).
 */
export class MemoryKafka {
  /** Stamps records produced without a timestamp. */
  readonly clock: Clock;
  /** Receives failures of user callbacks. */
  readonly logger: Logger;
  /** Most records per delivered batch (and per readToEnd callback). */
  readonly maxBatchRecords: number;
  /** Back-off before re-delivering a rejected batch. */
  readonly retryBackoffMs: number;
  /** @internal */
  readonly transactions: TransactionCoordinator;
  private readonly strategy: AssignmentStrategy;
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly clients = new Set<Client>();
  private closed = false;
  private memberSeq = 0;

  constructor(options: MemoryKafkaOptions = {}) {
    this.clock = options.clock ?? Date;
    this.logger = options.logger ?? silentLogger();
    this.strategy = options.assignment ?? 'range';
    this.maxBatchRecords = options.maxBatchRecords ?? 500;
    this.retryBackoffMs = options.retryBackoffMs ?? 100;
    this.transactions = new TransactionCoordinator({
      commitOffsets: (groupId, offsets) => this.commitOffsets(groupId, offsets),
      notify: (topics) => {
        for (const t of topics) this.notify(t);
      },
    });
  }

  /**
   * Compacts every partition of a compacted topic: keeps the latest record per key below the last stable
   * offset, removes tombstones, aborted records and transaction markers. Offsets are kept, so gaps appear.
   */
  compact(topic: string): void {
    const t = this.topic(topic);
    if (!t.compacted) throw new DirigoError(`topic '${topic}' is not compacted (cleanup.policy=compact)`);
    for (const log of t.logs) log.compact();
  }

  /** Names of the existing topics, sorted. */
  topicNames(): string[] {
    return [...this.topics.keys()].sort();
  }

  /** Disconnects every producer and consumer of every transport on this cluster and aborts open transactions. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.clients].map((c) => c.disconnect()));
    this.transactions.abortAll();
    await Promise.all([...this.groups.values()].map((g) => g.settled()));
  }

  /** @internal Rejects once the cluster is closed. */
  ensureOpen(): void {
    if (this.closed) throw new TransportError('the in-memory Kafka cluster is closed');
  }

  /** @internal */
  register(client: Client): () => void {
    this.clients.add(client);
    return () => this.clients.delete(client);
  }

  /** @internal */
  nextMemberSeq(): number {
    return ++this.memberSeq;
  }

  /** @internal Existing topic, else `UnknownTopicError`. */
  topic(name: string): Topic {
    const t = this.topics.get(name);
    if (t === undefined) throw new UnknownTopicError(name);
    return t;
  }

  /** @internal */
  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  /** @internal Partition log, else `UnknownTopicError`. */
  log(topic: string, partition: number): PartitionLog {
    const log = this.topic(topic).logs[partition];
    if (log === undefined) throw new UnknownTopicError(`${topic}[${partition}]`);
    return log;
  }

  /** @internal */
  createTopic(spec: TopicSpec): void {
    if (this.topics.has(spec.name)) return;
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
      throw new TransportError(`topic '${spec.name}': partitions must be a positive integer`);
    }
    const config: Record<string, string> = { ...spec.config };
    if (spec.compacted) config['cleanup.policy'] = 'compact';
    config['cleanup.policy'] ??= 'delete';
    const logs = Array.from({ length: spec.partitions }, (_, p) => new PartitionLog(spec.name, p));
    this.topics.set(spec.name, {
      name: spec.name,
      config,
      compacted: config['cleanup.policy'].split(',').includes('compact'),
      logs,
    });
    this.topologyChanged(spec.name);
  }

  /** @internal */
  describe(name: string): TopicDescription {
    const t = this.topic(name);
    return { name, partitions: t.logs.length, config: { ...t.config } };
  }

  /** @internal Unknown names are ignored. */
  deleteTopic(name: string): void {
    if (!this.topics.delete(name)) return;
    for (const g of this.groups.values()) g.forgetTopic(name);
    this.topologyChanged(name);
  }

  /** @internal The group, created on first use. */
  group(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (g === undefined) {
      g = new Group(
        groupId,
        this.strategy,
        (topic) => this.topics.get(topic)?.logs.length,
        (err) => this.logger.error({ err, groupId }, 'memory kafka: rebalance callback failed'),
      );
      this.groups.set(groupId, g);
    }
    return g;
  }

  /** @internal Writes committed offsets of a group (validation is the caller's business). */
  commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void {
    const g = this.group(groupId);
    for (const o of offsets) g.commit(o.topic, o.partition, o.offset);
  }

  /**
   * @internal Appends records (validated all together first: nothing is written when one is invalid).
   * `roundRobin` picks the partition of key-less records without a partition.
   */
  append(
    records: readonly OutgoingRecord[],
    txn: { state: TxnState; logs: Set<PartitionLog> } | null,
    roundRobin: (topic: string, partitions: number) => number,
  ): void {
    this.ensureOpen();
    for (const r of records) {
      const t = this.topic(r.topic);
      if (r.partition !== undefined && t.logs[r.partition] === undefined) {
        throw new UnknownTopicError(`${r.topic}[${r.partition}]`);
      }
      if (t.compacted && r.key === null) {
        throw new TransportError(`topic '${r.topic}' is compacted: records need a key`);
      }
    }
    const touched = new Set<string>();
    for (const r of records) {
      const t = this.topic(r.topic);
      const n = t.logs.length;
      const partition = r.partition ?? (r.key !== null ? partitionFor(r.key, n) : roundRobin(r.topic, n));
      const log = t.logs[partition]!;
      const headers: Record<string, Buffer> = {};
      if (r.headers !== undefined)
        for (const [k, v] of Object.entries(r.headers)) headers[k] = Buffer.from(v);
      log.append(
        {
          key: r.key === null ? null : Buffer.from(r.key),
          value: r.value === null ? null : Buffer.from(r.value),
          headers,
          timestamp: r.timestamp ?? this.clock.now(),
        },
        txn === null ? null : txn.state,
      );
      txn?.logs.add(log);
      touched.add(r.topic);
    }
    for (const topic of touched) this.notify(topic);
  }

  /** @internal Calls `fn` whenever records or markers are written to `topic`, or it is created/deleted. */
  watch(topic: string, fn: () => void): () => void {
    let set = this.watchers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(topic, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** @internal Resolves on the next change of `topic`. */
  changed(topic: string): Promise<void> {
    return new Promise((resolve) => {
      const stop = this.watch(topic, () => {
        stop();
        resolve();
      });
    });
  }

  private notify(topic: string): void {
    const set = this.watchers.get(topic);
    if (set !== undefined) for (const fn of [...set]) fn();
  }

  private topologyChanged(topic: string): void {
    for (const g of this.groups.values()) if (g.subscribesTo(topic)) g.requestRebalance();
    this.notify(topic);
  }
}
