// What kafkajs's public API does not offer, done through its internals:
// 1. high watermarks (a read_uncommitted ListOffsets; kafkajs's admin only asks read_committed, which answers
//    the last stable offset);
// 2. a raw Fetch that reports record-batch HEADERS, which kafkajs throws away;
// 3. committed offsets read with `require_stable` (OffsetFetch v7, eos-v2.ts), which kafkajs's OffsetFetch lacks.
//
// Why: after log compaction a segment can end with record batches that have no records left (Kafka keeps the
// last batch of each producer, emptied, to remember its sequence numbers). A fetch at an offset in such a range
// returns only those empty batches, because the broker answers from one segment at a time. kafkajs decodes the
// records, finds none, and re-fetches the same offset forever (kafkajs issue #1072); the Java client instead
// moves to the batch header's last offset + 1. This probe sends one Fetch (v4, read_committed) through kafkajs's
// own connection to the partition leader (so TLS/SASL settings apply) and decodes only the batch headers, so the
// caller can step over the empty batches exactly.
//
// Both go through a kafkajs Cluster made by the Kafka client's private factory (so brokers, TLS, SASL, timeouts
// and logging are the transport's), its Broker connection pool, Encoder and Decoder: this ties the file to kafkajs
// 2.2.4, the exact version this package pins (its tests fail if the internals move); `available()` says whether
// they were found.
import { createRequire } from 'node:module';
import type { Kafka } from 'kafkajs';
import { isConnectionError, isCoordinatorNotFound, messageOfError } from './errors.ts';
import { type OffsetFetchAnswer, OFFSET_FETCH_TRY_AGAIN, offsetFetchError, offsetFetchV7 } from './eos-v2.ts';

const require = createRequire(import.meta.url);

/** How long `committedOffsets` keeps trying (an open transaction ends by its timeout at the latest). */
export const COMMITTED_DEADLINE_MS = 30_000;

interface KEncoder {
  writeInt8(v: number): KEncoder;
  writeInt32(v: number): KEncoder;
  writeInt64(v: string | number): KEncoder;
  writeString(v: string): KEncoder;
  writeArray(items: KEncoder[]): KEncoder;
}
interface KDecoder {
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readString(): string;
  readBytes(length?: number): Buffer | null;
}
interface KBroker {
  connectionPool: { send(request: unknown): Promise<unknown> };
}
interface KCluster {
  connect(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number }[];
  fetchTopicsOffset(
    topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  /** kafkajs keeps every topic ever targeted and refreshes metadata for all of them. */
  targetTopics: Set<string>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(node: { nodeId: number | string }): Promise<KBroker>;
  findGroupCoordinator(args: { groupId: string }): Promise<KBroker>;
  brokerPool: {
    seedBroker?: {
      findGroupCoordinator(args: { groupId: string; coordinatorType: number }): Promise<unknown>;
    };
  };
}

/** One record batch's header. */
export interface BatchHeader {
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** Records left in the batch (0 for a batch emptied by compaction). */
  readonly recordCount: number;
  /** A control batch (transaction marker). */
  readonly control: boolean;
  /** Size of the whole batch on the wire. */
  readonly sizeBytes: number;
}

export interface ProbeResult {
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  /** The batches the broker returned for a fetch at the offset, in order (the last one may be truncated). */
  readonly batches: readonly BatchHeader[];
}

const FETCH_API_KEY = 1;
const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;
/** Bytes of a v2 record batch header up to and including the record count. */
const BATCH_HEADER_BYTES = 61;

/** Parses the batch headers of a Fetch record set (magic 2). A truncated last batch counts if its header is whole. */
export function parseBatchHeaders(records: Buffer): BatchHeader[] {
  const batches: BatchHeader[] = [];
  let at = 0;
  while (records.length - at >= BATCH_HEADER_BYTES) {
    const baseOffset = Number(records.readBigInt64BE(at));
    const length = records.readInt32BE(at + 8);
    const magic = records.readInt8(at + 16);
    if (magic !== 2) break;
    const attributes = records.readInt16BE(at + 21);
    const lastOffsetDelta = records.readInt32BE(at + 23);
    const recordCount = records.readInt32BE(at + 57);
    batches.push({
      baseOffset,
      lastOffset: baseOffset + lastOffsetDelta,
      recordCount,
      control: (attributes & 0x20) !== 0,
      sizeBytes: 12 + length,
    });
    at += 12 + length;
  }
  return batches;
}

/**
 * Where a reader stuck at `position` should continue: past the batches at the position that have no records
 * left. Returns `position` when the first batch there still holds records (nothing to skip), and `end` when
 * there is no batch at all up to `end` (the partition has nothing more to read before it).
 */
export function nextReadable(result: ProbeResult, position: number, end: number): number {
  if (result.batches.length === 0) {
    const stable = result.lastStableOffset >= 0 ? result.lastStableOffset : result.highWatermark;
    return stable >= end ? Math.max(position, end) : position;
  }
  let next = position;
  for (const b of result.batches) {
    if (b.lastOffset < next) continue;
    if (b.recordCount > 0) break;
    next = b.lastOffset + 1;
  }
  return next;
}

export class KafkajsInternals {
  readonly #kafka: Kafka;
  #cluster: Promise<KCluster> | null = null;
  #lock: Promise<void> = Promise.resolve();

  constructor(kafka: Kafka) {
    this.#kafka = kafka;
  }

  /**
   * Makes `topic` the only metadata target: kafkajs refreshes metadata for every topic ever targeted, so one
   * deleted topic would make every later call fail with UNKNOWN_TOPIC_OR_PARTITION.
   */
  async #target(cluster: KCluster, topic: string): Promise<void> {
    if (!(cluster.targetTopics.size === 1 && cluster.targetTopics.has(topic))) {
      cluster.targetTopics.clear();
    }
    await cluster.addTargetTopic(topic);
  }

  /** Whether the kafkajs internals this probe needs are there. */
  available(): boolean {
    return this.#createCluster() !== undefined;
  }

  /**
   * Low and high watermarks of every partition of a topic; `high` is the real high watermark (the offset after
   * the last record written, open transactions included). Rejects with kafkajs's UNKNOWN_TOPIC_OR_PARTITION
   * error for a missing topic.
   */
  async watermarks(topic: string): Promise<{ partition: number; low: number; high: number }[]> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return await this.#exclusive(async (cluster) => {
          await this.#target(cluster, topic);
          if (attempt > 0) await cluster.refreshMetadata();
          const partitions = cluster
            .findTopicPartitionMetadata(topic)
            .map((p) => ({ partition: p.partitionId }));
          if (partitions.length === 0) {
            // Never answer "no partitions" for a topic the broker knows: a caller would take it for an empty topic.
            throw Object.assign(new Error(`watermarks: no partition metadata for '${topic}' yet`), {
              retriable: true,
            });
          }
          const [lows, highs] = await Promise.all([
            cluster.fetchTopicsOffset([{ topic, partitions, fromBeginning: true }]),
            cluster.fetchTopicsOffset([{ topic, partitions, fromBeginning: false }]),
          ]);
          const low = new Map(lows[0]?.partitions.map((p) => [p.partition, Number(p.offset)]));
          const result = (highs[0]?.partitions ?? [])
            .map((p) => ({ partition: p.partition, low: low.get(p.partition) ?? 0, high: Number(p.offset) }))
            .sort((a, b) => a.partition - b.partition);
          if (result.length !== partitions.length) {
            throw Object.assign(
              new Error(
                `watermarks: answers for ${result.length} of ${partitions.length} partitions of '${topic}'`,
              ),
              {
                retriable: true,
              },
            );
          }
          return result;
        });
      } catch (error) {
        lastError = error;
        const e = error as { retriable?: boolean; type?: string };
        if (e.retriable !== true || e.type === 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    throw lastError;
  }

  /**
   * The seed broker's refusal to find a coordinator for `key` (coordinator type 0: a group, 1: a transactional
   * id), or undefined when it finds one. kafkajs drops that answer when it fails and throws "Failed to find group
   * coordinator" (KafkaJSGroupCoordinatorNotFound) whatever the reason; the answer says it, e.g.
   * GROUP_AUTHORIZATION_FAILED or TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
   */
  async coordinatorRefusal(key: string, coordinatorType: 0 | 1): Promise<unknown> {
    return this.#exclusive(async (cluster) => {
      const seed = cluster.brokerPool.seedBroker;
      if (seed === undefined) return undefined;
      try {
        await seed.findGroupCoordinator({ groupId: key, coordinatorType });
        return undefined;
      } catch (error) {
        return error;
      }
    });
  }

  /** Fetches at `offset` (read_committed) and returns the batch headers of the answer. */
  async probe(
    topic: string,
    partition: number,
    offset: number,
    maxBytes = 1024 * 1024,
  ): Promise<ProbeResult> {
    const broker = await this.#exclusive(async (cluster) => {
      await this.#target(cluster, topic);
      await cluster.refreshMetadata();
      const leaders = cluster.findLeaderForPartitions(topic, [partition]);
      const nodeId = Object.keys(leaders).find((n) => leaders[n]!.includes(partition));
      if (nodeId === undefined) throw new Error(`probe: no leader known for ${topic}[${partition}]`);
      return cluster.findBroker({ nodeId });
    });
    const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KEncoder;
    const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => KDecoder;
    const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
      createErrorFromCode(code: number): Error;
    };
    const request = {
      apiKey: FETCH_API_KEY,
      apiVersion: 4,
      apiName: 'Fetch',
      encode: async () =>
        new Encoder()
          .writeInt32(-1) // replica id
          .writeInt32(0) // max wait: answer at once
          .writeInt32(0) // min bytes
          .writeInt32(maxBytes)
          .writeInt8(READ_COMMITTED)
          .writeArray([
            new Encoder()
              .writeString(topic)
              .writeArray([
                new Encoder().writeInt32(partition).writeInt64(String(offset)).writeInt32(maxBytes),
              ]),
          ]),
    };
    const response = {
      decode: async (raw: Buffer) => {
        const d = new Decoder(raw);
        d.readInt32(); // throttle time
        const topics = d.readInt32();
        for (let t = 0; t < topics; t++) {
          const name = d.readString();
          const partitions = d.readInt32();
          for (let p = 0; p < partitions; p++) {
            const id = d.readInt32();
            const errorCode = d.readInt16();
            const highWatermark = Number(d.readInt64().toString());
            const lastStableOffset = Number(d.readInt64().toString());
            const aborted = d.readInt32();
            for (let a = 0; a < aborted; a++) {
              d.readInt64();
              d.readInt64();
            }
            const records = d.readBytes() ?? Buffer.alloc(0);
            if (name === topic && id === partition) {
              if (errorCode !== 0) throw createErrorFromCode(errorCode);
              return { highWatermark, lastStableOffset, batches: parseBatchHeaders(records) };
            }
          }
        }
        throw new Error(`probe: no answer for ${topic}[${partition}]`);
      },
      parse: async (result: ProbeResult) => result,
    };
    return (await broker.connectionPool.send({ request, response })) as ProbeResult;
  }

  /**
   * Committed offsets of `groupId` for every partition of `topic` (-1: none), by OffsetFetch v7 to the group's
   * coordinator (eos-v2.ts). With `requireStable`, offsets an open transaction holds are waited for (the answer
   * UNSTABLE_OFFSET_COMMIT is tried again), as the Java consumer does since KIP-447; so are a loading or moved
   * coordinator and a broker that cannot be reached. Rejects once an answer cannot change by trying again, or
   * when `deadlineMs` has passed.
   */
  async committedOffsets(
    groupId: string,
    topic: string,
    requireStable: boolean,
    deadlineMs = COMMITTED_DEADLINE_MS,
  ): Promise<{ partition: number; offset: number }[]> {
    const deadline = Date.now() + deadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const { broker, partitions } = await this.#exclusive(async (cluster) => {
          await this.#target(cluster, topic);
          if (attempt > 0) await cluster.refreshMetadata();
          const partitions = cluster
            .findTopicPartitionMetadata(topic)
            .map((p) => p.partitionId)
            .sort((a, b) => a - b);
          if (partitions.length === 0) {
            throw Object.assign(new Error(`committed offsets: no partition metadata for '${topic}' yet`), {
              type: 'LEADER_NOT_AVAILABLE',
            });
          }
          return { broker: await cluster.findGroupCoordinator({ groupId }), partitions };
        });
        const answer = (await broker.connectionPool.send(
          offsetFetchV7(groupId, topic, partitions, requireStable),
        )) as OffsetFetchAnswer;
        const error = offsetFetchError(answer);
        if (error !== undefined) throw error;
        const committed = new Map(answer.partitions.map((p) => [p.partition, p.offset]));
        return partitions.map((partition) => {
          const offset = committed.get(partition) ?? -1;
          return { partition, offset: offset < 0 ? -1 : offset };
        });
      } catch (error) {
        const type = (error as { type?: string }).type;
        const again =
          (type !== undefined && (OFFSET_FETCH_TRY_AGAIN.has(type) || type === 'LEADER_NOT_AVAILABLE')) ||
          isConnectionError(error);
        const pause = Math.min(1_000, 100 * 2 ** attempt);
        if (!again || Date.now() + pause > deadline) throw error;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  async close(): Promise<void> {
    const cluster = this.#cluster;
    this.#cluster = null;
    if (cluster !== null) await (await cluster.catch(() => null))?.disconnect();
  }

  #createCluster(): ((options: object) => KCluster) | undefined {
    const symbol = Object.getOwnPropertySymbols(this.#kafka).find(
      (s) => s.description === 'private:Kafka:createCluster',
    );
    const create =
      symbol === undefined ? undefined : (this.#kafka as unknown as Record<symbol, unknown>)[symbol];
    return typeof create === 'function' ? (create as (options: object) => KCluster) : undefined;
  }

  /**
   * Runs `fn` alone on the cluster: its metadata holds the target topics of one caller at a time (kafkajs keeps
   * one metadata set per cluster, replaced at every refresh), so concurrent callers must not interleave between
   * targeting their topic and reading its metadata.
   */
  #exclusive<T>(fn: (cluster: KCluster) => Promise<T>): Promise<T> {
    const run = this.#lock.then(async () => fn(await this.#connected()));
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #connected(): Promise<KCluster> {
    if (this.#cluster === null) {
      const create = this.#createCluster();
      if (create === undefined) return Promise.reject(new Error('probe: kafkajs internals not found'));
      // READ_UNCOMMITTED: the cluster's ListOffsets then answers high watermarks (the probe's Fetch sets its own).
      const cluster = create({ allowAutoTopicCreation: false, isolationLevel: READ_UNCOMMITTED });
      const connecting = cluster.connect().then(() => cluster);
      connecting.catch(() => {
        if (this.#cluster === connecting) this.#cluster = null;
      });
      this.#cluster = connecting;
    }
    return this.#cluster;
  }
}

/**
 * `error`, or, when it is kafkajs's "Failed to find group coordinator" for `key` (coordinator type 0: a group, 1: a
 * transactional id), an error with the broker's own answer as its cause (an ACL refusing the key, say), which
 * `mapError` then maps (to an `AuthorizationError`).
 */
export async function explainCoordinatorNotFound(
  error: unknown,
  probe: () => KafkajsInternals | undefined,
  key: string,
  coordinatorType: 0 | 1,
): Promise<unknown> {
  if (!isCoordinatorNotFound(error)) return error;
  const refusal = await Promise.resolve()
    .then(() => probe()?.coordinatorRefusal(key, coordinatorType))
    .catch(() => undefined);
  return refusal === undefined ? error : Object.assign(new Error(messageOfError(error)), { cause: refusal });
}
