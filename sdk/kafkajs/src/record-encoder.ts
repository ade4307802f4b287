// kafkajs fix 10 (see kafkajs-patches.ts): the record encoder of Produce requests (record batch v2 records), byte
// for byte what kafkajs's `protocol/recordBatch/record/v0` writes, in one exactly sized buffer. kafkajs makes an
// Encoder per record and another per header, each zero-filling a 512-byte buffer, and a Buffer per varint it
// writes: with the three scheduling headers on every record, sends took about half of a kafkajs passthrough's time.
// Records this fast path does not cover (keys, values or header values that are not Buffers, a Long timestamp
// delta) go to kafkajs's own encoder.
//
// Header blocks: a frozen headers object is encoded once (its count, names and values, kept per object in a
// WeakMap) and copied into each record that carries it. The runtime freezes the scheduling headers it shares among
// the records of one message and of one millisecond; measuring, checking and writing three headers per record cost
// a kafkajs passthrough with scheduling headers about 40% of its throughput. The patch is process-wide: a frozen
// headers object must not have its Buffers changed in place once sent (an unfrozen one is read on every send).

/** kafkajs's Encoder, as far as a record's encoder is used: RecordBatch writes `buffer` of each. */
export interface EncoderLike {
  buf: Buffer;
  offset: number;
}

/** The arguments kafkajs's produce request passes to the record encoder (a message, spread, and two deltas). */
export interface RecordArgs {
  readonly offsetDelta?: number;
  readonly timestampDelta?: unknown;
  readonly key?: unknown;
  readonly value?: unknown;
  readonly headers?: Record<string, unknown>;
}

/** kafkajs's record encoder and ours: a record's arguments to an Encoder of its bytes. */
export type RecordEncoder = (args: RecordArgs) => EncoderLike;

/** Bytes of the zigzag varint of `value`, an integer with |value| < 2^52 (Kafka's varint and varlong agree there). */
function varintSize(value: number): number {
  let z = value >= 0 ? value * 2 : -value * 2 - 1;
  let bytes = 1;
  while (z >= 0x80) {
    z = Math.floor(z / 0x80);
    bytes++;
  }
  return bytes;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  let z = value >= 0 ? value * 2 : -value * 2 - 1;
  while (z >= 0x80) {
    buf[pos++] = (z % 0x80) | 0x80;
    z = Math.floor(z / 0x80);
  }
  buf[pos++] = z;
  return pos;
}

/** A varint-length byte string: its size (null: length -1). */
const bytesSize = (b: Buffer | null | undefined): number =>
  b === null || b === undefined ? 1 : varintSize(b.length) + b.length;

function writeBytes(buf: Buffer, pos: number, b: Buffer | null | undefined): number {
  if (b === null || b === undefined) {
    buf[pos] = 1; // zigzag(-1)
    return pos + 1;
  }
  pos = writeVarint(buf, pos, b.length);
  b.copy(buf, pos);
  return pos + b.length;
}

/** One header: its name (varint length, then UTF-8) and its value. */
function writeHeader(buf: Buffer, pos: number, name: string, nameBytes: number, value: Buffer): number {
  pos = writeVarint(buf, pos, nameBytes);
  pos += buf.write(name, pos, 'utf8');
  return writeBytes(buf, pos, value);
}

const isBytes = (v: unknown): v is Buffer | null | undefined =>
  v === null || v === undefined || Buffer.isBuffer(v);

/**
 * Whether every header value is a Buffer (arrays of them: one header per element, as kafkajs does). kafkajs throws
 * on a null or undefined header value: those go to it, and throw there as before.
 */
function plainHeaders(headers: Record<string, unknown>, names: readonly string[]): boolean {
  for (const name of names) {
    const v = headers[name];
    if (Array.isArray(v)) {
      for (const e of v) if (!Buffer.isBuffer(e)) return false;
    } else if (!Buffer.isBuffer(v)) return false;
  }
  return true;
}

/** The encoded headers of a record without any: a count of 0. */
const NO_HEADER_BLOCK = Buffer.from([0]);

/** Per frozen headers object: its encoded block, or null when kafkajs must encode it (not all Buffers). */
const headerBlocks = new WeakMap<object, Buffer | null>();

/** The encoded headers (count, then each name and value, as kafkajs writes them), or null for kafkajs's path. */
function encodeHeaders(headers: Record<string, unknown>, names: readonly string[]): Buffer | null {
  if (names.length === 0) return NO_HEADER_BLOCK;
  if (!plainHeaders(headers, names)) return null;
  let count = 0;
  let size = 0;
  for (const name of names) {
    const v = headers[name] as Buffer | Buffer[];
    const nameBytes = Buffer.byteLength(name);
    const nameSize = varintSize(nameBytes) + nameBytes;
    if (Array.isArray(v)) {
      count += v.length;
      for (const e of v) size += nameSize + bytesSize(e);
    } else {
      count++;
      size += nameSize + bytesSize(v);
    }
  }
  const block = Buffer.allocUnsafe(varintSize(count) + size);
  let pos = writeVarint(block, 0, count);
  for (const name of names) {
    const v = headers[name] as Buffer | Buffer[];
    const nameBytes = Buffer.byteLength(name);
    if (Array.isArray(v)) for (const e of v) pos = writeHeader(block, pos, name, nameBytes, e);
    else pos = writeHeader(block, pos, name, nameBytes, v);
  }
  return block;
}

/** A record's header block: kept per object when the object is frozen, else made for this record. */
function headerBlock(headers: Record<string, unknown> | undefined): Buffer | null {
  if (headers === undefined) return NO_HEADER_BLOCK;
  if (!Object.isFrozen(headers)) return encodeHeaders(headers, Object.keys(headers));
  let block = headerBlocks.get(headers);
  if (block === undefined) {
    block = encodeHeaders(headers, Object.keys(headers));
    headerBlocks.set(headers, block);
  }
  return block;
}

/** Below this, kafkajs's 32-bit zigzag varints and ours agree. */
const INT30 = 2 ** 30;

/**
 * The record encoder: `original` is kafkajs's (for what the fast path does not cover), `prototype` its Encoder's
 * prototype (the result must be an Encoder: RecordBatch checks `buf` and reads `buffer`).
 */
export function createRecordEncoder(original: RecordEncoder, prototype: object): RecordEncoder {
  return (args) => {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = args;
    if (
      typeof timestampDelta !== 'number' ||
      !Number.isSafeInteger(timestampDelta) ||
      !Number.isInteger(offsetDelta) ||
      offsetDelta < 0 ||
      offsetDelta >= INT30 ||
      !isBytes(key) ||
      !isBytes(value)
    ) {
      return original(args);
    }
    const block = headerBlock(headers);
    if (block === null) return original(args);
    const body =
      1 + // attributes
      varintSize(timestampDelta) +
      varintSize(offsetDelta) +
      bytesSize(key) +
      bytesSize(value) +
      block.length;
    if (body >= INT30) return original(args);
    const size = varintSize(body) + body;
    const buf = Buffer.allocUnsafe(size);
    let pos = writeVarint(buf, 0, body);
    buf[pos++] = 0; // attributes: none
    pos = writeVarint(buf, pos, timestampDelta);
    pos = writeVarint(buf, pos, offsetDelta);
    pos = writeBytes(buf, pos, key);
    pos = writeBytes(buf, pos, value);
    pos += block.copy(buf, pos);
    const encoder = Object.create(prototype) as EncoderLike;
    encoder.buf = buf;
    encoder.offset = pos;
    return encoder;
  };
}
