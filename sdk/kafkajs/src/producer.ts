// Producer and Transaction on kafkajs.
//
// Batching: kafkajs sends one Produce request set per `sendBatch` call and never merges calls, so `send` turns
// the whole record array into ONE `sendBatch` (one entry per topic; kafkajs then splits per partition and per
// leader). The records themselves are handed to kafkajs as its messages (same field names: key, value,
// partition, headers, timestamp), so no per-record object is created here.
//
// Partitioning: a custom kafkajs partitioner uses `partitionFor` from @dirigo/core (Java-compatible murmur2) with
// the partition count kafkajs already holds in its metadata, so keyed records land where the Java client and the
// in-memory transport put them. Records without key and partition are spread round-robin.

import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Producer as DirigoProducer,
  Transaction as DirigoTransaction,
  GroupMetadata,
  ProducerOptions,
  TopicPartitionOffset,
} from '@dirigo/core';
import {
  checkMemberGroup,
  ConfigError,
  DirigoError,
  FencedError,
  type Logger,
  MAX_PARTITION_BATCH_BYTES,
  type OutgoingRecord,
  PartitionsRevokedError,
  partitionFor,
  recordBytes,
} from '@dirigo/core';
import type {
  ICustomPartitioner,
  Kafka,
  Producer as KProducer,
  Transaction as KTransaction,
  PartitionerArgs,
  RetryOptions,
  TopicMessages,
} from 'kafkajs';
import { explainCoordinatorNotFound, type KafkajsInternals } from './internals.ts';
import { commitAsMember } from './eos-v2.ts';
import { isConcurrentTransactions, isFencedError, isRebalanceError, mapError } from './errors.ts';

/** What producers need from the transport. */
export interface ProducerContext {
  readonly kafka: Kafka;
  readonly logger: Logger;
  readonly retry: RetryOptions;
  /** Rejects with `UnknownTopicError` for topics that do not exist (cached per transport). */
  ensureTopics(topics: readonly string[]): Promise<void>;
  /** The partition count of a topic `ensureTopics` has seen. */
  partitionCount(topic: string): number | undefined;
  /** Called once the producer is disconnected. */
  closed(producer: KafkajsProducer): void;
  /** Resolves once the transport's first-connection check passed (TLS and SASL); rejects with its error. */
  connectionCheck?(): Promise<void>;
  /** The transport's kafkajs internals (what a broker answers to FindCoordinator, when kafkajs drops it). */
  probe?(): KafkajsInternals;
}

/**
 * A producer's partitioner and what it keeps: the partition of each keyless record (per message object, so that
 * kafkajs's retries of a send place it again on the same partition).
 */
export class PartitionerState {
  readonly keyless = new WeakMap<object, number>();
  #roundRobin = new Map<string, number>();

  /** The kafkajs partitioner: explicit partition, else murmur2 of the key (Java-compatible), else round-robin. */
  readonly partitioner: ICustomPartitioner = () => (args: PartitionerArgs) => this.partition(args);

  partition({ topic, partitionMetadata, message }: PartitionerArgs): number {
    const count = partitionMetadata.length;
    if (message.partition !== undefined && message.partition !== null) return message.partition;
    const key = message.key;
    if (key !== null && key !== undefined) {
      return partitionFor(typeof key === 'string' ? Buffer.from(key) : key, count);
    }
    const chosen = this.keyless.get(message);
    if (chosen !== undefined && chosen < count) return chosen;
    const next = ((this.#roundRobin.get(topic) ?? Math.floor(Math.random() * count)) + 1) % count;
    this.#roundRobin.set(topic, next);
    this.keyless.set(message, next);
    return next;
  }
}

/** A partitioner with its own state (tests). */
export const dirigoPartitioner: ICustomPartitioner = () => new PartitionerState().partitioner();

/**
 * Groups records by topic for one `sendBatch` call. The common single-topic case passes the caller's array
 * through untouched. Our `OutgoingRecord` is structurally a kafkajs `Message` (kafkajs accepts a numeric
 * timestamp: it only subtracts and sorts them).
 */
export function toTopicMessages(records: readonly OutgoingRecord[]): TopicMessages[] {
  const first = records[0]!.topic;
  let single = true;
  for (let i = 1; i < records.length; i++) {
    if (records[i]!.topic !== first) {
      single = false;
      break;
    }
  }
  if (single) return [{ topic: first, messages: records as unknown as TopicMessages['messages'] }];
  const byTopic = new Map<string, OutgoingRecord[]>();
  for (const record of records) {
    const list = byTopic.get(record.topic);
    if (list === undefined) byTopic.set(record.topic, [record]);
    else list.push(record);
  }
  const result: TopicMessages[] = [];
  for (const [topic, messages] of byTopic) {
    result.push({ topic, messages: messages as unknown as TopicMessages['messages'] });
  }
  return result;
}

/**
 * Limits of one partition's share of a `sendBatch` call. kafkajs puts each partition's records of a call into
 * one record batch, which the broker rejects above the topic's max.message.bytes (1 MiB by default), and it
 * groups records per partition in time quadratic in their number; so big sends are cut into consecutive chunks.
 */
export { MAX_PARTITION_BATCH_BYTES };
export const MAX_PARTITION_BATCH_RECORDS = 100_000;

/** How long `sendOffsets` tries again while the coordinator answers CONCURRENT_TRANSACTIONS. */
export const CONCURRENT_TRANSACTIONS_DEADLINE_MS = 5_000;

/**
 * Cuts `records` into consecutive chunks (order is kept) so that no partition gets more than
 * MAX_PARTITION_BATCH_BYTES or MAX_PARTITION_BATCH_RECORDS in one chunk. Keyed records are placed with
 * `partitionFor` (as the partitioner will); records without key or partition, and records of topics whose
 * partition count is unknown, are counted together, which is conservative. Small sends are one chunk.
 */
export function chunkRecords(
  records: readonly OutgoingRecord[],
  partitionCount: (topic: string) => number | undefined,
): (readonly OutgoingRecord[])[] {
  let total = 0;
  for (const r of records) total += recordBytes(r);
  if (records.length <= MAX_PARTITION_BATCH_RECORDS && total <= MAX_PARTITION_BATCH_BYTES) return [records];

  interface Usage {
    readonly count: number;
    readonly bytes: Float64Array;
    readonly records: Int32Array;
  }
  const usage = new Map<string, Usage>();
  const chunks: (readonly OutgoingRecord[])[] = [];
  let start = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    let u = usage.get(r.topic);
    if (u === undefined) {
      const count = partitionCount(r.topic) ?? 0;
      // Slot `count` collects records whose partition is not known in advance.
      u = { count, bytes: new Float64Array(count + 1), records: new Int32Array(count + 1) };
      usage.set(r.topic, u);
    }
    let slot = u.count;
    if (r.partition !== undefined && r.partition >= 0 && r.partition < u.count) slot = r.partition;
    else if (r.key !== null && u.count > 0) slot = partitionFor(r.key, u.count);
    const size = recordBytes(r);
    if (
      i > start &&
      (u.bytes[slot]! + size > MAX_PARTITION_BATCH_BYTES || u.records[slot]! >= MAX_PARTITION_BATCH_RECORDS)
    ) {
      chunks.push(records.slice(start, i));
      start = i;
      for (const other of usage.values()) {
        other.bytes.fill(0);
        other.records.fill(0);
      }
    }
    u.bytes[slot]! += size;
    u.records[slot]! += 1;
  }
  chunks.push(start === 0 ? records : records.slice(start));
  return chunks;
}

function topicsOf(topicMessages: readonly TopicMessages[]): string[] {
  return topicMessages.map((t) => t.topic);
}

/**
 * Checks the topics, then sends the records chunk by chunk (one `sendBatch` per chunk, in order). The send
 * (send-messages.ts, fix 6) resolves only once every partition of the chunk was acknowledged, and never sends a
 * record again under new sequence numbers (which the broker would append twice if the first copy was written).
 */
async function sendChunked(
  context: ProducerContext,
  records: readonly OutgoingRecord[],
  sendBatch: (topicMessages: TopicMessages[]) => Promise<unknown>,
): Promise<void> {
  const first = toTopicMessages(records);
  await context.ensureTopics(topicsOf(first));
  const chunks = chunkRecords(records, (topic) => context.partitionCount(topic));
  for (let c = 0; c < chunks.length; c++) {
    await sendBatch(chunks.length === 1 ? first : toTopicMessages(chunks[c]!));
  }
}

export class KafkajsProducer implements DirigoProducer {
  readonly #context: ProducerContext;
  readonly #producer: KProducer;
  readonly #transactionalId: string | undefined;
  readonly #logger: Logger;
  readonly #partitioner = new PartitionerState();
  #fenced: FencedError | null = null;
  #transaction: KafkajsTransaction | null = null;
  #connected = false;

  constructor(context: ProducerContext, options: ProducerOptions = {}) {
    this.#context = context;
    this.#transactionalId = options.transactionalId;
    this.#logger = context.logger.child({
      component: 'producer',
      ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
    });
    const transactional = options.transactionalId !== undefined;
    this.#producer = context.kafka.producer({
      idempotent: true,
      createPartitioner: this.#partitioner.partitioner,
      allowAutoTopicCreation: false,
      retry: context.retry,
      ...(transactional
        ? {
            transactionalId: options.transactionalId,
            transactionTimeout: options.transactionTimeoutMs ?? 60_000,
            maxInFlightRequests: 1,
          }
        : {}),
    });
  }

  async connect(): Promise<void> {
    await this.#context.connectionCheck?.();
    try {
      await this.#producer.connect();
      this.#connected = true;
      if (this.#transactionalId !== undefined) {
        // Register the transactional id now (InitProducerId), as the Java client's initTransactions does: this
        // fences older producers with the same id and aborts their open transaction right away, not at our first
        // transaction. kafkajs only does it in `transaction()`, so open one and end it (no EndTxn is sent for an
        // empty transaction).
        const txn = await this.#producer.transaction();
        await txn.abort();
      }
      this.#logger.debug('producer connected');
    } catch (error) {
      const id = this.#transactionalId;
      const explained =
        id === undefined
          ? error
          : await explainCoordinatorNotFound(error, () => this.#context.probe?.(), id, 1);
      throw this.#fail(explained, 'connect producer');
    }
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    await sendChunked(this.#context, records, (topicMessages) =>
      this.#producer.sendBatch({ topicMessages, acks: -1 }),
    ).catch((error: unknown) => {
      throw mapError(error, { operation: 'produce', topic: records[0]!.topic });
    });
  }

  async beginTransaction(): Promise<DirigoTransaction> {
    if (this.#transactionalId === undefined) {
      throw new ConfigError(
        'transactionalId',
        'beginTransaction needs a producer created with a transactionalId',
      );
    }
    if (this.#fenced !== null) throw this.#fenced;
    if (this.#transaction?.open) {
      throw new DirigoError(
        'beginTransaction: a transaction is already open on this producer; commit or abort it first',
      );
    }
    let txn: KTransaction;
    try {
      txn = await this.#producer.transaction();
    } catch (error) {
      throw this.#fail(error, 'begin transaction');
    }
    this.#transaction = new KafkajsTransaction(this, txn);
    return this.#transaction;
  }

  async disconnect(): Promise<void> {
    if (!this.#connected) {
      this.#context.closed(this);
      return;
    }
    this.#connected = false;
    try {
      await this.#producer.disconnect();
    } catch (error) {
      throw mapError(error, { operation: 'disconnect producer' });
    } finally {
      this.#context.closed(this);
      this.#logger.debug('producer disconnected');
    }
  }

  /** @internal */
  get context(): ProducerContext {
    return this.#context;
  }

  /** @internal Maps an error of a transactional call; a fencing is remembered: every later call fails the same way. */
  fail(error: unknown, operation: string, topic?: string): Error {
    return this.#fail(error, operation, topic);
  }

  #fail(error: unknown, operation: string, topic?: string): Error {
    if (this.#fenced !== null) return this.#fenced;
    const mapped = mapError(error, {
      operation,
      ...(topic === undefined ? {} : { topic }),
      ...(this.#transactionalId === undefined ? {} : { transactionalId: this.#transactionalId }),
    });
    if (mapped instanceof FencedError || isFencedError(error)) {
      this.#fenced =
        mapped instanceof FencedError ? mapped : new FencedError(mapped.message, { cause: error });
      this.#logger.warn({ err: error }, 'producer fenced by a newer producer with the same transactional id');
      return this.#fenced;
    }
    return mapped;
  }

  /** @internal */
  get fenced(): FencedError | null {
    return this.#fenced;
  }
}

export class KafkajsTransaction implements DirigoTransaction {
  readonly #producer: KafkajsProducer;
  readonly #txn: KTransaction;
  #open = true;

  constructor(producer: KafkajsProducer, txn: KTransaction) {
    this.#producer = producer;
    this.#txn = txn;
  }

  get open(): boolean {
    return this.#open;
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.#checkOpen();
    if (records.length === 0) return;
    await sendChunked(this.#producer.context, records, (topicMessages) =>
      this.#txn.sendBatch({ topicMessages, acks: -1 }),
    ).catch((error: unknown) => {
      throw this.#producer.fail(error, 'transactional produce', records[0]!.topic);
    });
  }

  async sendOffsets(
    groupId: string,
    offsets: readonly TopicPartitionOffset[],
    member?: GroupMetadata,
  ): Promise<void> {
    this.#checkOpen();
    if (offsets.length === 0) return;
    checkMemberGroup(groupId, member);
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const o of offsets) {
      const list = byTopic.get(o.topic);
      const entry = { partition: o.partition, offset: String(o.offset) };
      if (list === undefined) byTopic.set(o.topic, [entry]);
      else list.push(entry);
    }
    const topics = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
    // As the member's (exactly-once v2): kafkajs hands this very array to the broker's txnOffsetCommit, which sends
    // it as TxnOffsetCommit v3 (kafkajs-patches.ts, fix 7).
    if (member !== undefined) commitAsMember(topics, member);
    try {
      await this.#sendOffsets(groupId, topics);
    } catch (error) {
      if (member !== undefined && isRebalanceError(error)) {
        // The member's generation moved on (a rebalance): the transaction must abort; the producer is fine.
        throw new PartitionsRevokedError(
          `send offsets to transaction: group ${groupId} moved past generation ${member.generationId} (a rebalance); the transaction must abort`,
          { cause: error },
        );
      }
      throw this.#producer.fail(error, 'send offsets to transaction');
    }
  }

  /**
   * kafkajs's sendOffsets, tried again while the coordinator answers CONCURRENT_TRANSACTIONS (it is still writing the
   * markers of this producer's last transaction; seen right after an abort): after 2, 4, 8... ms (at most 100 ms
   * apart), for up to `CONCURRENT_TRANSACTIONS_DEADLINE_MS`. AddOffsetsToTxn did nothing when it is refused, and
   * adding the same group twice to a transaction is allowed, so the whole call is repeated.
   */
  async #sendOffsets(
    groupId: string,
    topics: { topic: string; partitions: { partition: number; offset: string }[] }[],
  ): Promise<void> {
    const deadline = Date.now() + CONCURRENT_TRANSACTIONS_DEADLINE_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#txn.sendOffsets({ consumerGroupId: groupId, topics });
        return;
      } catch (error) {
        if (!isConcurrentTransactions(error) || Date.now() >= deadline) throw error;
        await sleep(Math.min(100, 2 ** attempt));
      }
    }
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    this.#open = false;
    try {
      await this.#txn.commit();
    } catch (error) {
      throw this.#producer.fail(error, 'commit transaction');
    }
  }

  async abort(): Promise<void> {
    this.#checkOpen();
    this.#open = false;
    try {
      await this.#txn.abort();
    } catch (error) {
      throw this.#producer.fail(error, 'abort transaction');
    }
  }

  #checkOpen(): void {
    const fenced = this.#producer.fenced;
    if (fenced !== null) throw fenced;
    if (!this.#open)
      throw new DirigoError('transaction: it has ended (committed or aborted); begin a new one');
  }
}
