// Fetched record batches into Dirigo records, with a correct read_committed filter, and Dirigo records into the
// client's messages.
//
// Why our own filter. A read_committed Fetch answer lists the aborted transactions that overlap the fetched
// range ({producerId, firstOffset}, several per producer when one producer aborted several times); their records
// are still in the answer, and the client must hide every record of a listed producer from the transaction's
// first offset up to that producer's ABORT marker. @platformatic/kafka 2.12.1 keeps one range per producer, from
// the last aborted transaction listed to the producer's last ABORT marker in the answer, and drops a range whose
// ABORT marker is not in the same answer. So records of aborted transactions reach read_committed readers when a
// producer aborted more than once in the fetched range or when an aborted transaction is longer than one fetch,
// and committed records disappear when an ABORT marker follows them without a listed transaction: a transaction
// that added the partition but wrote nothing to it (its producer died between AddPartitionsToTxn and Produce;
// the next owner's InitProducerId aborted it). With one transactional producer id per input partition, every
// owner of a partition writes with the same producer id, so that hides committed changelog records from a
// restore. This filter is the Java client's: walk the batches in offset order, take in every aborted transaction
// whose first offset is at or below the batch's last offset, drop transactional data batches of producers taken
// in, and let a producer go at its ABORT marker. fetch.ts keeps the client's own filter away from the answers.
import type { IncomingRecord, OutgoingRecord, RecordHeaders } from '@dirigo/core';
import type { KafkaRecord, MessageToProduce, RecordsBatch } from '@platformatic/kafka';

/** Batch attribute bits (Kafka record batch v2). */
const TIMESTAMP_LOG_APPEND = 1 << 3;
const TRANSACTIONAL = 1 << 4;
const CONTROL = 1 << 5;
/** Control record types (the int16 after the version in a control record's key). */
const ABORT_MARKER = 0;

const EMPTY_HEADERS: RecordHeaders = Object.freeze({}) as RecordHeaders;
const EMPTY_BUFFER = Buffer.alloc(0);

export interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

/** What the batches of one partition in one fetch answer hold. */
export interface DecodedBatches {
  /** Visible records with offsets in [fromOffset, toOffset), in offset order. */
  readonly records: IncomingRecord[];
  /** The offset after the last batch (data, control, aborted or emptied by compaction); undefined: no batch. */
  readonly next: number | undefined;
}

function controlType(batch: RecordsBatch): number {
  const key = batch.records[0]?.key;
  return key === null || key === undefined || key.length < 4 ? -1 : key.readInt16BE(2);
}

function headersOf(record: KafkaRecord): RecordHeaders {
  const list = record.headers;
  if (list.length === 0) return EMPTY_HEADERS;
  const out: Record<string, Buffer> = {};
  // A key that occurs more than once: the last value wins, as with the Java client's `lastHeader`.
  for (const [key, value] of list) {
    if (key !== null) out[key.toString()] = value ?? EMPTY_BUFFER;
  }
  return out;
}

/**
 * The visible records of one partition's fetched batches. `aborted` is the answer's aborted-transaction list
 * (null or empty for read_uncommitted fetches, where nothing is filtered but control batches).
 */
export function decodeBatches(
  topic: string,
  partition: number,
  batches: readonly RecordsBatch[] | null | undefined,
  aborted: readonly AbortedTransaction[] | null | undefined,
  fromOffset = 0,
  toOffset = Number.POSITIVE_INFINITY,
): DecodedBatches {
  const records: IncomingRecord[] = [];
  if (batches === null || batches === undefined || batches.length === 0) return { records, next: undefined };
  const pending =
    aborted === null || aborted === undefined || aborted.length === 0
      ? undefined
      : [...aborted].sort((a, b) =>
          a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
        );
  let nextAborted = 0;
  const abortedProducers = new Set<bigint>();
  let next: number | undefined;
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    next = Number(lastOffset) + 1;
    if (pending !== undefined) {
      while (nextAborted < pending.length && pending[nextAborted]!.firstOffset <= lastOffset) {
        abortedProducers.add(pending[nextAborted]!.producerId);
        nextAborted++;
      }
    }
    const attributes = batch.attributes;
    if ((attributes & CONTROL) !== 0) {
      if (controlType(batch) === ABORT_MARKER) abortedProducers.delete(batch.producerId);
      continue;
    }
    if ((attributes & TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId)) continue;
    const base = Number(batch.firstOffset);
    const logAppendTime = (attributes & TIMESTAMP_LOG_APPEND) !== 0;
    const firstTimestamp = Number(batch.firstTimestamp);
    const maxTimestamp = logAppendTime ? Number(batch.maxTimestamp) : 0;
    for (const r of batch.records) {
      const offset = base + r.offsetDelta;
      if (offset < fromOffset || offset >= toOffset) continue;
      records.push({
        topic,
        partition,
        offset,
        key: r.key,
        value: r.value,
        headers: headersOf(r),
        timestamp: logAppendTime ? maxTimestamp : firstTimestamp + Number(r.timestampDelta),
      });
    }
  }
  return { records, next };
}

/** Header keys as bytes: a handful of distinct keys, converted once. */
const headerKeys = new Map<string, Buffer>();
function headerKeyBytes(key: string): Buffer {
  let b = headerKeys.get(key);
  if (b === undefined) {
    b = Buffer.from(key);
    if (headerKeys.size < 10_000) headerKeys.set(key, b);
  }
  return b;
}

/** The producer's header key serializer: bytes pass, text is converted (cached). */
export const headerKeyOf = (key: Buffer | string): Buffer =>
  typeof key === 'string' ? headerKeyBytes(key) : key;

/**
 * Headers as the client takes them (a Map of byte keys), made once per headers object: the runtime gives the
 * records caused by one message, and mostly those of one millisecond, the same object, and the client would
 * otherwise build a Map from `Object.entries` for every record. A headers object must not change once sent (the
 * runtime builds a new one whenever it adds a header).
 */
const headerMaps = new WeakMap<RecordHeaders, Map<Buffer, Buffer>>();
function headerMap(headers: RecordHeaders): Map<Buffer, Buffer> {
  let m = headerMaps.get(headers);
  if (m === undefined) {
    m = new Map();
    for (const name in headers) m.set(headerKeyBytes(name), headers[name]!);
    headerMaps.set(headers, m);
  }
  return m;
}

/** The last timestamp converted to a bigint: the records of one step mostly share their millisecond. */
let lastTimestamp = Number.NaN;
let lastTimestampBig = 0n;
function timestampOf(ms: number): bigint {
  if (ms !== lastTimestamp) {
    lastTimestampBig = BigInt(ms);
    lastTimestamp = ms;
  }
  return lastTimestampBig;
}

/**
 * The client's message for a record whose partition is already chosen. One object shape for every record (no
 * optional members spread in): the client reads `headers` and `timestamp` as absent when undefined.
 */
export function toMessage(record: OutgoingRecord, partition: number): MessageToProduce {
  const headers = record.headers;
  const timestamp = record.timestamp;
  return {
    topic: record.topic,
    partition,
    // The client writes null keys and values as Kafka nulls; its types only say `undefined`.
    key: record.key as Buffer,
    value: record.value as Buffer,
    headers: headers === undefined ? undefined : headerMap(headers),
    timestamp: timestamp === undefined ? undefined : timestampOf(timestamp),
  };
}
