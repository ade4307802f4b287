// Unit tests of the pure parts of the platformatic transport: the read_committed filter and record decoding,
// partitioning and chunking of sends, pause bookkeeping, member epochs, error mapping, and committed-offset lookups.
import { channel } from 'node:diagnostics_channel';
import {
  AuthorizationError,
  DirigoError,
  FencedError,
  type OutgoingRecord,
  PartitionsRevokedError,
  ProducerStateError,
  type RecordHeaders,
  partitionFor,
  TransportError,
  UnknownTopicError,
} from '@dirigo/core';
import {
  createRecordsBatch,
  type KafkaRecord,
  type MessageRecord,
  type MessageToProduce,
  MultipleErrors,
  NumericMap,
  ProtocolError,
  ResponseError,
  Reader,
  type RecordsBatch,
  readRecordsBatch,
  readRecordsBatches,
  UserError,
} from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { type CommittedDeps, classifyFailure, fetchCommitted } from './committed.ts';
import { mapError } from './errors.ts';
import {
  FORGOTTEN_LIMIT,
  forgetMember,
  memberEpoch,
  trackedMembers,
  watchMemberEpochs,
} from './member-epochs.ts';
import { Pauses } from './pauses.ts';
import { retryDelay } from './platformatic-transport.ts';
import { createProduceRequest } from './produce-request.ts';
import { Partitioner, packRecordChunks, toMessageChunks } from './producer.ts';
import { decodeRecords } from './records.ts';

const TRANSACTIONAL = 1 << 4;
const CONTROL = 1 << 5;

function record(offsetDelta: number, value: string | null, headers: [string, string][] = []): KafkaRecord {
  return {
    length: 0,
    attributes: 0,
    timestampDelta: BigInt(offsetDelta),
    offsetDelta,
    key: null,
    value: value === null ? null : Buffer.from(value),
    headers: headers.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
  };
}

function batch(
  firstOffset: number,
  producerId: number,
  values: (string | null)[],
  opts: { txn?: boolean; attributes?: number } = {},
): RecordsBatch {
  return {
    firstOffset: BigInt(firstOffset),
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: (opts.txn ? TRANSACTIONAL : 0) | (opts.attributes ?? 0),
    lastOffsetDelta: Math.max(0, values.length - 1),
    firstTimestamp: 1000n,
    maxTimestamp: 5000n,
    producerId: BigInt(producerId),
    producerEpoch: 0,
    firstSequence: 0,
    records: values.map((v, i) => record(i, v)),
  };
}

/** A transaction marker of `producerId` at `offset`. */
function marker(offset: number, producerId: number, type: 'abort' | 'commit'): RecordsBatch {
  const b = batch(offset, producerId, [], { txn: true, attributes: CONTROL });
  return {
    ...b,
    lastOffsetDelta: 0,
    records: [
      { ...record(0, null), key: Buffer.from([0, 0, 0, type === 'abort' ? 0 : 1]), value: Buffer.alloc(6) },
    ],
  };
}

/** Zigzag of a (small) integer, and Kafka's varint of it. */
const zz = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1);
function uvarint(out: number[], v: number): void {
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
}
function varBytes(out: number[], b: Buffer | null): void {
  if (b === null) uvarint(out, zz(-1));
  else {
    uvarint(out, zz(b.length));
    out.push(...b);
  }
}

/** A batch's bytes (record batch v2; the CRC is left 0, nothing here reads it). */
function encodeBatch(b: RecordsBatch): Buffer {
  const records: number[] = [];
  for (const r of b.records) {
    const body: number[] = [r.attributes];
    uvarint(body, zz(Number(r.timestampDelta)));
    uvarint(body, zz(r.offsetDelta));
    varBytes(body, r.key);
    varBytes(body, r.value);
    uvarint(body, zz(r.headers.length));
    for (const [k, v] of r.headers) {
      varBytes(body, k);
      varBytes(body, v);
    }
    uvarint(records, zz(body.length));
    records.push(...body);
  }
  const head = Buffer.alloc(61);
  head.writeBigInt64BE(b.firstOffset, 0);
  head.writeInt32BE(49 + records.length, 8);
  head.writeInt32BE(b.partitionLeaderEpoch, 12);
  head[16] = b.magic;
  head.writeInt16BE(b.attributes, 21);
  head.writeInt32BE(b.lastOffsetDelta, 23);
  head.writeBigInt64BE(b.firstTimestamp, 27);
  head.writeBigInt64BE(b.maxTimestamp, 35);
  head.writeBigInt64BE(b.producerId, 43);
  head.writeInt16BE(b.producerEpoch, 51);
  head.writeInt32BE(b.firstSequence, 53);
  head.writeInt32BE(b.records.length, 57);
  return Buffer.concat([head, Buffer.from(records)]);
}

/** `decodeRecords` of the bytes of `batches`, as a Fetch answer carries them. */
const decodeBatches = (
  topic: string,
  partition: number,
  batches: RecordsBatch[],
  aborted: { producerId: bigint; firstOffset: bigint }[] | null,
  from?: number,
  to?: number,
) => decodeRecords(topic, partition, Buffer.concat(batches.map(encodeBatch)), aborted, from, to);

const values = (batches: RecordsBatch[], aborted: [number, number][], from = 0, to?: number) =>
  decodeBatches(
    't',
    0,
    batches,
    aborted.map(([producerId, firstOffset]) => ({
      producerId: BigInt(producerId),
      firstOffset: BigInt(firstOffset),
    })),
    from,
    to,
  ).records.map((r) => r.value?.toString() ?? null);

describe('read_committed filter', () => {
  it('hides every aborted transaction of a producer that aborted twice in the answer', () => {
    // The client alone keeps one range per producer (the last listed): a0 would be delivered.
    const answer = [
      batch(0, 7, ['a0'], { txn: true }),
      marker(1, 7, 'abort'),
      batch(2, 8, ['plain']),
      batch(3, 7, ['a1'], { txn: true }),
      marker(4, 7, 'abort'),
      batch(5, 7, ['c'], { txn: true }),
      marker(6, 7, 'commit'),
    ];
    expect(
      values(answer, [
        [7, 0],
        [7, 3],
      ]),
    ).toEqual(['plain', 'c']);
  });

  it('keeps committed records before an ABORT marker of a transaction that wrote nothing here', () => {
    // The broker lists no aborted transaction for such a marker; the client alone hides b (and everything of the
    // producer from its last listed aborted transaction up to this marker).
    const answer = [
      batch(0, 7, ['x'], { txn: true }),
      marker(1, 7, 'abort'),
      batch(2, 7, ['b'], { txn: true }),
      marker(3, 7, 'commit'),
      marker(4, 7, 'abort'),
    ];
    expect(values(answer, [[7, 0]])).toEqual(['b']);
  });

  it('hides an aborted transaction whose ABORT marker is beyond the answer', () => {
    // The client alone drops a range without its marker in the same answer.
    const answer = [batch(0, 7, ['x0', 'x1'], { txn: true }), batch(2, 7, ['x2'], { txn: true })];
    expect(values(answer, [[7, 0]])).toEqual([]);
    expect(decodeBatches('t', 0, answer, [{ producerId: 7n, firstOffset: 0n }]).next).toBe(3);
  });

  it('hides a transaction that began before the fetch offset and keeps other producers', () => {
    const answer = [
      batch(5, 1, ['b5'], { txn: true }),
      batch(6, 2, ['other'], { txn: true }),
      marker(7, 1, 'abort'),
      batch(8, 1, ['b8'], { txn: true }),
      marker(9, 1, 'commit'),
      marker(10, 2, 'commit'),
    ];
    expect(values(answer, [[1, 3]])).toEqual(['other', 'b8']);
  });

  it('keeps committed records, skips markers, and moves past the last batch', () => {
    const answer = [batch(0, 1, ['a', 'b'], { txn: true }), marker(2, 1, 'commit')];
    const decoded = decodeBatches('t', 0, answer, []);
    expect(decoded.records.map((r) => [r.offset, r.value?.toString()])).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
    expect(decoded.next).toBe(3);
    expect(decodeBatches('t', 0, [], []).next).toBeUndefined();
  });

  it('moves past batches emptied by compaction', () => {
    const emptied = { ...batch(10, 1, []), lastOffsetDelta: 4 };
    expect(decodeBatches('t', 0, [emptied], null)).toEqual({ records: [], next: 15 });
  });
});

describe('record decoding', () => {
  it('keeps offsets in [from, to), computes timestamps, and lets the last duplicate header win', () => {
    const b = batch(10, 1, ['a', 'b', 'c']);
    b.records[1] = record(1, 'b', [
      ['h', 'first'],
      ['h', 'second'],
      ['z', ''],
    ]);
    const decoded = decodeBatches('t', 3, [b], null, 11, 12);
    expect(decoded.records).toHaveLength(1);
    const r = decoded.records[0]!;
    expect(r).toMatchObject({ topic: 't', partition: 3, offset: 11, timestamp: 1001, key: null });
    expect(r.headers.h!.toString()).toBe('second');
    expect(r.headers.z!.length).toBe(0);
  });

  it('gives records with the same header bytes in a row one headers object, and each its own values', () => {
    const b = batch(0, 1, ['a', 'b', 'c', 'd', 'e', 'f']);
    const h1: [string, string][] = [
      ['dirigo-ingest', '1000'],
      ['dirigo-priority', 'normal'],
    ];
    const h2: [string, string][] = [
      ['dirigo-ingest', '1001'],
      ['dirigo-priority', 'normal'],
    ];
    b.records = [
      record(0, 'a', h1),
      record(1, 'b', h1),
      record(2, 'c', h2),
      record(3, 'd', []),
      record(4, 'e', h2),
      record(5, 'f', h2),
    ];
    const [a, bb, c, d, e, f] = decodeBatches('t', 0, [b], null).records;
    expect(bb!.headers).toBe(a!.headers);
    expect(c!.headers).not.toBe(a!.headers);
    expect(f!.headers).toBe(e!.headers);
    expect(e!.headers).not.toBe(c!.headers); // not the record just before
    expect(Object.keys(d!.headers)).toEqual([]);
    const text = (h: Record<string, Buffer>) =>
      Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString()]));
    expect(text(bb!.headers)).toEqual({ 'dirigo-ingest': '1000', 'dirigo-priority': 'normal' });
    expect(text(f!.headers)).toEqual({ 'dirigo-ingest': '1001', 'dirigo-priority': 'normal' });
  });

  it('uses the batch timestamp of a LogAppendTime topic', () => {
    const b = batch(0, 1, ['a', 'b'], { attributes: 1 << 3 });
    expect(decodeBatches('t', 0, [b], null).records.map((r) => r.timestamp)).toEqual([5000, 5000]);
  });
});

describe("record bytes against the client's reader", () => {
  /** A deterministic generator (the test must not depend on the run). */
  let seed = 42;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const bytesOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => next(256)));
  /**
   * Header names from a pool larger than the decoder's name cache (32): the scheduling headers, names of one length
   * differing in one byte, an empty one, multi-byte UTF-8, and random bytes (invalid UTF-8 too).
   */
  const names = [
    'dirigo-ingest',
    'dirigo-deadline',
    'dirigo-priority',
    'dirigo-a',
    'dirigo-b',
    '',
    'né-ü',
    ...Array.from({ length: 40 }, (_, i) => `x-${i}`),
  ].map((n) => Buffer.from(n));
  const headerName = (): Buffer => (next(8) === 0 ? bytesOf(next(6)) : names[next(names.length)]!);

  it('decodes batches the client writes (plain, gzip, zstd, snappy, lz4) as the client reads them', () => {
    for (const compression of ['none', 'gzip', 'zstd', 'snappy', 'lz4'] as const) {
      const batches: Buffer[] = [];
      let offset = 1000;
      for (let b = 0; b < 5; b++) {
        const t0 = 1_700_000_000_000 + next(1_000_000);
        // A third of the records repeat the header bytes of the record before (the decoder shares their object).
        let headers = new Map<Buffer, Buffer>();
        const headersOf = () => {
          if (next(3) !== 0)
            headers = new Map(Array.from({ length: next(6) }, () => [headerName(), bytesOf(next(10))]));
          return headers;
        };
        const messages: MessageRecord[] = Array.from({ length: 1 + next(40) }, () => ({
          topic: 't',
          partition: 0,
          // Null keys and values (the client writes an absent one as a Kafka null; its types only say Buffer).
          key: (next(4) === 0 ? null : bytesOf(next(30))) as Buffer,
          value: (next(5) === 0 ? null : bytesOf(next(3000))) as Buffer,
          timestamp: BigInt(t0 + next(100_000) - 50_000),
          headers: headersOf(),
        }));
        const bytes = Buffer.from(createRecordsBatch(messages, { compression }).buffer);
        bytes.writeBigInt64BE(BigInt(offset), 0);
        offset += messages.length;
        batches.push(bytes);
      }
      // The last batch cut short by the answer's size limit: skipped by both.
      const whole = Buffer.concat(batches);
      const answer = whole.subarray(0, whole.length - 7);
      const expected = readRecordsBatches(Reader.from(answer)).flatMap((batch) =>
        batch.records.map((r) => ({
          topic: 't',
          partition: 2,
          offset: Number(batch.firstOffset) + r.offsetDelta,
          key: r.key,
          value: r.value,
          headers: Object.fromEntries(r.headers.map(([k, v]) => [(k as Buffer).toString(), v])),
          timestamp: Number(batch.firstTimestamp) + Number(r.timestampDelta),
        })),
      );
      const decoded = decodeRecords('t', 2, answer, null);
      expect(decoded.records.length).toBe(expected.length);
      expect(decoded.records.length).toBeGreaterThan(0);
      expect(decoded.records).toEqual(expected);
      expect(decoded.next).toBe(expected.at(-1)!.offset + 1);
    }
  });

  it('refuses a batch that is not record batch v2, naming the partition', () => {
    const b = encodeBatch(batch(0, 1, ['a']));
    b[16] = 1;
    expect(() => decodeRecords('orders', 3, b, null)).toThrow(/orders\[3\].*magic 1/);
  });
});

describe('partitioning and chunking of sends', () => {
  const rec = (topic: string, key: string | null, bytes = 10, partition?: number): OutgoingRecord => ({
    topic,
    key: key === null ? null : Buffer.from(key),
    value: Buffer.alloc(bytes),
    ...(partition === undefined ? {} : { partition }),
  });

  it('places keys with partitionFor, keeps explicit partitions, spreads keyless records', () => {
    const p = new Partitioner();
    expect(p.partition(rec('t', 'user-1'), 6)).toBe(partitionFor(Buffer.from('user-1'), 6));
    expect(p.partition(rec('t', 'user-1', 10, 4), 6)).toBe(4);
    const keyless = new Set(Array.from({ length: 6 }, () => p.partition(rec('t', null), 6)));
    expect(keyless.size).toBe(6);
  });

  it('cuts a send into consecutive chunks of at most maxBytes per partition, in order', () => {
    const records = Array.from({ length: 10 }, (_, i) => rec('t', null, 100, i % 2));
    const chunks = toMessageChunks(records, () => 2, new Partitioner(), 300);
    expect(chunks.flat().map((m) => m.partition)).toEqual(records.map((r) => r.partition));
    for (const chunk of chunks) {
      for (const partition of [0, 1]) {
        expect(chunk.filter((m) => m.partition === partition).length).toBeLessThanOrEqual(2);
      }
    }
    expect(toMessageChunks(records, () => 2, new Partitioner())).toHaveLength(1);
    const big = toMessageChunks([rec('t', 'k', 2000)], () => 2, new Partitioner(), 300);
    expect(big).toHaveLength(1);
  });

  it('packs each chunk into one client message per partition, first seen first, that encode to the same request', () => {
    const records = [
      rec('a', null, 5, 1),
      rec('b', 'k', 6),
      rec('a', null, 7, 0),
      rec('a', null, 8, 1),
      rec('b', 'k', 9),
      rec('a', null, 10, 0),
    ].map((r, i) => ({ ...r, timestamp: 1_700_000_000_000 + i }));
    const kPartition = partitionFor(Buffer.from('k'), 2);
    const [packed, ...more] = packRecordChunks(records, () => 2, new Partitioner());
    expect(more).toHaveLength(0);
    expect(packed!.map((m) => [m.topic, m.partition])).toEqual([
      ['a', 1],
      ['b', kPartition],
      ['a', 0],
    ]);
    for (const m of packed!) expect(m.value).toHaveLength(0); // a marker: the records are behind it
    const options = () => ({ producerId: 424_242_424n, producerEpoch: 0, sequences: new NumericMap() });
    // The plain messages grouped by partition as the markers are (the order a packed request writes them).
    const [plain] = toMessageChunks(records, () => 2, new Partitioner());
    const order = (m: MessageToProduce) =>
      packed!.findIndex((p) => p.topic === m.topic && p.partition === m.partition);
    const groupedPlain = [...plain!].sort((x, y) => order(x) - order(y));
    expect(
      createProduceRequest(-1, 1000, packed as MessageRecord[], options()).buffer.equals(
        createProduceRequest(-1, 1000, groupedPlain as MessageRecord[], options()).buffer,
      ),
    ).toBe(true);
  });

  it('cuts packed chunks at maxBytes per partition (headers counted as written), in order, a record never split', () => {
    const headers = { h: Buffer.alloc(40) };
    const records = Array.from({ length: 10 }, (_, i) => ({ ...rec('t', null, 100, i % 2), headers }));
    // 24 + 100 + a header block of 1 + 2 + 1 + 1 + 40 = 169 bytes each: two fit in 340, not three.
    const chunks = packRecordChunks(records, () => 2, new Partitioner(), 340);
    expect(chunks).toHaveLength(3);
    // The records behind a marker, read back from the request the encoder writes for it alone.
    const behind = (m: MessageToProduce): number => {
      const reader = Reader.from(createProduceRequest(-1, 1000, [m as MessageRecord], {}).buffer);
      reader.skip(1 + 2 + 4 + 1 + 2 + 1 + 4); // no transactional id, acks, timeout, topic 't', its partition
      reader.readUnsignedVarInt();
      return readRecordsBatch(reader).records.length;
    };
    expect(chunks.map((chunk) => chunk.map((m) => [m.partition, behind(m)]))).toEqual([
      [
        [0, 2],
        [1, 2],
      ],
      [
        [0, 2],
        [1, 2],
      ],
      [
        [0, 1],
        [1, 1],
      ],
    ]);
    expect(packRecordChunks(records, () => 2, new Partitioner())).toHaveLength(1);
    expect(packRecordChunks([rec('t', 'k', 2000)], () => 2, new Partitioner(), 300)).toHaveLength(1);
    // An explicit partition beyond the known count (a stale count) gets its own packed message.
    const [stale] = packRecordChunks(
      [rec('t', null, 1, 0), rec('t', null, 1, 5)],
      () => 2,
      new Partitioner(),
    );
    expect(stale!.map((m) => m.partition)).toEqual([0, 5]);
  });

  it("hands the client a frozen headers object's Map once, and an unfrozen object's as it is at each send", () => {
    const chunkOf = (headers: RecordHeaders) =>
      toMessageChunks(
        [{ topic: 't', partition: 0, key: null, value: null, headers }],
        () => 1,
        new Partitioner(),
      )[0]![0]!.headers as Map<Buffer, Buffer>;
    const reused: RecordHeaders = { n: Buffer.from('1') };
    const first = chunkOf(reused);
    reused.n = Buffer.from('2');
    const second = chunkOf(reused);
    expect([...first.values()].map(String)).toEqual(['1']);
    expect([...second.values()].map(String)).toEqual(['2']);
    const frozen: RecordHeaders = Object.freeze({ f: Buffer.from('y') });
    expect(chunkOf(frozen)).toBe(chunkOf(frozen));
  });

  it('hands the client timestamps as bigint and null keys and values as they are', () => {
    const [[m]] = toMessageChunks(
      [{ topic: 't', partition: 0, key: null, value: null, timestamp: 1234 }],
      () => 1,
      new Partitioner(),
    ) as unknown as [[Record<string, unknown>]];
    expect(m).toMatchObject({ topic: 't', partition: 0, key: null, value: null, timestamp: 1234n });
    // Each record keeps its own timestamp (the last conversion is reused only for the same millisecond).
    const stamps = toMessageChunks(
      [1234, 1234, 1235, 1234, 1].map((timestamp) => ({
        topic: 't',
        partition: 0,
        key: null,
        value: null,
        timestamp,
      })),
      () => 1,
      new Partitioner(),
    )[0]!.map((x) => x.timestamp);
    expect(stamps).toEqual([1234n, 1234n, 1235n, 1234n, 1n]);
    const plain = toMessageChunks(
      [{ topic: 't', partition: 0, key: null, value: null }],
      () => 1,
      new Partitioner(),
    )[0]![0]!;
    expect(plain.timestamp).toBeUndefined();
    // No headers: an empty Map the client reads (it would otherwise make one per message), written as none.
    expect(plain.headers).toBeInstanceOf(Map);
    expect((plain.headers as Map<Buffer, Buffer>).size).toBe(0);
  });
});

describe('member epochs', () => {
  // What the client publishes for each parsed answer (ConsumerGroupHeartbeat is api key 68).
  const answer = (memberId: string, memberEpoch: number) =>
    channel('tracing:plt:kafka:connections:api:asyncStart').publish({
      apiKey: 68,
      result: { memberId, memberEpoch },
    });

  it('keeps the epoch of each heartbeat answer, drops a left member, and ignores late answers to forgotten ones', () => {
    watchMemberEpochs();
    const before = trackedMembers();
    answer('m-a', 3);
    answer('m-a', 4);
    answer('m-b', 1);
    expect(memberEpoch('m-a')).toBe(4);
    answer('m-b', -1); // a leave
    expect(memberEpoch('m-b')).toBeUndefined();
    forgetMember('m-a');
    answer('m-a', 5); // a heartbeat that was in flight
    expect(memberEpoch('m-a')).toBeUndefined();
    expect(trackedMembers()).toBe(before);
    // Many members come and go, each answered once more after it was forgotten: the map does not grow.
    for (let i = 0; i < 3 * FORGOTTEN_LIMIT; i++) {
      answer(`m-${i}`, 1);
      forgetMember(`m-${i}`);
      answer(`m-${i}`, 2);
    }
    expect(trackedMembers()).toBe(before);
  });
});

describe('pauses', () => {
  it('pauses partitions and topics; a partition resumed in a paused topic runs', () => {
    const p = new Pauses();
    p.pause([{ topic: 'a', partitions: [0] }]);
    expect([p.isPaused('a', 0), p.isPaused('a', 1)]).toEqual([true, false]);
    p.pause([{ topic: 'a' }]);
    p.resume([{ topic: 'a', partitions: [1] }]);
    expect([p.isPaused('a', 0), p.isPaused('a', 1), p.isPaused('a', 2)]).toEqual([true, false, true]);
    p.resume([{ topic: 'a' }]);
    expect([p.isPaused('a', 0), p.isPaused('a', 2)]).toEqual([false, false]);
  });
});

describe('error mapping', () => {
  const wrapped = (apiId: string) =>
    new MultipleErrors('endTransaction failed 1 times.', [
      new MultipleErrors('response', [new ProtocolError(apiId)]),
    ]);

  it('maps both fencing codes to FencedError (the client recognises only INVALID_PRODUCER_EPOCH)', () => {
    expect(mapError(wrapped('PRODUCER_FENCED'), { operation: 'commit' })).toBeInstanceOf(FencedError);
    expect(mapError(wrapped('INVALID_PRODUCER_EPOCH'), { operation: 'commit' })).toBeInstanceOf(FencedError);
  });

  it('maps the four authorization refusals to AuthorizationError, naming the resource the call concerned', () => {
    const context = { operation: 'x', topic: 't1', group: 'g1', transactionalId: 'g1.0' };
    const cases = [
      ['TOPIC_AUTHORIZATION_FAILED', 'topic', 't1'],
      ['GROUP_AUTHORIZATION_FAILED', 'group', 'g1'],
      ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'transactionalId', 'g1.0'],
      ['CLUSTER_AUTHORIZATION_FAILED', 'cluster', undefined],
    ] as const;
    for (const [apiId, resource, name] of cases) {
      const e = mapError(wrapped(apiId), context);
      expect(e).toBeInstanceOf(AuthorizationError);
      expect(e.retriable).toBe(false);
      expect([(e as AuthorizationError).resource, (e as AuthorizationError).resourceName]).toEqual([
        resource,
        name,
      ]);
      expect(e.message).toContain(`${apiId}`);
      expect(e.message).toContain('docs/operations.md');
    }
    expect(mapError(wrapped('NOT_COORDINATOR'), context)).not.toBeInstanceOf(AuthorizationError);
  });

  it("names the refused topic of a transaction over several from the answer, not the send's first topic", () => {
    // AddPartitionsToTxn v3: topic 'b' refused, topic 'a' (first) not attempted.
    const answer = {
      resultsByTransaction: [
        {
          topicResults: [
            { name: 'a', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 55 }] },
            { name: 'b', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 29 }] },
          ],
        },
      ],
    };
    const error = new ResponseError(
      24,
      3,
      {
        '/results_by_transaction/0/topic_results/0/results_by_partitions/0': [55, null],
        '/results_by_transaction/0/topic_results/1/results_by_partitions/0': [29, null],
      },
      answer,
    );
    const e = mapError(error, { operation: 'transactional produce', topic: 'a' });
    expect([(e as AuthorizationError).resource, (e as AuthorizationError).resourceName]).toEqual([
      'topic',
      'b',
    ]);
    // No path to read (an error of a single-topic call): the call's topic.
    const plain = mapError(wrapped('TOPIC_AUTHORIZATION_FAILED'), { operation: 'produce', topic: 'a' });
    expect((plain as AuthorizationError).resourceName).toBe('a');
  });

  it('names the topic of an unknown-topic error', () => {
    const e = mapError(new UserError('Unknown topic orders.'), { operation: 'produce' });
    expect(e).toBeInstanceOf(UnknownTopicError);
    expect((e as UnknownTopicError).topic).toBe('orders');
  });

  it('maps rebalance errors of commits to PartitionsRevokedError, and keeps the retriable verdict', () => {
    expect(mapError(wrapped('ILLEGAL_GENERATION'), { operation: 'commit', revocation: true })).toBeInstanceOf(
      PartitionsRevokedError,
    );
    const retriable = mapError(wrapped('NOT_COORDINATOR'), { operation: 'commit' });
    expect(retriable).toBeInstanceOf(TransportError);
    expect(retriable.retriable).toBe(true);
    expect(mapError(wrapped('INVALID_TXN_STATE'), { operation: 'commit' }).retriable).toBe(false);
  });

  it('maps a producer whose sequences fell out of step (a failover) to a retriable ProducerStateError', () => {
    for (const id of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID']) {
      const e = mapError(wrapped(id), { operation: 'transactional produce' });
      expect(e).toBeInstanceOf(ProducerStateError);
      expect(e.retriable).toBe(true);
    }
  });
});

describe('retry delays', () => {
  const error = (apiId: string) => new MultipleErrors('response', [new ProtocolError(apiId)]);
  const delay = (attempt: number, e: Error) =>
    retryDelay(undefined as never, 'addPartitionsToTransaction', attempt, 15, e);

  it('retries CONCURRENT_TRANSACTIONS after a few ms (a transaction right after the last commit), others from 100 ms', () => {
    expect([1, 2, 3, 7, 12].map((a) => delay(a, error('CONCURRENT_TRANSACTIONS')))).toEqual([
      2, 4, 8, 100, 100,
    ]);
    expect([1, 2, 6].map((a) => delay(a, error('NOT_LEADER_OR_FOLLOWER')))).toEqual([100, 200, 2_000]);
  });
});

describe('committed offsets: coordinator lookups and retries', () => {
  const error = (apiId: string) => new MultipleErrors('response', [new ProtocolError(apiId)]);
  const network = () => Object.assign(new Error('Connection closed'), { code: 'PLT_KFK_NETWORK' });

  it('tries again after a network failure or a moved, loading or unstable coordinator; looks it up again when it moved', () => {
    expect(classifyFailure(network())).toEqual({ retry: true, moved: true });
    expect(classifyFailure(error('NOT_COORDINATOR'))).toEqual({ retry: true, moved: true });
    expect(classifyFailure(error('COORDINATOR_NOT_AVAILABLE'))).toEqual({ retry: true, moved: true });
    expect(classifyFailure(error('COORDINATOR_LOAD_IN_PROGRESS'))).toEqual({ retry: true, moved: false });
    expect(classifyFailure(error('UNSTABLE_OFFSET_COMMIT'))).toEqual({ retry: true, moved: false });
    expect(classifyFailure(error('GROUP_AUTHORIZATION_FAILED'))).toEqual({ retry: false, moved: false });
    expect(classifyFailure(new DirigoError('coordinator 2 is not known', { retriable: true }))).toEqual({
      retry: true,
      moved: true,
    });
    expect(classifyFailure(new Error('bug'))).toEqual({ retry: false, moved: false });
  });

  it('forgets the coordinator after each failed lookup and asks again, until an answer that cannot change', async () => {
    const failures: Error[] = [network(), error('NOT_COORDINATOR'), error('GROUP_AUTHORIZATION_FAILED')];
    let lookups = 0;
    let forgotten = 0;
    const pauses: number[] = [];
    const deps = {
      client: {
        metadata: () => Promise.reject(new Error('not reached')),
        listApis: () => Promise.resolve([]),
      },
      pool: undefined as never,
      coordinator: () => Promise.reject(failures[lookups++]),
      forgetCoordinator: () => {
        forgotten++;
      },
      sleep: (ms: number) => {
        pauses.push(ms);
        return Promise.resolve();
      },
    } as unknown as CommittedDeps;
    const e = await fetchCommitted(deps, 'g', 't', [0], true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TransportError);
    expect((e as Error).message).toContain('fetch committed offsets of group g');
    expect(lookups).toBe(3);
    expect(forgotten).toBe(2);
    expect(pauses).toEqual([100, 200]);
  });

  it('gives up at its deadline', async () => {
    let lookups = 0;
    const deps = {
      client: {
        metadata: () => Promise.reject(new Error('not reached')),
        listApis: () => Promise.resolve([]),
      },
      pool: undefined as never,
      coordinator: () => {
        lookups++;
        return Promise.reject(network());
      },
      forgetCoordinator: () => {},
      deadlineMs: 50,
    } as unknown as CommittedDeps;
    const e = await fetchCommitted(deps, 'g', 't', [0], false).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TransportError);
    expect((e as TransportError).retriable).toBe(true);
    expect(lookups).toBe(1);
  });
});
