// Produce requests (v9-v11) encoded into one buffer.
//
// Why. The client encodes every record with a Writer of its own (a list of small buffers: one per varint, key,
// value and header, and a prepended length), concatenates each record batch into one buffer to compute its CRC32C,
// and concatenates the whole request again to send it. A profile of the keyed count on this transport had
// `Buffer.concat` at 12.8% of the process's time and the client's record encoding at about 10% more
// (`npm run bench -- throughput --transports platformatic --profile DIR`). This encoder measures the request
// first, then writes it into one buffer and computes each batch's CRC32C over a view of that buffer.
//
// What stays the client's: everything but the bytes. The producer still decides which records go to which broker,
// the producer id and epoch, the sequence numbers, the transaction's partitions, retries and metadata refreshes;
// it asks itself for the 'Produce' API (`kGetApi`), and the transport's producer (producer.ts) answers with this
// encoder for v9-v11 when nothing is compressed, and with the client's own API otherwise. The bytes are the
// client's: `units.test.ts` compares them with the client's `createRequest` over random requests, with one
// deliberate difference. The client zigzag-encodes a record's timestamp delta as `(v << 1) ^ (v >> 31)` on 64
// bits, which is wrong for deltas of 2^31 ms (about 24.8 days) or more: a batch mixing records that far apart in
// time (a replay of old events next to new ones) got wrong timestamps on the broker (client defect 9 in README.md).
// This encoder uses the 64-bit zigzag `(v << 1) ^ (v >> 63)`, which equals the client's below 2^31.
//
// Packed partitions. The client's `send` does work per message before any byte is written (two Maps, a message
// object, a `topic:partition` string hashed into a map of counts, metadata lookups): about 8% of a keyed count's
// profile. The transport's producers hand it one message per partition instead (`packRecords`: an empty marker
// value standing for the partition's records, Dirigo's `OutgoingRecord`s as the runtime made them, so no client
// message is made per record either), and this encoder writes the records behind the marker. The
// client then counts one message per partition, so the batch's first sequence (idempotence) is this encoder's
// own: per producer id and epoch, per partition, assigned when a packed batch is first encoded (the order on the
// wire) and kept on it for the client's retries of the same request; a new producer id or a higher epoch
// (InitProducerId again, a recovered idempotent producer) starts every partition at 0, as the broker expects, and a
// lower epoch (a fenced producer of the same transactional id in this process) leaves the count alone. A producer either
// packs all its sends or none (the transport's producers pack when this encoder is theirs), so the two counts of
// sequences never meet on one partition.
import { createRequire } from 'node:module';
import type { OutgoingRecord, RecordHeaders } from '@dirigo/core';
import {
  type CreateRecordsBatchOptions,
  createAPI,
  crc32c as clientCrc32c,
  type MessageRecord,
  produceV9,
  produceV10,
  produceV11,
  Writer,
} from '@platformatic/kafka';

type ProduceModule = typeof produceV11;
type ProduceApi = ProduceModule['api'];
type Options = Partial<CreateRecordsBatchOptions>;

/** CRC32C of a byte range: @node-rs/crc32 (the client's own choice) reads a view without copying it. */
const crc32c: (bytes: Uint8Array) => number = (() => {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c(input: Uint8Array): number };
    return (bytes: Uint8Array) => native.crc32c(bytes);
  } catch {
    // No native build for this platform: the client's fallback (WebAssembly).
    return (bytes: Uint8Array) => clientCrc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
})();

/** The records of one partition that one packed client message stands for (see `packRecords`). */
interface PackedBatch {
  readonly records: readonly OutgoingRecord[];
  /** The producer id and epoch its first sequence was assigned under (id undefined: not encoded yet). */
  producerId: bigint | undefined;
  epoch: number;
  sequence: number;
  /**
   * The timestamp of its records without one: the time of its first encoding (NaN before), so that the client's
   * retries of the request write the same bytes.
   */
  stamp: number;
}

/** Packed batches by their marker value. */
const packedBatches = new WeakMap<object, PackedBatch>();

/**
 * One client message standing for `records` (all of `topic`, written to `partition` whatever their own
 * `partition` says, in order): the client handles it as one record, this encoder writes the records as they are
 * (no client message per record). Records without a timestamp get the time of the request's first encoding.
 * A frozen headers object's Buffers must not change once sent (see `recordHeaderBlock`). Only for producers whose Produce
 * requests this encoder writes.
 */
export function packRecords(
  topic: string,
  partition: number,
  records: readonly OutgoingRecord[],
): MessageRecord {
  const value = Buffer.alloc(0);
  packedBatches.set(value, { records, producerId: undefined, epoch: 0, sequence: 0, stamp: Number.NaN });
  return { topic, partition, value };
}

/** Sequences wrap at 2^31, as the broker's do. */
const SEQUENCE_SPAN = 2 ** 31;

/** Per producer id: its highest epoch seen and each partition's next sequence (`topic:partition`) in it. */
const packedSequences = new Map<bigint, { epoch: number; next: Map<string, number> }>();

/** The first sequence of a packed batch of `count` records: assigned once per producer id and epoch. */
function packedSequence(
  batch: PackedBatch,
  producerId: bigint,
  epoch: number,
  topic: string,
  partition: number | string,
  count: number,
): number {
  // The client retrying the same request: the same sequence.
  if (batch.producerId === producerId && batch.epoch === epoch) return batch.sequence;
  let producer = packedSequences.get(producerId);
  if (producer === undefined || producer.epoch < epoch) {
    producer = { epoch, next: new Map() };
    packedSequences.set(producerId, producer);
  } else if (producer.epoch > epoch) {
    // A fenced producer of the same id in this process (a zombie the new owner bumped past): the broker refuses
    // its batches whatever their sequence; it must not reset the new owner's count.
    producer = { epoch, next: new Map() };
  }
  const key = `${topic}:${partition}`;
  const sequence = producer.next.get(key) ?? 0;
  producer.next.set(key, (sequence + count) % SEQUENCE_SPAN);
  batch.producerId = producerId;
  batch.epoch = epoch;
  batch.sequence = sequence;
  return sequence;
}

/** Record batch v2 constants. */
const MAGIC = 2;
const TRANSACTIONAL = 1 << 4;
/** baseOffset(8) + batchLength(4) + partitionLeaderEpoch(4) + magic(1) + crc(4). */
const BATCH_PREFIX = 21;
/** attributes(2) + lastOffsetDelta(4) + firstTimestamp(8) + maxTimestamp(8) + producerId(8) + producerEpoch(2) +
 * firstSequence(4) + recordCount(4): the part the CRC covers before the records. */
const BATCH_HEADER = 40;
const ACKS_NONE = 0;

/** Bytes of an unsigned varint (values below 2^53). */
function uvarintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let bytes = 5;
  for (let v = Math.floor(value / 0x800000000); v > 0; v = Math.floor(v / 0x80)) bytes++;
  return bytes;
}

/** Zigzag of a signed integer below 2^52 in magnitude (the 64-bit mapping; the 32-bit one agrees on 32 bits). */
const zigzag = (value: number): number => (value >= 0 ? value * 2 : -value * 2 - 1);

function writeUvarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[pos++] = value;
  return pos;
}

/** Size of a varint-length-prefixed byte string (null: length -1). */
const bytesSize = (b: Buffer | null | undefined): number =>
  b === null || b === undefined ? 1 : uvarintSize(b.length * 2) + b.length;

function writeBytes(buf: Buffer, pos: number, b: Buffer | null | undefined): number {
  if (b === null || b === undefined) {
    buf[pos] = 1; // zigzag(-1)
    return pos + 1;
  }
  pos = writeUvarint(buf, pos, b.length * 2);
  if (b.length > 0) buf.set(b, pos);
  return pos + b.length;
}

/** Topic names and transactional ids as bytes, cached (a producer uses a handful of each). */
const utf8Bytes = new Map<string, Buffer>();
function utf8(text: string): Buffer {
  let b = utf8Bytes.get(text);
  if (b === undefined) {
    b = Buffer.from(text, 'utf8');
    if (utf8Bytes.size < 10_000) utf8Bytes.set(text, b);
  }
  return b;
}

// The records of a request, read once into columns (from the client's messages or Dirigo's records), from which
// both passes work. Reused between requests; cleared after each (no record is kept alive by them).
let colSizes = new Int32Array(1024);
let colTimes = new Float64Array(1024);
const colKeys: (Buffer | null | undefined)[] = [];
const colValues: (Buffer | null | undefined)[] = [];
const colHeaders: Buffer[] = [];

/** The encoded headers of a record without any: a count of 0. */
const NO_HEADER_BLOCK = Buffer.from([0]);

/** Headers as written in a record: the count, then each name and value (NO_HEADER_BLOCK for none). */
function encodeHeaders(entries: readonly (readonly [Buffer, Buffer | null | undefined])[]): Buffer {
  if (entries.length === 0) return NO_HEADER_BLOCK;
  let size = uvarintSize(entries.length * 2);
  for (const [k, v] of entries) size += bytesSize(k) + bytesSize(v);
  const block = Buffer.allocUnsafe(size);
  let pos = writeUvarint(block, 0, entries.length * 2);
  for (const [k, v] of entries) {
    pos = writeBytes(block, pos, k);
    pos = writeBytes(block, pos, v);
  }
  return block;
}

/**
 * A client message's headers as written, made once per header Map: the transport gives the records of one frozen
 * headers object one Map (records.ts `headerMap`). Without it, each record's headers were walked twice through Map
 * iterators and written field by field: half the cost of a passthrough's produce encoding with scheduling headers.
 */
const headerBlocks = new WeakMap<Map<Buffer, Buffer>, Buffer>();
function headerBlock(headers: Map<Buffer, Buffer> | null | undefined): Buffer {
  if (headers === undefined || headers === null || headers.size === 0) return NO_HEADER_BLOCK;
  let block = headerBlocks.get(headers);
  if (block === undefined) {
    block = encodeHeaders([...headers]);
    headerBlocks.set(headers, block);
  }
  return block;
}

/** `recordHeaderBlock`'s blocks of frozen headers objects. */
const recordHeaderBlocks = new WeakMap<RecordHeaders, Buffer>();

/**
 * A Dirigo headers object as written in a record (names in UTF-8): the same bytes as the client writes for the Map
 * `toMessage` makes of it. A frozen object's block is made once and kept (the runtime gives the records caused by
 * one message, and mostly those of one millisecond, one frozen object of scheduling headers), so a frozen object's
 * Buffers must not change in place once sent; an unfrozen one is encoded in every call (a caller may change it
 * between two sends). Callers looping over records ask once for the records in a row that share an object.
 */
export function recordHeaderBlock(headers: RecordHeaders | undefined): Buffer {
  if (headers === undefined) return NO_HEADER_BLOCK;
  const frozen = Object.isFrozen(headers);
  let block = frozen ? recordHeaderBlocks.get(headers) : undefined;
  if (block === undefined) {
    const entries: [Buffer, Buffer][] = [];
    for (const name in headers) entries.push([utf8(name), headers[name]!]);
    block = encodeHeaders(entries);
    if (frozen) recordHeaderBlocks.set(headers, block);
  }
  return block;
}

/** One entry of topicData (a plain message or a packed one) read into the columns from `at`; returns the end. */
function readUnit(m: MessageRecord, at: number, now: number): number {
  const batch = packedOf(m);
  if (batch === undefined) return readMessage(m, at);
  const records = batch.records;
  if (Number.isNaN(batch.stamp)) batch.stamp = now;
  const stamp = batch.stamp;
  const times = colTimes;
  let headers: RecordHeaders | undefined;
  let block: Buffer = NO_HEADER_BLOCK;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    colKeys[at] = r.key;
    colValues[at] = r.value;
    if (r.headers !== headers) {
      headers = r.headers;
      block = recordHeaderBlock(headers);
    }
    colHeaders[at] = block;
    times[at++] = r.timestamp ?? stamp;
  }
  return at;
}

/** The packed batch a message stands for, if it is a marker (an empty value: a message with a value never is). */
function packedOf(m: MessageRecord): PackedBatch | undefined {
  const value = m.value;
  return value !== undefined && value !== null && value.length === 0 ? packedBatches.get(value) : undefined;
}

/** A client message's timestamp as the client normalises it: a bigint, the current time unless given. */
function normalise(m: MessageRecord, now: bigint): void {
  const ts = m.timestamp as bigint | number | undefined;
  if (ts === undefined) m.timestamp = now;
  else if (typeof ts === 'number') m.timestamp = BigInt(ts);
}

function readMessage(m: MessageRecord, at: number): number {
  colKeys[at] = m.key;
  colValues[at] = m.value;
  colHeaders[at] = headerBlock(m.headers);
  colTimes[at] = Number(m.timestamp);
  return at + 1;
}

/** One partition's records, with what its batch needs. */
interface PartitionBatch {
  readonly partition: string;
  /** Its first entry of topicData (a packed one gives the batch its first sequence). */
  readonly head: MessageRecord;
  /** Index of its first record in the columns, and its record count. */
  first: number;
  count: number;
  firstTimestamp: number;
  maxTimestamp: number;
  /** Size of the whole batch, baseOffset included. */
  size: number;
}

/** Groups as the client's `groupByProperty` does (an object's key order: integer-like keys ascending first). */
function groupBy<T>(entries: readonly T[], key: (e: T) => string | number): [string, T[]][] {
  const buckets: Record<string, T[]> = Object.create(null) as Record<string, T[]>;
  for (const e of entries) {
    const k = key(e);
    const bucket = buckets[k];
    if (bucket === undefined) buckets[k] = [e];
    else bucket.push(e);
  }
  return Object.entries(buckets);
}

/**
 * A Produce request body (v9-v11, uncompressed) in one buffer, byte for byte what the client's `createRequest` of
 * those versions writes (but for timestamp deltas of 2^31 ms or more, see above). Like the client's, it gives
 * messages without a partition partition 0 and those without a timestamp the current time, on the messages (on
 * a `packRecords` batch, not on its records).
 */
export function createProduceRequest(
  acks = 1,
  timeout = 0,
  topicData: MessageRecord[],
  options: Options = {},
): Writer {
  // Normalised on the messages, as the client does (a retry encodes the same timestamps again). The records of a
  // packed message go where it goes (the client may have moved it to another partition, a partition count it
  // knows to be smaller: the request's destination and the transaction's partition). Packed messages without
  // records are left out.
  const nowMs = Date.now();
  const now = BigInt(nowMs);
  let records = 0;
  let units: MessageRecord[] | undefined;
  for (let u = 0; u < topicData.length; u++) {
    const m = topicData[u]!;
    if (m.partition === undefined) m.partition = 0;
    const batch = packedOf(m);
    const n = batch === undefined ? 1 : batch.records.length;
    if (n === 0 && units === undefined) units = topicData.slice(0, u);
    else if (n > 0) units?.push(m);
    records += n;
    if (batch === undefined) normalise(m, now);
  }
  if (units !== undefined) topicData = units;
  if (colTimes.length < records) {
    colTimes = new Float64Array(records * 2);
    colSizes = new Int32Array(records * 2);
  }
  const transactionalId = options.transactionalId;
  const txnIdBytes = transactionalId === null || transactionalId === undefined ? null : utf8(transactionalId);
  const attributes = transactionalId ? TRANSACTIONAL : 0;
  const producerId = options.producerId ?? -1n;
  const producerEpoch = options.producerEpoch ?? 0;
  const leaderEpoch = options.partitionLeaderEpoch ?? 0;

  // Pass 1: the records into the columns, and sizes.
  const topics = groupBy(topicData, (m) => m.topic);
  const plan: [Buffer, PartitionBatch[]][] = [];
  let total =
    (txnIdBytes === null ? 1 : uvarintSize(txnIdBytes.length + 1) + txnIdBytes.length) +
    2 +
    4 +
    uvarintSize(topics.length + 1) +
    1;
  let index = 0;
  for (const [topic, units] of topics) {
    const name = utf8(topic);
    const partitions = groupBy(units, (m) => m.partition!);
    total += uvarintSize(name.length + 1) + name.length + uvarintSize(partitions.length + 1) + 1;
    const batches: PartitionBatch[] = [];
    for (const [partition, list] of partitions) {
      const first = index;
      for (let u = 0; u < list.length; u++) index = readUnit(list[u]!, index, nowMs);
      const count = index - first;
      const times = colTimes;
      const sizes = colSizes;
      const firstTimestamp = times[first]!;
      let maxTimestamp = firstTimestamp;
      let size = BATCH_PREFIX + BATCH_HEADER;
      for (let i = 0; i < count; i++) {
        const at = first + i;
        const t = times[at]!;
        if (t > maxTimestamp) maxTimestamp = t;
        const body =
          1 +
          uvarintSize(zigzag(t - firstTimestamp)) +
          uvarintSize(i * 2) +
          bytesSize(colKeys[at]) +
          bytesSize(colValues[at]) +
          colHeaders[at]!.length;
        sizes[at] = body;
        size += uvarintSize(body * 2) + body;
      }
      batches.push({ partition, head: list[0]!, first, count, firstTimestamp, maxTimestamp, size });
      total += 4 + uvarintSize(size + 1) + size + 1;
    }
    plan.push([name, batches]);
  }

  // Pass 2: bytes.
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  if (txnIdBytes === null) buf[pos++] = 0;
  else {
    pos = writeUvarint(buf, pos, txnIdBytes.length + 1);
    buf.set(txnIdBytes, pos);
    pos += txnIdBytes.length;
  }
  pos = buf.writeInt16BE(acks, pos);
  pos = buf.writeInt32BE(timeout, pos);
  pos = writeUvarint(buf, pos, plan.length + 1);
  const sizes = colSizes;
  const times = colTimes;
  for (const [name, batches] of plan) {
    pos = writeUvarint(buf, pos, name.length + 1);
    buf.set(name, pos);
    pos += name.length;
    pos = writeUvarint(buf, pos, batches.length + 1);
    for (const b of batches) {
      const count = b.count;
      pos = buf.writeInt32BE(Number(b.partition), pos);
      pos = writeUvarint(buf, pos, b.size + 1);
      const start = pos;
      pos = buf.writeBigInt64BE(0n, pos); // baseOffset
      pos = buf.writeInt32BE(b.size - 12, pos); // batchLength: everything after this field
      pos = buf.writeInt32BE(leaderEpoch, pos);
      buf[pos++] = MAGIC;
      const crcAt = pos;
      pos += 4;
      const crcFrom = pos;
      pos = buf.writeInt16BE(attributes, pos);
      pos = buf.writeInt32BE(count - 1, pos);
      pos = buf.writeBigInt64BE(BigInt(b.firstTimestamp), pos);
      pos = buf.writeBigInt64BE(BigInt(b.maxTimestamp), pos);
      pos = buf.writeBigInt64BE(producerId, pos);
      pos = buf.writeInt16BE(producerEpoch, pos);
      const head = b.head;
      const pack = packedOf(head);
      const sequence =
        options.sequences === undefined
          ? 0
          : pack === undefined
            ? options.sequences.getWithDefault(`${head.topic}:${head.partition}`, 0)
            : packedSequence(pack, producerId, producerEpoch, head.topic, head.partition!, count);
      pos = buf.writeInt32BE(sequence, pos);
      pos = buf.writeInt32BE(count, pos);
      for (let i = 0; i < count; i++) {
        const at = b.first + i;
        pos = writeUvarint(buf, pos, sizes[at]! * 2);
        buf[pos++] = 0; // attributes
        pos = writeUvarint(buf, pos, zigzag(times[at]! - b.firstTimestamp));
        pos = writeUvarint(buf, pos, i * 2);
        pos = writeBytes(buf, pos, colKeys[at]);
        pos = writeBytes(buf, pos, colValues[at]);
        const headers = colHeaders[at]!;
        if (headers.length === 1) buf[pos++] = headers[0]!;
        else {
          buf.set(headers, pos);
          pos += headers.length;
        }
      }
      if (pos - start !== b.size)
        throw new Error(`produce request: batch measured ${b.size} bytes, wrote ${pos - start}`);
      buf.writeUInt32BE(crc32c(buf.subarray(crcFrom, pos)), crcAt);
      buf[pos++] = 0; // partition's tagged fields
    }
    buf[pos++] = 0; // topic's tagged fields
  }
  buf[pos++] = 0; // request's tagged fields
  if (pos !== total) throw new Error(`produce request: measured ${total} bytes, wrote ${pos}`);
  // No record is kept alive by the columns; their room stays for the next request.
  colKeys.fill(null, 0, index);
  colValues.fill(null, 0, index);
  colHeaders.fill(NO_HEADER_BLOCK, 0, index);
  const writer = Writer.create().append(buf);
  if (acks === ACKS_NONE) writer.context.noResponse = true;
  return writer;
}

/** The client's Produce module of a version this encoder speaks. */
const MODULES: ReadonlyMap<number, ProduceModule> = new Map<number, ProduceModule>([
  [9, produceV9 as unknown as ProduceModule],
  [10, produceV10 as unknown as ProduceModule],
  [11, produceV11],
]);

const fastApis = new Map<number, ProduceApi>();

/**
 * The Produce API to use instead of the client's `api`: the same version with this encoder for v9-v11, falling
 * back to the client's own encoding when a request is compressed; any other version unchanged.
 */
export function fastProduceApi(api: ProduceApi): ProduceApi {
  const module = MODULES.get(api.version);
  if (module === undefined || module.api !== api) return api;
  let fast = fastApis.get(api.version);
  if (fast === undefined) {
    const create = (acks: number, timeout: number, topicData: MessageRecord[], options: Options = {}) => {
      const compression = options.compression;
      if (compression === undefined || compression === 'none') {
        return createProduceRequest(acks, timeout, topicData, options);
      }
      return compression === 'gzip'
        ? module.createRequestAsync(acks, timeout, topicData, options)
        : module.createRequest(acks, timeout, topicData, options);
    };
    fast = createAPI(0, api.version, create as never, module.parseResponse) as ProduceApi;
    fastApis.set(api.version, fast);
  }
  return fast;
}
