// Fetched record batches into Dirigo records, with a correct read_committed filter, and Dirigo records into the
// client's messages.
//
// Why our own decoding. The client's Fetch parser makes objects per batch and per record (a record object, a
// bigint timestamp delta, a [value, length] array per varint it reads, a headers array) that the transport then
// turned into Dirigo records: together about a tenth of the raw loop's time in a profile
// (`npm run bench -- throughput --transports platformatic --profile DIR`: readVarInt, readVarInt64, slice,
// readRecordsBatch). fetch.ts keeps each partition's records as the bytes the broker sent, and `decodeRecords`
// reads record batches v2 straight into Dirigo records, keys and values as views of those bytes; compressed
// batches are inflated with the client's codecs. `units.test.ts` checks it against the client's reader on batches
// the client writes (uncompressed and with every codec).
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
import { compressionsAlgorithmsByBitmask, type MessageToProduce } from '@platformatic/kafka';

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

/** Batch v2 layout: offsets of the fields after baseOffset(8) and batchLength(4). */
const BATCH_HEAD = 12;
const MAGIC_AT = 16;
const ATTRIBUTES_AT = 21;
const LAST_OFFSET_DELTA_AT = 23;
const FIRST_TIMESTAMP_AT = 27;
const MAX_TIMESTAMP_AT = 35;
const PRODUCER_ID_AT = 43;
const RECORD_COUNT_AT = 57;
const RECORDS_AT = 61;
const COMPRESSION = 0x07;

/**
 * Reads Kafka varints (zigzag) from one buffer, moving `pos`: the record format's fields, without the array the
 * client's reader allocates per varint.
 */
class VarintReader {
  buf: Buffer;
  pos: number;

  constructor(buf: Buffer, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }

  /** A zigzag varint of up to 64 bits, as a number (exact below 2^53: offsets, lengths and timestamp deltas). */
  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    let raw = b & 0x7f;
    if (b >= 0x80) {
      let scale = 0x80;
      do {
        if (this.pos >= buf.length) throw new RangeError('record batch: varint runs past the batch');
        b = buf[this.pos++]!;
        raw += (b & 0x7f) * scale;
        scale *= 0x80;
      } while (b >= 0x80);
    }
    // zigzag: even -> raw/2, odd -> -(raw+1)/2 (arithmetic, so values beyond 2^31 stay right).
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }

  /** Bytes with a varint length (-1: null), a view of the batch (no copy). */
  bytes(): Buffer | null {
    const n = this.varint();
    if (n < 0) return null;
    const from = this.pos;
    this.pos += n;
    if (this.pos > this.buf.length) throw new RangeError('record batch: a field runs past the batch');
    return this.buf.subarray(from, this.pos);
  }
}

/**
 * Header names decoded before, with their bytes: records carry the same few names (a Dirigo hop's three scheduling
 * headers on every record), and decoding each one (a Buffer view, then UTF-8) cost a tenth of reading such records.
 * Bounded: names past the first NAME_CACHE_SIZE are decoded every time.
 */
const NAME_CACHE_SIZE = 32;
const nameBytes: Buffer[] = [];
const nameTexts: string[] = [];

/** The name of a header: `n` bytes at `from` in `buf`. */
function headerName(buf: Buffer, from: number, n: number): string {
  for (let c = 0; c < nameBytes.length; c++) {
    const b = nameBytes[c]!;
    if (b.length === n && sameBytes(b, 0, buf, from, n)) return nameTexts[c]!;
  }
  const text = buf.toString('utf8', from, from + n);
  if (nameBytes.length < NAME_CACHE_SIZE) {
    nameBytes.push(Buffer.from(buf.subarray(from, from + n)));
    nameTexts.push(text);
  }
  return text;
}

/** A record's headers: none shares one frozen object; a key that occurs twice keeps its last value (Java's `lastHeader`). */
function readHeaders(r: VarintReader): RecordHeaders {
  const count = r.varint();
  if (count <= 0) return EMPTY_HEADERS;
  const out: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    const n = r.varint();
    let name: string | undefined;
    if (n >= 0) {
      const from = r.pos;
      r.pos += n;
      if (r.pos > r.buf.length) throw new RangeError('record batch: a field runs past the batch');
      name = headerName(r.buf, from, n);
    }
    const value = r.bytes();
    if (name !== undefined) out[name] = value ?? EMPTY_BUFFER;
  }
  return out;
}

/**
 * The visible records of one partition's fetched bytes (the answer's `records`: record batches v2, the last one
 * possibly cut short by the size limit, which is skipped). `aborted` is the answer's aborted-transaction list
 * (null or empty for read_uncommitted fetches, where nothing is filtered but control batches). Keys, values and
 * header values are views of `bytes`, or of a decompressed batch.
 */
export function decodeRecords(
  topic: string,
  partition: number,
  bytes: Buffer | null | undefined,
  aborted: readonly AbortedTransaction[] | null | undefined,
  fromOffset = 0,
  toOffset = Number.POSITIVE_INFINITY,
): DecodedBatches {
  const records: IncomingRecord[] = [];
  if (bytes === null || bytes === undefined || bytes.length < BATCH_HEAD) return { records, next: undefined };
  const pending =
    aborted === null || aborted === undefined || aborted.length === 0
      ? undefined
      : [...aborted].sort((a, b) =>
          a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
        );
  let nextAborted = 0;
  const abortedProducers = new Set<bigint>();
  let next: number | undefined;
  const reader = new VarintReader(bytes, 0);
  for (let at = 0; at + BATCH_HEAD <= bytes.length; ) {
    const end = at + BATCH_HEAD + bytes.readInt32BE(at + 8);
    if (end > bytes.length) break; // the last batch, cut short by the size limit: fetched again next time
    if (bytes[at + MAGIC_AT] !== 2) {
      throw new Error(
        `${topic}[${partition}]: record batch at offset ${bytes.readBigInt64BE(at)} has magic ${bytes[at + MAGIC_AT]}; only record batches v2 (Kafka 0.11+) are read`,
      );
    }
    const firstOffset = bytes.readBigInt64BE(at);
    const base = Number(firstOffset);
    const lastOffset = base + bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT);
    next = lastOffset + 1;
    const batchAt = at;
    at = end;
    if (pending !== undefined) {
      while (nextAborted < pending.length && Number(pending[nextAborted]!.firstOffset) <= lastOffset) {
        abortedProducers.add(pending[nextAborted]!.producerId);
        nextAborted++;
      }
    }
    const attributes = bytes.readInt16BE(batchAt + ATTRIBUTES_AT);
    if ((attributes & CONTROL) !== 0) {
      if (abortedProducers.size > 0 && controlType(bytes, batchAt, attributes) === ABORT_MARKER)
        abortedProducers.delete(bytes.readBigInt64BE(batchAt + PRODUCER_ID_AT));
      continue;
    }
    if (
      (attributes & TRANSACTIONAL) !== 0 &&
      abortedProducers.size > 0 &&
      abortedProducers.has(bytes.readBigInt64BE(batchAt + PRODUCER_ID_AT))
    )
      continue;
    // A batch wholly before the position (the fetch started inside it, or a re-fetch): nothing to decode.
    if (lastOffset < fromOffset || base >= toOffset) continue;
    const logAppendTime = (attributes & TIMESTAMP_LOG_APPEND) !== 0;
    const firstTimestamp = Number(bytes.readBigInt64BE(batchAt + FIRST_TIMESTAMP_AT));
    const maxTimestamp = logAppendTime ? Number(bytes.readBigInt64BE(batchAt + MAX_TIMESTAMP_AT)) : 0;
    const count = bytes.readInt32BE(batchAt + RECORD_COUNT_AT);
    if ((attributes & COMPRESSION) === 0) {
      reader.buf = bytes;
      reader.pos = batchAt + RECORDS_AT;
    } else {
      reader.buf = decompress(
        bytes.subarray(batchAt + RECORDS_AT, end),
        attributes & COMPRESSION,
        topic,
        partition,
      );
      reader.pos = 0;
    }
    // The headers of the record before, and where their bytes lie in `reader.buf`: a record whose header bytes are
    // the same gets the same object (see `sameBytes`).
    let lastHeaders: RecordHeaders = EMPTY_HEADERS;
    let lastFrom = 0;
    let lastLength = -1;
    for (let i = 0; i < count; i++) {
      const length = reader.varint();
      const recordEnd = reader.pos + length;
      reader.pos++; // attributes (unused)
      const timestampDelta = reader.varint();
      const offset = base + reader.varint();
      if (offset < fromOffset || offset >= toOffset) {
        reader.pos = recordEnd;
        continue;
      }
      const key = reader.bytes();
      const value = reader.bytes();
      // Headers are a record's last field: [pos, recordEnd).
      const from = reader.pos;
      const size = recordEnd - from;
      let headers: RecordHeaders;
      if (size === lastLength && sameBytes(reader.buf, from, reader.buf, lastFrom, size))
        headers = lastHeaders;
      else {
        headers = readHeaders(reader);
        lastHeaders = headers;
        lastFrom = from;
        lastLength = size;
      }
      records.push({
        topic,
        partition,
        offset,
        key,
        value,
        headers,
        timestamp: logAppendTime ? maxTimestamp : firstTimestamp + timestampDelta,
      });
      reader.pos = recordEnd;
    }
    reader.buf = EMPTY_BUFFER;
  }
  return { records, next };
}

/**
 * Whether the `n` bytes at `a` of `x` and at `b` of `y` are the same, compared from the end (where header names
 * sharing a prefix, and a Dirigo hop's headers, differ: the digits of its ingest time and deadline). Records of one
 * upstream message or millisecond carry the same header bytes: they share one headers object (and its values)
 * instead of decoding the names and making a Buffer view per value for each, which cost a record with three headers
 * about three times what decoding a record without any does.
 */
function sameBytes(x: Buffer, a: number, y: Buffer, b: number, n: number): boolean {
  let i = n - 1;
  while (i >= 0 && x[a + i] === y[b + i]) i--;
  return i < 0;
}

/** The type of a control batch's record (its key's int16 after the version), or -1. */
function controlType(bytes: Buffer, batchAt: number, attributes: number): number {
  if ((attributes & COMPRESSION) !== 0 || bytes.readInt32BE(batchAt + RECORD_COUNT_AT) < 1) return -1;
  const r = new VarintReader(bytes, batchAt + RECORDS_AT);
  r.varint(); // length
  r.pos++; // attributes
  r.varint(); // timestamp delta
  r.varint(); // offset delta
  const key = r.bytes();
  return key === null || key.length < 4 ? -1 : key.readInt16BE(2);
}

/** A compressed batch's records, with the client's codecs. */
function decompress(data: Buffer, bits: number, topic: string, partition: number): Buffer {
  const algorithm = (
    compressionsAlgorithmsByBitmask as Record<number, { decompressSync(b: Buffer): Buffer }>
  )[bits];
  if (algorithm === undefined) {
    throw new Error(`${topic}[${partition}]: record batch compressed with unknown codec bits ${bits}`);
  }
  return algorithm.decompressSync(data);
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
 * Headers as the client takes them (a Map of byte keys), made once per frozen headers object: the runtime gives the
 * records caused by one message, and mostly those of one millisecond, one frozen object of scheduling headers, and
 * the client would otherwise build a Map from `Object.entries` for every record. An unfrozen object gets a Map of
 * its own in every call (a caller may change it between two sends); a frozen one's Buffers must not change in place
 * once sent.
 */
const headerMaps = new WeakMap<RecordHeaders, Map<Buffer, Buffer>>();
function headerMap(headers: RecordHeaders): Map<Buffer, Buffer> {
  const frozen = Object.isFrozen(headers);
  let m = frozen ? headerMaps.get(headers) : undefined;
  if (m === undefined) {
    m = new Map();
    for (const name in headers) m.set(headerKeyBytes(name), headers[name]!);
    if (frozen) headerMaps.set(headers, m);
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
 * The headers of every message of a record without headers: the client otherwise makes a Map per message for them
 * (beside the one it makes for their serialized form). It only reads it: never written to, here or there.
 */
const NO_HEADERS: ReadonlyMap<Buffer, Buffer> = new Map();

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
    headers: headers === undefined ? (NO_HEADERS as Map<Buffer, Buffer>) : headerMap(headers),
    timestamp: timestamp === undefined ? undefined : timestampOf(timestamp),
  };
}
