// The transport contract: everything the runtime needs from a Kafka client, and nothing more.
// Implementations: kafkajs (@dirigo/kafkajs, real broker) and in-memory (@dirigo/testkit). A second real
// client (e.g. @platformatic/kafka) must fit this shape too, so it avoids kafkajs-only concepts: offsets are
// plain numbers, headers are Buffers, batches are arrays, and rebalances are reported as explicit
// assigned/revoked callbacks. One contract-test suite (@dirigo/testkit `transportContract`) runs against
// every implementation.

import { DirigoError } from './errors.ts';

/** Record headers. Values are raw bytes; use `headerString` to read text. */
export type RecordHeaders = Record<string, Buffer>;

/** A topic-partition pair. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A position in a partition: the offset of the *next* record to read (Kafka's commit convention). */
export interface TopicPartitionOffset extends TopicPartition {
  readonly offset: number;
}

/** A record to produce. Without `partition`, the transport hashes `key` exactly as the Java client does (murmur2). */
export interface OutgoingRecord {
  readonly topic: string;
  readonly partition?: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: RecordHeaders;
  /** Milliseconds since the epoch; defaults to the produce time. */
  readonly timestamp?: number;
}

/** A consumed record. Offsets are JS numbers: safe up to 2^53, far beyond any real partition. */
export interface IncomingRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /**
   * Read-only: a transport may give records with the same header bytes one object (the platformatic transport
   * does, for the records of one batch in a row), and records without headers one shared empty object.
   */
  readonly headers: RecordHeaders;
  readonly timestamp: number;
}

/** Records of one partition, in offset order, as fetched together. */
export interface RecordBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly IncomingRecord[];
  /** The partition's high watermark when fetched (offset after the last record written), if known. */
  readonly highWatermark: number;
}

/** A topic to create. */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Defaults to the smaller of 3 and the cluster size. */
  readonly replicationFactor?: number;
  /** `cleanup.policy=compact`: the latest value per key survives; a null value is a tombstone. */
  readonly compacted?: boolean;
  /** Any other topic configs, e.g. `{ 'min.insync.replicas': '2' }`. */
  readonly config?: Readonly<Record<string, string>>;
}

export interface TopicDescription {
  readonly name: string;
  readonly partitions: number;
  readonly config: Readonly<Record<string, string>>;
}

export interface PartitionOffsets {
  readonly partition: number;
  /** Earliest available offset. */
  readonly low: number;
  /** High watermark: offset of the next record to be written (open transactions and markers count too). */
  readonly high: number;
}

/** An offset of one partition of a known topic. */
export interface PartitionOffset {
  readonly partition: number;
  readonly offset: number;
}

/** Topic and group administration. */
export interface Admin {
  /** Creates the topics that do not exist yet; existing topics are left as they are (no error). */
  createTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** Rejects with `UnknownTopicError` when a topic does not exist. */
  describeTopics(names: readonly string[]): Promise<TopicDescription[]>;
  listTopics(): Promise<string[]>;
  /** Deletes topics; unknown names are ignored. */
  deleteTopics(names: readonly string[]): Promise<void>;
  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Deletes the records of each partition below `offset` (Kafka's DeleteRecords): the partition's low watermark
   * moves up to it (never down; an offset at or below the low watermark changes nothing). An offset above the
   * high watermark is refused. The runtime purges the records of its internal topics that their group has
   * committed, as Kafka Streams purges repartition topics.
   */
  deleteRecords(topic: string, offsets: readonly PartitionOffset[]): Promise<void>;
  /**
   * Committed offsets of a group for a topic; partitions without a commit are reported with offset -1. With
   * `requireStable` (KIP-447) the answer waits until no open transaction holds offsets of this group for the
   * topic (a zombie's pending commit ends first, committed or aborted); transports without it ignore the option.
   */
  fetchCommittedOffsets(
    groupId: string,
    topic: string,
    options?: FetchCommittedOptions,
  ): Promise<TopicPartitionOffset[]>;
  close(): Promise<void>;
}

export interface FetchCommittedOptions {
  /** Wait for pending transactional offsets of the group to be committed or aborted (KIP-447). */
  readonly requireStable?: boolean;
}

/**
 * A consumer's group membership, as offsets in a transaction carry it (KIP-447, Java's `ConsumerGroupMetadata`):
 * the group coordinator refuses them from a member whose generation has moved on, which fences a zombie without
 * one transactional id per input partition.
 */
export interface GroupMetadata {
  readonly groupId: string;
  /** The classic protocol's generation; on KIP-848's `consumer` protocol, the member epoch. */
  readonly generationId: number;
  readonly memberId: string;
  /**
   * The partitions this membership may commit: those assigned, and those being revoked while the generation is
   * still this one (a graceful leave; not a rebalance, whose new generation may give them to another member).
   * Absent: `assignment()`.
   */
  readonly partitions?: readonly TopicPartition[];
}

/**
 * For `Transaction.sendOffsets` implementations: throws when `member` (exactly-once v2) is of another group than
 * the offsets.
 */
export function checkMemberGroup(groupId: string, member: GroupMetadata | undefined): void {
  if (member !== undefined && member.groupId !== groupId) {
    throw new DirigoError(
      `send offsets to transaction: the member is of group '${member.groupId}', the offsets of '${groupId}'`,
    );
  }
}

export interface ProducerOptions {
  /** Client id for broker logs and quotas. */
  readonly clientId?: string;
  /**
   * Makes the producer transactional. A new producer with the same id fences every older one (their next
   * transactional call, and every later one, rejects with `FencedError`) and aborts their open transaction.
   */
  readonly transactionalId?: string;
  /** Transaction timeout in ms (broker-side abort of a hung transaction). Default 60000. */
  readonly transactionTimeoutMs?: number;
}

/** A batch-oriented producer. Always idempotent; `acks=all`. */
export interface Producer {
  connect(): Promise<void>;
  /** Produces all records (many partitions, many topics) with as few requests as possible. */
  send(records: readonly OutgoingRecord[]): Promise<void>;
  /** Starts a transaction; requires `transactionalId`. One transaction at a time per producer. */
  beginTransaction(): Promise<Transaction>;
  disconnect(): Promise<void>;
}

/** An open transaction: records and consumed offsets commit or abort together. */
export interface Transaction {
  send(records: readonly OutgoingRecord[]): Promise<void>;
  /**
   * Adds consumed positions (next offsets to read) of `groupId` to the transaction. With `member` (exactly-once
   * v2, only where `Transport.exactlyOnceV2` is true) they are committed as that member's: the coordinator
   * refuses them (`PartitionsRevokedError`) once the member's generation has moved on.
   */
  sendOffsets(
    groupId: string,
    offsets: readonly TopicPartitionOffset[],
    member?: GroupMetadata,
  ): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export type Isolation = 'read_committed' | 'read_uncommitted';

export interface ConsumerOptions {
  readonly groupId: string;
  readonly clientId?: string;
  /** Default 10000. A member silent for longer is removed from the group and its partitions move. */
  readonly sessionTimeoutMs?: number;
  /** Default 3000. */
  readonly heartbeatIntervalMs?: number;
  /** Default 'read_committed'. */
  readonly isolation?: Isolation;
  /** Where to start when the group has no committed offset. Default 'earliest'. */
  readonly autoOffsetReset?: 'earliest' | 'latest';
  /** Upper bound on bytes per partition per fetch. Default 1 MiB. */
  readonly maxBytesPerPartition?: number;
  /** How long a fetch may wait for data. Default 100 ms. */
  readonly maxWaitMs?: number;
  /**
   * How many partitions' batches may be in `eachBatch` at the same time (each partition still sees its batches
   * one at a time, in order). Default 1.
   */
  readonly concurrency?: number;
}

/** Callbacks a consumer delivers to its owner. All are awaited before the consumer goes on. */
export interface ConsumerHandlers {
  /**
   * One batch of one partition. Offsets are never committed implicitly: the owner commits with
   * `Consumer.commitOffsets` or inside a transaction (`Transaction.sendOffsets`). Rejecting makes the
   * consumer re-deliver the batch from its last committed (or sought) position after a short backoff.
   */
  eachBatch(batch: RecordBatch): Promise<void>;
  /** The group gave this member these partitions (the full new assignment). Called before their first batch. */
  onAssigned?(partitions: readonly TopicPartition[]): Promise<void> | void;
  /**
   * These partitions are taken away (rebalance or stop). No batch of them is delivered after this call
   * begins; offsets committed after it returns may be rejected.
   */
  onRevoked?(partitions: readonly TopicPartition[]): Promise<void> | void;
  /**
   * The consumer stopped for good: it delivers no more batches and will not join its group again, e.g. because
   * the broker refused the group (an ACL removed while it ran: an `AuthorizationError` naming the group) or the
   * client gave up after a non-retriable error. Called at most once, after the partitions were revoked or while
   * they are being revoked; never for conditions the client retries by itself.
   */
  onFatal?(error: Error): void;
}

/** A group member consuming topics. Only `run` delivers records; delivery is batch by batch, in order per partition. */
export interface Consumer {
  connect(): Promise<void>;
  subscribe(topics: readonly string[]): Promise<void>;
  /** Starts delivering; resolves once the loop is started (not when it ends). */
  run(handlers: ConsumerHandlers): Promise<void>;
  /** Commits positions (next offsets to read) for this group, outside any transaction. */
  commitOffsets(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Stops fetching these partitions (all of the topic when `partitions` is omitted) until `resume`. */
  pause(topics: readonly { topic: string; partitions?: readonly number[] }[]): void;
  resume(topics: readonly { topic: string; partitions?: readonly number[] }[]): void;
  /** The next batch of this partition starts at `offset`. */
  seek(position: TopicPartitionOffset): void;
  /** The partitions currently assigned to this member. */
  assignment(): readonly TopicPartition[];
  /**
   * The membership offsets in a transaction are committed with (exactly-once v2); undefined while the consumer is
   * not a member (joining). Only transports with `exactlyOnceV2` implement it.
   */
  groupMetadata?(): GroupMetadata | undefined;
  /** Leaves the group (revoking its partitions first) and closes connections. */
  disconnect(): Promise<void>;
}

/** Where `readToEnd` starts in each partition. */
export interface ReadFrom extends TopicPartition {
  /** First offset to read; `0` or `-1` means the earliest available. */
  readonly fromOffset: number;
}

/**
 * A Kafka client. Instances are cheap to hold; producers and consumers are created per use and closed by
 * their owner.
 */
export interface Transport {
  /** e.g. 'kafkajs' or 'memory'. */
  readonly name: string;
  /**
   * Exactly-once v2 (KIP-447) is available: consumers report `groupMetadata()` and transactions take it in
   * `sendOffsets`, so one transactional producer per group member can commit steps of many input partitions.
   * Absent or false: the runtime uses one transactional producer per input partition.
   */
  readonly exactlyOnceV2?: boolean;
  admin(): Promise<Admin>;
  producer(options?: ProducerOptions): Producer;
  consumer(options: ConsumerOptions): Consumer;
  /**
   * Reads partitions without joining a group (no committed offsets, no rebalance), from `fromOffset` up to the
   * high watermark each partition had when the call began, read_committed. Used to restore state from
   * changelogs and to inspect topics in tests. Resolves with the next offset of each partition: the watermark it
   * read up to (or `fromOffset` if beyond), which may lie past the last record (transaction markers and compaction
   * gaps take offsets too).
   */
  readToEnd(
    partitions: readonly ReadFrom[],
    onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>,
  ): Promise<TopicPartitionOffset[]>;
  /** Closes everything this transport opened. */
  close(): Promise<void>;
}
