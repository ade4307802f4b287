// Producer and Transaction on @platformatic/kafka.
//
// Partitioning: this wrapper picks every record's partition itself (explicit partition, else `partitionFor` of
// @dirigo/core, the Java client's murmur2, else round-robin) with the partition count the transport knows, so
// keyed records land where the Java client, the kafkajs transport and the in-memory transport put them (the
// client's own default partitioner is not Java-compatible).
//
// Batching: the client builds one record batch per partition per `send`, which the broker rejects above the
// topic's max.message.bytes (1 MiB by default), so big sends are cut into consecutive chunks of at most
// MAX_PARTITION_BATCH_BYTES per partition. With the transport's Produce encoder, each chunk reaches the client as one
// message per partition (`packRecordChunks`; the encoder writes the records as they are, see produce-request.ts
// "Packed partitions").
//
// Coalescing: the sends of a producer without a transactional id (the worker's shared at-least-once producer) made
// in one turn of the event loop go out together, at the next (setImmediate): one Produce request carries every
// partition's records of every such send, as the Java producer's accumulator does, instead of one request (or two)
// per send. Each send resolves when every request of its flush is acknowledged; when one fails, every send of the
// flush fails with it (its records may be written: at-least-once). Sends made while a flush is in flight go out in
// the next one, concurrently with it, as concurrent sends did before; a send's own records keep their order.
//
// Transactions (see README.md): `connect()` of a transactional producer registers the transactional id at once
// (InitProducerId through a transaction that is then dropped locally), fencing older producers as Java's
// `initTransactions` does. Offsets go into a transaction with AddOffsetsToTxn + TxnOffsetCommit, either without
// group metadata (generation -1, no member id: the pre-KIP-447 fencing model, one transactional id per input
// partition) or, given the member (exactly-once v2), with its generation and id in one request for every
// partition (txn-offsets.ts). A fenced producer stays fenced: the client would otherwise register the id again at
// the next transaction and fence the new owner.
import {
  checkMemberGroup,
  ConfigError,
  DirigoError,
  type Producer as DirigoProducer,
  type GroupMetadata,
  PartitionsRevokedError,
  type Transaction as DirigoTransaction,
  FencedError,
  type Logger,
  MAX_PARTITION_BATCH_BYTES,
  type OutgoingRecord,
  type ProducerOptions,
  partitionFor,
  type RecordHeaders,
  type TopicPartitionOffset,
} from '@dirigo/core';
import {
  type API,
  addPartitionsToTxnV0,
  addPartitionsToTxnV1,
  addPartitionsToTxnV2,
  addPartitionsToTxnV3,
  type Callback,
  ConnectionPool,
  kGetApi,
  type Message,
  type MessageToProduce,
  type Consumer as PConsumer,
  Producer as PProducer,
  type ProducerOptions as PProducerOptions,
} from '@platformatic/kafka';
import { newestApi } from './apis.ts';
import { isFencedError, mapError } from './errors.ts';
import { fastProduceApi, packRecords, recordHeaderBlock } from './produce-request.ts';
import { headerKeyOf, toMessage } from './records.ts';
import { commitTxnOffsetsAsMember } from './txn-offsets.ts';

/** The client's transaction (its class is not exported by name). */
type PTransaction = NonNullable<PProducer<Buffer, Buffer, Buffer, Buffer>['transaction']>;

/** Client options shared by every client the transport makes (brokers, timeouts, retries, TLS, SASL). */
export type BaseClientOptions = Omit<PProducerOptions<Buffer, Buffer, Buffer, Buffer>, 'clientId'>;

/** What producers need from the transport. */
export interface ProducerContext {
  readonly logger: Logger;
  readonly client: BaseClientOptions;
  readonly clientId: string;
  /** Rejects with `UnknownTopicError` for topics that do not exist (cached per transport). */
  ensureTopics(topics: readonly string[]): Promise<void>;
  /** The partition count of a topic `ensureTopics` has seen. */
  partitionCount(topic: string): number | undefined;
  /** The node coordinating `groupId` (for offsets in transactions). */
  groupCoordinator(groupId: string): Promise<number>;
  /** Forgets a coordinator that did not answer as one. */
  forgetGroupCoordinator(groupId: string): void;
  /** Who encodes Produce requests (`produceEncoderOf`). */
  readonly produceEncoder: ProduceEncoder;
  /** The transport's first-connection check (a TLS or SASL failure rejects with a `SecurityError`). */
  connectionCheck?(): Promise<void>;
  closed(producer: PlatformaticProducer): void;
}

/** Options of InitProducerId for a producer that has no id yet (the client's defaults are 0/0). */
const NEW_PRODUCER = { producerId: -1n, producerEpoch: -1 } as const;

export { MAX_PARTITION_BATCH_BYTES };

/** AddPartitionsToTxn's API key. */
const ADD_PARTITIONS_TO_TXN = 24;

/**
 * The versions of AddPartitionsToTxn a client may send, newest first. Versions 4 and up (KIP-890) are the brokers'
 * own (a broker verifying a partition with the transaction coordinator): the broker answers a client's v4+ with
 * CLUSTER_AUTHORIZATION_FAILED unless its principal holds CLUSTER_ACTION on the cluster, a broker's right. The
 * client (2.12) picks the newest version the broker lists, so every transaction failed on a cluster with ACLs
 * unless the app ran as a super user; the Java client sends at most v3.
 */
const CLIENT_ADD_PARTITIONS_TO_TXN = [
  [3, addPartitionsToTxnV3.api],
  [2, addPartitionsToTxnV2.api],
  [1, addPartitionsToTxnV1.api],
  [0, addPartitionsToTxnV0.api],
] as const;

/**
 * The client's producer, sending AddPartitionsToTxn in a client's version (`CLIENT_ADD_PARTITIONS_TO_TXN`); every
 * other request as the client does. The transport's producers are of this class or `ProducerWithOwnEncoder`.
 */
export class ProducerWithClientApis extends PProducer<Buffer, Buffer, Buffer, Buffer> {
  override [kGetApi]<A extends unknown[], R>(name: string, callback: Callback<API<A, R>>): void {
    if (name !== 'AddPartitionsToTxn') {
      super[kGetApi](name, callback);
      return;
    }
    newestApi(
      this,
      ADD_PARTITIONS_TO_TXN,
      CLIENT_ADD_PARTITIONS_TO_TXN,
      'the brokers speak no client version (0-3) of AddPartitionsToTxn',
    ).then(
      (api) => callback(null, api as unknown as API<A, R>),
      (error: unknown) => callback(error as Error, undefined as never),
    );
  }
}

/**
 * `ProducerWithClientApis` with Produce requests encoded by produce-request.ts (one buffer per request instead of
 * a list of small buffers per record, concatenated twice). The transport's producers use it (unless
 * `produceEncoder: 'client'`); exported for plain client loops that want the same.
 */
export class ProducerWithOwnEncoder extends ProducerWithClientApis {
  override [kGetApi]<A extends unknown[], R>(name: string, callback: Callback<API<A, R>>): void {
    if (name !== 'Produce') {
      super[kGetApi](name, callback);
      return;
    }
    super[kGetApi]<A, R>(name, (error, api) => {
      callback(error, error === null && api !== undefined ? (fastProduceApi(api as never) as never) : api);
    });
  }
}

/** Who encodes Produce requests: the transport (`dirigo`, produce-request.ts) or the client (`client`). */
export type ProduceEncoder = 'dirigo' | 'client';

/**
 * The encoder chosen by `option`, else by the environment variable `DIRIGO_PRODUCE_ENCODER`, else `dirigo`; an
 * unknown name is a `ConfigError` naming the option or the variable.
 */
export function produceEncoderOf(option?: ProduceEncoder): ProduceEncoder {
  const encoder = option ?? process.env.DIRIGO_PRODUCE_ENCODER ?? 'dirigo';
  if (encoder !== 'dirigo' && encoder !== 'client') {
    throw new ConfigError(
      option === undefined ? 'DIRIGO_PRODUCE_ENCODER' : 'produceEncoder',
      `unknown produce encoder '${encoder}': use 'dirigo' or 'client'`,
    );
  }
  return encoder;
}

/** The client's producer class that encodes Produce requests with `encoder`. */
export const producerClassFor = (
  encoder: ProduceEncoder,
): typeof PProducer<Buffer, Buffer, Buffer, Buffer> =>
  encoder === 'client' ? ProducerWithClientApis : ProducerWithOwnEncoder;

/** Chooses partitions: explicit, else murmur2 of the key (Java-compatible), else round-robin per topic. */
export class Partitioner {
  readonly #roundRobin = new Map<string, number>();

  partition(record: OutgoingRecord, count: number): number {
    return record.partition ?? this.forKey(record.topic, record.key, count);
  }

  /** The partition of a record of `topic` without an explicit one: murmur2 of `key`, else round-robin. */
  forKey(topic: string, key: Buffer | null | undefined, count: number): number {
    if (key !== null && key !== undefined) return partitionFor(key, count);
    const next = ((this.#roundRobin.get(topic) ?? Math.floor(Math.random() * count)) + 1) % count;
    this.#roundRobin.set(topic, next);
    return next;
  }
}

/**
 * The client's messages for `records`, cut into consecutive chunks (order kept) so that no partition gets more
 * than `maxBytes` in one chunk. `count` gives each topic's partition count. A record counts as its key, value and
 * encoded headers (`recordHeaderBlock`) plus 24 bytes.
 */
export function toMessageChunks(
  records: readonly OutgoingRecord[],
  count: (topic: string) => number,
  partitioner: Partitioner,
  maxBytes = MAX_PARTITION_BATCH_BYTES,
): MessageToProduce[][] {
  return chunkRecords([records], count, partitioner, maxBytes, false);
}

/**
 * `toMessageChunks` for producers whose Produce requests produce-request.ts encodes: each chunk as one client
 * message per partition (`packRecords`: the records as they are behind it, no client message per record), in the
 * order the partitions first appear, each partition's records in order.
 */
export function packRecordChunks(
  records: readonly OutgoingRecord[],
  count: (topic: string) => number,
  partitioner: Partitioner,
  maxBytes = MAX_PARTITION_BATCH_BYTES,
): MessageToProduce[][] {
  return chunkRecords([records], count, partitioner, maxBytes, true);
}

/** A send waiting for its flush (see "Coalescing" at the top). */
interface QueuedSend {
  readonly records: readonly OutgoingRecord[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Per topic, the current chunk's bytes of each partition and (packed) its records, a packed message each. */
interface TopicSlots {
  lists: (OutgoingRecord[] | undefined)[];
  bytes: Float64Array;
}

/** The records of `lists`, one after the other, cut into chunks (see toMessageChunks, packRecordChunks). */
function chunkRecords(
  lists: readonly (readonly OutgoingRecord[])[],
  count: (topic: string) => number,
  partitioner: Partitioner,
  maxBytes: number,
  packed: boolean,
): MessageToProduce[][] {
  const chunks: MessageToProduce[][] = [];
  let chunk: MessageToProduce[] = [];
  // The encoded headers of the last headers object (records in a row mostly share one).
  let headers: RecordHeaders | undefined;
  let headerBytes = 1;
  const topics = new Map<string, TopicSlots>();
  let lastTopic = '';
  let lastCount = 0;
  let slots: TopicSlots = { lists: [], bytes: new Float64Array(0) };
  for (let l = 0; l < lists.length; l++) {
    const records = lists[l]!;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.topic !== lastTopic) {
        lastTopic = r.topic;
        lastCount = count(r.topic);
        let t = topics.get(r.topic);
        if (t === undefined) {
          t = { lists: new Array(lastCount).fill(undefined), bytes: new Float64Array(lastCount) };
          topics.set(r.topic, t);
        }
        slots = t;
      }
      const partition = partitioner.partition(r, lastCount);
      if (partition >= slots.bytes.length) {
        // An explicit partition beyond the known count (a stale count): grow the topic's slots.
        const grown = new Float64Array(partition + 1);
        grown.set(slots.bytes);
        slots.bytes = grown;
        while (slots.lists.length <= partition) slots.lists.push(undefined);
      }
      const key = r.key;
      const value = r.value;
      if (r.headers !== headers) {
        headers = r.headers;
        headerBytes = recordHeaderBlock(headers).length;
      }
      const size = 24 + (key === null ? 0 : key.length) + (value === null ? 0 : value.length) + headerBytes;
      const before = slots.bytes[partition]!;
      if (before > 0 && before + size > maxBytes) {
        chunks.push(chunk);
        chunk = [];
        for (const t of topics.values()) {
          t.bytes.fill(0);
          t.lists.fill(undefined);
        }
      }
      slots.bytes[partition]! += size;
      if (!packed) {
        chunk.push(toMessage(r, partition));
        continue;
      }
      let list = slots.lists[partition];
      if (list === undefined) {
        list = [];
        slots.lists[partition] = list;
        chunk.push(packRecords(r.topic, partition, list) as MessageToProduce);
      }
      list.push(r);
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

export class PlatformaticProducer implements DirigoProducer {
  readonly #context: ProducerContext;
  readonly #producer: PProducer<Buffer, Buffer, Buffer, Buffer>;
  readonly #transactionalId: string | undefined;
  readonly #logger: Logger;
  readonly #partitioner = new Partitioner();
  #fenced: FencedError | null = null;
  #transaction: PlatformaticTransaction | null = null;
  /** Connections for the transport's own TxnOffsetCommit requests (exactly-once v2), made on first use. */
  #pool: ConnectionPool | null = null;
  /** The last transaction ended badly: register the id again (aborting it on the broker) before the next one. */
  #reinit = false;
  /** Sends made since the last flush started (see "Coalescing" at the top). */
  #queued: QueuedSend[] = [];
  #flushScheduled = false;
  #closed = false;

  constructor(context: ProducerContext, options: ProducerOptions = {}) {
    this.#context = context;
    this.#transactionalId = options.transactionalId;
    this.#logger = context.logger.child({
      component: 'producer',
      ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
    });
    const transactional = options.transactionalId !== undefined;
    this.#producer = new (producerClassFor(context.produceEncoder))({
      ...context.client,
      clientId: options.clientId ?? context.clientId,
      idempotent: true,
      autocreateTopics: false,
      // InitProducerId must say "no producer yet" (-1/-1): the client's default (0/0) claims to be producer 0
      // and makes the broker refuse a new owner of a transactional id that already has a producer
      // (PRODUCER_FENCED) instead of fencing the old one.
      ...NEW_PRODUCER,
      // Header keys arrive as bytes already (records.ts `toMessage`); a string one is converted.
      serializers: { headerKey: headerKeyOf as unknown as (key: Buffer | undefined) => Buffer },
      ...(transactional
        ? {
            transactionalId: options.transactionalId,
            // The client sends its request timeout as the transaction timeout of InitProducerId.
            timeout: Math.max(context.client.timeout ?? 0, options.transactionTimeoutMs ?? 60_000),
          }
        : {}),
    });
  }

  async connect(): Promise<void> {
    await this.#context.connectionCheck?.();
    try {
      if (this.#transactionalId === undefined) {
        await this.#producer.initIdempotentProducer(NEW_PRODUCER);
      } else {
        // InitProducerId now, as Java's initTransactions: fences older producers with this id and aborts their
        // open transaction. The client registers the id when a transaction begins; this one is dropped locally
        // (nothing was added to it, so the broker never knew it).
        const txn = await this.#producer.beginTransaction(NEW_PRODUCER);
        await txn.cancel();
      }
      this.#logger.debug('producer connected');
    } catch (error) {
      throw this.fail(error, 'connect producer');
    }
  }

  send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.#transactionalId !== undefined) {
      return Promise.reject(
        new DirigoError(
          'produce: a transactional producer sends inside transactions only (beginTransaction)',
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#queued.push({ records, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** Sends every queued send's records together; settles each send with the result. */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const sends = this.#queued;
    this.#queued = [];
    void this.#flushSends(sends);
  };

  async #flushSends(sends: readonly QueuedSend[]): Promise<void> {
    // The topics of every send at once (known topics: no request); when that fails, each send's alone, so a send
    // naming a topic that cannot be produced to fails alone.
    let ready: QueuedSend[] = sends as QueuedSend[];
    try {
      await this.#ensureTopics(sends.map((q) => q.records));
    } catch {
      ready = [];
      for (const q of sends) {
        try {
          await this.#ensureTopics([q.records]);
          ready.push(q);
        } catch (error) {
          q.reject(mapError(error, { operation: 'produce', topic: q.records[0]!.topic }));
        }
      }
      if (ready.length === 0) return;
    }
    try {
      for (const messages of this.#chunkLists(ready.map((q) => q.records))) {
        await this.#producer.send({ messages });
      }
    } catch (error) {
      for (const q of ready) q.reject(mapError(error, { operation: 'produce', topic: q.records[0]!.topic }));
      return;
    }
    for (const q of ready) q.resolve();
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
    let txn: PTransaction;
    try {
      txn = await this.#producer.beginTransaction(NEW_PRODUCER);
      if (this.#reinit) {
        // InitProducerId again (the client sends it with the open transaction's id): the broker aborts what the
        // last transaction left open and bumps the epoch.
        await this.#producer.initIdempotentProducer(NEW_PRODUCER);
        this.#reinit = false;
      }
    } catch (error) {
      // The client makes a transaction its current one before preparing it (FindCoordinator, InitProducerId) and
      // keeps it when that fails: every later beginTransaction would fail with "There is already an active
      // transaction" (client defect 8, seen when the transaction coordinator's node died). Drop it, and register
      // the id again before the next one.
      await this.#producer.transaction?.cancel().catch(() => {});
      this.#reinit = true;
      throw this.fail(error, 'begin transaction');
    }
    this.#transaction = new PlatformaticTransaction(this, txn);
    return this.#transaction;
  }

  async disconnect(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#pool?.close();
      await this.#producer.close(true);
    } catch (error) {
      throw mapError(error, { operation: 'disconnect producer' });
    } finally {
      this.#context.closed(this);
      this.#logger.debug('producer disconnected');
    }
  }

  /** @internal The client's messages for `records`, chunked (checks the topics first). */
  async chunks(records: readonly OutgoingRecord[]): Promise<MessageToProduce[][]> {
    await this.#ensureTopics([records]);
    return this.#chunkLists([records]);
  }

  /** Makes sure the transport knows the partition count of every topic of `lists`. */
  async #ensureTopics(lists: readonly (readonly OutgoingRecord[])[]): Promise<void> {
    const topics = new Set<string>();
    let last: string | undefined;
    for (const records of lists) {
      for (const r of records) {
        // Records come in runs of one topic: one set lookup per run.
        if (r.topic !== last) {
          last = r.topic;
          topics.add(last);
        }
      }
    }
    await this.#context.ensureTopics([...topics]);
  }

  /** The client's messages for the records of `lists`, one list after the other, chunked (topics known). */
  #chunkLists(lists: readonly (readonly OutgoingRecord[])[]): MessageToProduce[][] {
    const count = (t: string) => this.#context.partitionCount(t) ?? 1;
    // The transport's encoder writes the records of a packed partition itself: the client's per-message send
    // work is done once per partition, and no client message is made per record (see produce-request.ts,
    // "Packed partitions").
    return chunkRecords(
      lists,
      count,
      this.#partitioner,
      MAX_PARTITION_BATCH_BYTES,
      this.#context.produceEncoder === 'dirigo',
    );
  }

  /** @internal The client (tests inject broker failures into it). */
  get client(): PProducer<Buffer, Buffer, Buffer, Buffer> {
    return this.#producer;
  }

  /** @internal */
  get context(): ProducerContext {
    return this.#context;
  }

  /** @internal Commits the open transaction's offsets as `member`'s (one TxnOffsetCommit for all partitions). */
  commitOffsetsAsMember(member: GroupMetadata, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.#pool === null) {
      const { bootstrapBrokers: _b, ...connectionOptions } = this.#context.client;
      this.#pool = new ConnectionPool(this.#context.clientId, connectionOptions);
    }
    return commitTxnOffsetsAsMember(
      {
        client: this.#producer,
        pool: this.#pool,
        transactionalId: this.#transactionalId!,
        producerId: this.#producer.producerId!,
        producerEpoch: this.#producer.producerEpoch!,
        coordinator: (groupId) => this.#context.groupCoordinator(groupId),
        forgetCoordinator: (groupId) => this.#context.forgetGroupCoordinator(groupId),
      },
      member,
      offsets,
    );
  }

  /** @internal */
  get fenced(): FencedError | null {
    return this.#fenced;
  }

  /** @internal The transaction ended in an unknown state: re-register before the next one. */
  markForReinit(): void {
    this.#reinit = true;
  }

  /** @internal Maps an error of a transactional call; a fencing is remembered: every later call fails the same way. */
  fail(error: unknown, operation: string, topic?: string): Error {
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
}

export class PlatformaticTransaction implements DirigoTransaction {
  readonly #producer: PlatformaticProducer;
  readonly #txn: PTransaction;
  #open = true;
  /** Records or offsets were added (the broker knows the transaction). */
  #touched = false;
  readonly #groups = new Set<string>();

  constructor(producer: PlatformaticProducer, txn: PTransaction) {
    this.#producer = producer;
    this.#txn = txn;
  }

  get open(): boolean {
    return this.#open;
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.#checkOpen();
    if (records.length === 0) return;
    this.#touched = true;
    try {
      for (const messages of await this.#producer.chunks(records)) await this.#txn.send({ messages });
    } catch (error) {
      throw this.#producer.fail(error, 'transactional produce', records[0]!.topic);
    }
  }

  async sendOffsets(
    groupId: string,
    offsets: readonly TopicPartitionOffset[],
    member?: GroupMetadata,
  ): Promise<void> {
    this.#checkOpen();
    if (offsets.length === 0) return;
    checkMemberGroup(groupId, member);
    const context = this.#producer.context;
    this.#touched = true;
    try {
      if (!this.#groups.has(groupId)) {
        // AddOffsetsToTxn: the client only reads `groupId` from the consumer it is given.
        await this.#txn.addConsumer({ groupId } as unknown as PConsumer<Buffer, Buffer, Buffer, Buffer>);
        this.#groups.add(groupId);
      }
      if (member !== undefined) return await this.#producer.commitOffsetsAsMember(member, offsets);
      const coordinatorId = await context.groupCoordinator(groupId);
      for (const o of offsets) {
        // TxnOffsetCommit of `offset` (the client commits a message's offset + 1), without group metadata.
        const message = {
          topic: o.topic,
          partition: o.partition,
          offset: BigInt(o.offset) - 1n,
          metadata: { consumer: { groupId, generationId: -1, memberId: '', coordinatorId } },
        };
        await this.#txn.addOffset(message as unknown as Message<Buffer, Buffer, Buffer, Buffer>);
      }
    } catch (error) {
      // A member whose generation moved on: the transaction must abort, the producer is fine.
      if (error instanceof PartitionsRevokedError) throw error;
      context.forgetGroupCoordinator(groupId);
      throw this.#producer.fail(error, 'send offsets to transaction');
    }
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    this.#open = false;
    try {
      // Nothing was added: the broker never heard of this transaction (the client would send EndTxn anyway).
      if (!this.#touched) return await this.#txn.cancel();
      await this.#txn.commit();
    } catch (error) {
      const mapped = this.#producer.fail(error, 'commit transaction');
      this.#endedBadly();
      throw mapped;
    }
  }

  async abort(): Promise<void> {
    this.#checkOpen();
    this.#open = false;
    try {
      if (!this.#touched) return await this.#txn.cancel();
      await this.#txn.abort();
    } catch (error) {
      const mapped = this.#producer.fail(error, 'abort transaction');
      this.#endedBadly();
      throw mapped;
    }
  }

  /** The client keeps a transaction whose end failed as its current one: drop it, re-register next time. */
  #endedBadly(): void {
    if (this.#producer.fenced !== null) return;
    this.#producer.markForReinit();
    this.#txn.cancel().catch(() => {});
  }

  #checkOpen(): void {
    const fenced = this.#producer.fenced;
    if (fenced !== null) throw fenced;
    if (!this.#open)
      throw new DirigoError('transaction: it has ended (committed or aborted); begin a new one');
  }
}
