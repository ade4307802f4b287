// One round of Fetch requests for a set of partitions at given positions, one request per partition leader, on a
// connection pool of the caller's (so long polls never delay heartbeats or commits). Shared by group consumers and
// readToEnd. The requests go through the client's low-level Fetch API (v13-v17, the highest the brokers speak), not
// through `Consumer.fetch`: that one filters read_committed answers itself, and its filter hides committed records
// (see records.ts). Every answer is parsed with the records left as bytes, and decoded by our own decoder and
// filter. A request that fails with per-partition errors still answers the partitions that had none. No fetch
// sessions: every request lists its partitions.
import type { IncomingRecord } from '@dirigo/core';
import {
  type Base,
  type ConnectionPool,
  createAPI,
  FetchIsolationLevels,
  fetchV13,
  fetchV14,
  fetchV15,
  fetchV16,
  fetchV17,
  type Reader,
  ResponseError,
} from '@platformatic/kafka';
import { newestApi } from './apis.ts';
import { errorTree } from './errors.ts';
import { decodeRecords } from './records.ts';

/** A partition of a Fetch answer, its records left as the bytes the broker sent (decoded by `decodeRecords`). */
interface FetchResponsePartition {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  readonly abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null;
  readonly records: Buffer | null;
}
interface FetchResponse {
  readonly errorCode: number;
  readonly responses: { readonly topicId: string; readonly partitions: FetchResponsePartition[] }[];
}
type FetchApi = ReturnType<typeof fetchApi>;

/**
 * A Fetch answer (v13-v17: the same body; v16+ may add node endpoints in a tagged field, not needed here) with
 * each partition's records kept as bytes: `decodeRecords` reads them straight into Dirigo records, without the
 * client's objects per batch and record (a record object, a bigint timestamp delta, an array per varint read).
 * Errors as the client's parser reports them: a ResponseError carrying the answer.
 */
function parseFetchResponse(
  _correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: Reader,
): FetchResponse {
  const errors: [string, [number, null]][] = [];
  reader.readInt32(); // throttle_time_ms
  const errorCode = reader.readInt16();
  if (errorCode !== 0) errors.push(['', [errorCode, null]]);
  reader.readInt32(); // session_id
  const response: FetchResponse = {
    errorCode,
    responses: reader.readArray((r, i) => ({
      topicId: r.readUUID(),
      partitions: r.readArray(
        (r, j) => {
          const partitionIndex = r.readInt32();
          const partitionError = r.readInt16();
          const highWatermark = r.readInt64();
          const lastStableOffset = r.readInt64();
          const logStartOffset = r.readInt64();
          const abortedTransactions = r.readNullableArray((r) => ({
            producerId: r.readInt64(),
            firstOffset: r.readInt64(),
          }));
          r.readInt32(); // preferred_read_replica
          if (partitionError !== 0) errors.push([`/responses/${i}/partitions/${j}`, [partitionError, null]]);
          // COMPACT_RECORDS: length + 1, 0 for null.
          const size = r.readUnsignedVarInt() - 1;
          let records: Buffer | null = null;
          if (size > 0) {
            records = r.buffer.slice(r.position, r.position + size);
            r.skip(size);
          }
          skipTaggedFields(r);
          return {
            partitionIndex,
            errorCode: partitionError,
            highWatermark,
            lastStableOffset,
            logStartOffset,
            abortedTransactions,
            records,
          };
        },
        true,
        false,
      ),
    })),
  };
  skipTaggedFields(reader);
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response);
  return response;
}

/** Skips a flexible version's tagged fields. */
function skipTaggedFields(r: Reader): void {
  const count = r.readUnsignedVarInt();
  for (let i = 0; i < count; i++) {
    r.readUnsignedVarInt(); // tag
    r.skip(r.readUnsignedVarInt());
  }
}

/** The client's Fetch request of a version (v13-v17 take the same arguments) with our answer parser. */
const fetchApi = (version: number, createRequest: typeof fetchV17.createRequest) =>
  createAPI<fetchV17.FetchRequest, FetchResponse>(1, version, createRequest, parseFetchResponse);

/** Fetch versions that identify topics by id, newest first (all Kafka versions the client supports have one). */
const FETCH_APIS: readonly [number, FetchApi][] = [
  [17, fetchApi(17, fetchV17.createRequest)],
  [16, fetchApi(16, fetchV16.createRequest)],
  [15, fetchApi(15, fetchV15.createRequest)],
  [14, fetchApi(14, fetchV14.createRequest)],
  [13, fetchApi(13, fetchV13.createRequest)],
];
const FETCH_KEY = 1;

/** A client that knows the cluster (metadata, API versions). */
export type MetadataClient = Pick<Base, 'metadata' | 'clearMetadata' | 'listApis'>;

/** The newest Fetch version both the brokers and the client speak. */
const fetchApiOf = (client: MetadataClient): Promise<FetchApi> =>
  newestApi(
    client,
    FETCH_KEY,
    FETCH_APIS,
    'the brokers do not speak Fetch v13 or newer (Kafka 3.1+ is needed)',
  );

/** Kafka error codes a fetch answers per partition. */
const OFFSET_OUT_OF_RANGE = 1;

/** One partition to fetch, and from where. */
export interface FetchTarget {
  readonly topic: string;
  readonly partition: number;
  /** The offset to fetch from. */
  readonly offset: number;
  /** Bytes for this partition in this request. */
  readonly maxBytes: number;
}

/** What one fetch round answered for one target. */
export interface FetchedPartition {
  readonly topic: string;
  readonly partition: number;
  /** The offset it was fetched from (compare with the partition's position before using the answer). */
  readonly from: number;
  /** Visible records at or after `from`. */
  readonly records: IncomingRecord[];
  /** Offset after the last batch of the answer (control, aborted and emptied batches included). */
  readonly next: number | undefined;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Readable data lies past `from` but no complete record batch came: the next batch exceeds `maxBytes`. */
  readonly truncated: boolean;
  /** `from` lies outside the partition's offsets (deleted by retention, or beyond the end). */
  readonly outOfRange: boolean;
  /** The partition could not be fetched this time (retry later). */
  readonly error?: unknown;
}

/** How a fetch round asks: the isolation level, how long the brokers may wait for data, and the answer's size cap. */
export interface FetchRoundOptions {
  readonly isolation: 'read_committed' | 'read_uncommitted';
  readonly maxWaitMs: number;
  /** Upper bound of a whole answer. */
  readonly maxBytes: number;
}

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * Fetches every target once. Resolves with an answer per target (possibly with `error`); never rejects, except
 * when metadata cannot be read at all.
 */
export async function fetchRound(
  client: MetadataClient,
  pool: ConnectionPool,
  targets: readonly FetchTarget[],
  options: FetchRoundOptions,
): Promise<FetchedPartition[]> {
  if (targets.length === 0) return [];
  const topics = [...new Set(targets.map((t) => t.topic))];
  const [metadata, api] = await Promise.all([client.metadata({ topics }), fetchApiOf(client)]);
  const byLeader = new Map<number, FetchTarget[]>();
  const failed: FetchedPartition[] = [];
  for (const t of targets) {
    const leader = metadata.topics.get(t.topic)?.partitions[t.partition]?.leader ?? -1;
    if (leader < 0 || !metadata.brokers.has(leader)) {
      failed.push(failure(t, new Error(`no leader for ${t.topic}[${t.partition}]`)));
      client.clearMetadata();
      continue;
    }
    const list = byLeader.get(leader);
    if (list === undefined) byLeader.set(leader, [t]);
    else list.push(t);
  }
  const isolationLevel =
    options.isolation === 'read_committed'
      ? FetchIsolationLevels.READ_COMMITTED
      : FetchIsolationLevels.READ_UNCOMMITTED;
  const answers = await Promise.all(
    [...byLeader].map(async ([node, list]) => {
      const topicIds = new Map<string, string>();
      const request = new Map<string, FetchTarget[]>();
      for (const t of list) {
        const id = metadata.topics.get(t.topic)!.id;
        topicIds.set(id, t.topic);
        const l = request.get(id);
        if (l === undefined) request.set(id, [t]);
        else l.push(t);
      }
      let response: FetchResponse | undefined;
      let error: unknown;
      try {
        const connection = await pool.get(metadata.brokers.get(node)!);
        response = await api.async(
          connection,
          options.maxWaitMs,
          1,
          options.maxBytes,
          isolationLevel,
          0, // no fetch session (session id 0, final epoch)
          -1,
          [...request].map(([topicId, ts]) => ({
            topicId,
            partitions: ts.map((t) => ({
              partition: t.partition,
              fetchOffset: BigInt(t.offset),
              partitionMaxBytes: t.maxBytes,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          })),
          [],
          '',
        );
      } catch (e) {
        error = e;
        response = responseOf(e);
        // A moved leader, a deleted topic, a lost connection: look the cluster up again next time.
        client.clearMetadata();
      }
      return decodeAnswer(list, topicIds, response, error, options.isolation === 'read_committed');
    }),
  );
  return [...failed, ...answers.flat()];
}

/** The full answer a ResponseError carries (partitions without an error are usable). */
function responseOf(error: unknown): FetchResponse | undefined {
  for (const e of errorTree(error)) {
    const r = (e as { response?: FetchResponse }).response;
    if (r !== undefined && Array.isArray(r.responses)) return r;
  }
  return undefined;
}

function decodeAnswer(
  targets: readonly FetchTarget[],
  topicIds: ReadonlyMap<string, string>,
  response: FetchResponse | undefined,
  error: unknown,
  readCommitted: boolean,
): FetchedPartition[] {
  const answered = new Map<string, FetchResponsePartition>();
  for (const t of response?.responses ?? []) {
    const topic = topicIds.get(t.topicId) ?? t.topicId;
    for (const p of t.partitions) answered.set(keyOf(topic, p.partitionIndex), p);
  }
  return targets.map((t) => {
    const p = answered.get(keyOf(t.topic, t.partition));
    if (p === undefined) return error === undefined ? empty(t) : failure(t, error);
    if (p.errorCode === OFFSET_OUT_OF_RANGE) {
      return { ...empty(t, p), outOfRange: true };
    }
    if (p.errorCode !== 0) return failure(t, error ?? new Error(`fetch error code ${p.errorCode}`), p);
    const decoded = decodeRecords(t.topic, t.partition, p.records, p.abortedTransactions, t.offset);
    // Readable data lies past the position but no complete batch came: the next batch is larger than maxBytes.
    const readableEnd = Number(readCommitted ? p.lastStableOffset : p.highWatermark);
    return {
      ...empty(t, p),
      records: decoded.records,
      next: decoded.next,
      truncated: decoded.next === undefined && t.offset < readableEnd,
    };
  });
}

function empty(t: FetchTarget, p?: FetchResponsePartition): FetchedPartition {
  return {
    topic: t.topic,
    partition: t.partition,
    from: t.offset,
    records: [],
    next: undefined,
    highWatermark: p === undefined ? -1 : Number(p.highWatermark),
    logStartOffset: p === undefined ? -1 : Number(p.logStartOffset),
    truncated: false,
    outOfRange: false,
  };
}

function failure(t: FetchTarget, error: unknown, p?: FetchResponsePartition): FetchedPartition {
  return { ...empty(t, p), error };
}
