// Unit tests of the pure parts (no broker): error mapping, batch-header parsing, log levels, records, partitioner.
import {
  AuthorizationError,
  FencedError,
  ProducerStateError,
  PartitionsRevokedError,
  partitionFor,
  silentLogger,
  TransportError,
  UnknownTopicError,
} from '@dirigo/core';
import type { Admin, LogEntry, Transaction } from 'kafkajs';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkajsAdmin } from './admin.ts';
import { type ConsumerContext, KafkajsConsumer } from './consumer.ts';
import { mapError } from './errors.ts';
import { nextReadable, parseBatchHeaders } from './internals.ts';
import { crashLevel, levelFor } from './logging.ts';
import {
  chunkRecords,
  dirigoPartitioner,
  type KafkajsProducer,
  KafkajsTransaction,
  MAX_PARTITION_BATCH_BYTES,
  MAX_PARTITION_BATCH_RECORDS,
  PartitionerState,
  toTopicMessages,
} from './producer.ts';
import { normalizeHeaders, toIncomingRecords } from './records.ts';

const {
  KafkaJSProtocolError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSNonRetriableError,
  KafkaJSDeleteTopicRecordsError,
} = kafkajs;
const protocolError = (type: string, code: number, retriable: boolean, message = type): Error =>
  new KafkaJSProtocolError({ message, type, code, retriable } as unknown as Error);

describe('mapError', () => {
  it('maps a producer whose sequences fell out of step (a failover) to a retriable ProducerStateError', () => {
    for (const [type, code] of [
      ['OUT_OF_ORDER_SEQUENCE_NUMBER', 45],
      ['UNKNOWN_PRODUCER_ID', 59],
    ] as const) {
      const e = mapError(protocolError(type, code, false), { operation: 'transactional produce' });
      expect(e).toBeInstanceOf(ProducerStateError);
      expect(e.retriable).toBe(true);
    }
  });
  it('maps fencing (INVALID_PRODUCER_EPOCH, PRODUCER_FENCED unknown to kafkajs) to FencedError, also when wrapped', () => {
    expect(mapError(protocolError('INVALID_PRODUCER_EPOCH', 47, false), { operation: 'x' })).toBeInstanceOf(
      FencedError,
    );
    const unknown90 = protocolError('KAFKAJS_UNKNOWN_ERROR_CODE', -99, false, 'Unknown error code 90');
    expect(mapError(unknown90, { operation: 'x' })).toBeInstanceOf(FencedError);
    // kafkajs's typings declare one argument; its runtime takes (error, { cause }).
    const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, o: { cause: Error }) => Error;
    const wrapped = new NonRetriable(new Error('outer'), {
      cause: new KafkaJSNumberOfRetriesExceeded(protocolError('INVALID_PRODUCER_EPOCH', 47, false), {
        retryCount: 1,
        retryTime: 1,
      }),
    });
    expect(mapError(wrapped, { operation: 'x' })).toBeInstanceOf(FencedError);
    const other90 = protocolError('KAFKAJS_UNKNOWN_ERROR_CODE', -99, false, 'Unknown error code 91');
    expect(mapError(other90, { operation: 'x' })).toBeInstanceOf(TransportError);
  });

  it('maps the four authorization refusals to AuthorizationError, naming the resource the call concerned', () => {
    const context = { operation: 'x', topic: 't1', group: 'g1', transactionalId: 'g1.0' };
    const cases = [
      ['TOPIC_AUTHORIZATION_FAILED', 29, 'topic', 't1'],
      ['GROUP_AUTHORIZATION_FAILED', 30, 'group', 'g1'],
      ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53, 'transactionalId', 'g1.0'],
      ['CLUSTER_AUTHORIZATION_FAILED', 31, 'cluster', undefined],
    ] as const;
    for (const [type, code, resource, name] of cases) {
      // As kafkajs throws it from a producer: wrapped in its retrier's error.
      const e = mapError(
        new KafkaJSNumberOfRetriesExceeded(protocolError(type, code, false), { retryCount: 0, retryTime: 1 }),
        context,
      );
      expect(e).toBeInstanceOf(AuthorizationError);
      expect(e.retriable).toBe(false);
      expect([(e as AuthorizationError).resource, (e as AuthorizationError).resourceName]).toEqual([
        resource,
        name,
      ]);
      expect(e.message).toContain(type);
    }
    expect(mapError(protocolError('NOT_COORDINATOR', 16, true), context)).not.toBeInstanceOf(
      AuthorizationError,
    );
    // deleteTopicRecords reports each partition's error (purging without DELETE on the topic).
    const perPartition = new KafkaJSDeleteTopicRecordsError({
      partitions: [
        { partition: 0, offset: '1', error: protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false) },
      ],
    } as never);
    const purge = mapError(perPartition, { operation: 'delete records', topic: 't1' });
    expect(purge).toBeInstanceOf(AuthorizationError);
    expect((purge as AuthorizationError).resourceName).toBe('t1');
    // A transaction over several topics, one refused: the refused one (named on the error by kafkajs-patches.ts
    // fix 8), not the first topic of the send.
    const refused = Object.assign(protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false), { topic: 't2' });
    const txn = mapError(refused, { operation: 'transactional produce', topic: 't1' });
    expect([(txn as AuthorizationError).resource, (txn as AuthorizationError).resourceName]).toEqual([
      'topic',
      't2',
    ]);
  });

  it('maps unknown topics, revocations and the rest', () => {
    const unknown = mapError(protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true), {
      operation: 'x',
      topic: 't',
    });
    expect(unknown).toBeInstanceOf(UnknownTopicError);
    expect((unknown as UnknownTopicError).topic).toBe('t');
    const generation = protocolError('ILLEGAL_GENERATION', 22, false);
    expect(mapError(generation, { operation: 'commit', revocation: true })).toBeInstanceOf(
      PartitionsRevokedError,
    );
    expect(mapError(generation, { operation: 'commit' })).toBeInstanceOf(TransportError);
    const retriable = mapError(
      new KafkaJSNumberOfRetriesExceeded(protocolError('LEADER_NOT_AVAILABLE', 5, true), {
        retryCount: 5,
        retryTime: 1,
      }),
      { operation: 'produce' },
    );
    expect(retriable).toBeInstanceOf(TransportError);
    expect(retriable.retriable).toBe(true);
    expect(mapError(new Error('boom'), { operation: 'x' }).retriable).toBe(false);
  });
});

/** A v2 record batch header (61 bytes) plus `bodyBytes` of record payload. */
function batch(
  baseOffset: number,
  lastOffsetDelta: number,
  recordCount: number,
  control = false,
  bodyBytes = 0,
): Buffer {
  const b = Buffer.alloc(61 + bodyBytes);
  b.writeBigInt64BE(BigInt(baseOffset), 0);
  b.writeInt32BE(49 + bodyBytes, 8); // length: everything after the length field
  b.writeInt8(2, 16); // magic
  b.writeInt16BE(control ? 0x20 : 0, 21);
  b.writeInt32BE(lastOffsetDelta, 23);
  b.writeInt32BE(recordCount, 57);
  return b;
}

describe('batch headers', () => {
  it('parses batch headers, including a truncated last batch', () => {
    const full = Buffer.concat([batch(10, 4, 0), batch(15, 0, 1, true), batch(16, 9, 10, false, 100)]);
    const truncated = full.subarray(0, full.length - 50);
    expect(parseBatchHeaders(truncated)).toEqual([
      { baseOffset: 10, lastOffset: 14, recordCount: 0, control: false, sizeBytes: 61 },
      { baseOffset: 15, lastOffset: 15, recordCount: 1, control: true, sizeBytes: 61 },
      { baseOffset: 16, lastOffset: 25, recordCount: 10, control: false, sizeBytes: 161 },
    ]);
    expect(parseBatchHeaders(Buffer.alloc(30))).toEqual([]);
  });

  it('steps over emptied batches only', () => {
    const headers = (...bs: Buffer[]) => ({
      highWatermark: 100,
      lastStableOffset: 100,
      batches: parseBatchHeaders(Buffer.concat(bs)),
    });
    // Emptied batches at the position, then records: continue at the records.
    expect(nextReadable(headers(batch(10, 4, 0), batch(15, 2, 0), batch(18, 3, 2)), 12, 100)).toBe(18);
    // Records right at the position: nothing to skip.
    expect(nextReadable(headers(batch(10, 4, 3)), 12, 100)).toBe(12);
    // A marker (one control record) is read by kafkajs itself: not skipped.
    expect(nextReadable(headers(batch(10, 0, 1, true)), 10, 100)).toBe(10);
    // Only emptied batches up to the segment end: continue after the last one.
    expect(nextReadable(headers(batch(10, 4, 0)), 10, 100)).toBe(15);
    // No batch at all up to the end: finished.
    expect(nextReadable({ highWatermark: 100, lastStableOffset: 100, batches: [] }, 40, 90)).toBe(90);
    // ... unless the end is not stable yet.
    expect(nextReadable({ highWatermark: 100, lastStableOffset: 80, batches: [] }, 40, 90)).toBe(40);
  });
});

describe('logging', () => {
  const entry = (level: number, message: string, extra: Record<string, unknown> = {}): LogEntry => ({
    namespace: 'x',
    level,
    label: '',
    log: { timestamp: '', message, ...extra },
  });
  it('demotes kafkajs noise on normal rebalances and per-request errors', () => {
    expect(
      levelFor(entry(1, 'Response Heartbeat(key: 12, version: 3)', { error: 'The group is rebalancing' })),
    ).toBe('debug');
    expect(levelFor(entry(2, 'The group is rebalancing, re-joining'))).toBe('info');
    expect(levelFor(entry(1, 'The coordinator is not aware of this member, re-joining the group'))).toBe(
      'info',
    );
    expect(levelFor(entry(4, 'Consumer has joined the group'))).toBe('debug');
    expect(levelFor(entry(1, 'Crash: KafkaJSNumberOfRetriesExceeded: boom'))).toBe('error');
    expect(levelFor(entry(1, 'Failed to send messages: leader not available'))).toBe('warn');
  });

  it('logs expected conditions that kafkajs retries at debug, not warn', () => {
    // "The coordinator is loading" while a group coordinator (re)loads its offsets: kafkajs retries.
    expect(
      levelFor(
        entry(1, '[Connection] Response GroupCoordinator', {
          error: 'The coordinator is loading and hence cannot process requests',
        }),
      ),
    ).toBe('debug');
    expect(
      levelFor(
        entry(1, 'Crash: KafkaJSProtocolError: The coordinator is loading and hence cant process requests'),
      ),
    ).toBe('debug');
    expect(
      levelFor(entry(1, 'Restarting the consumer in 1000ms', { error: 'The coordinator is loading' })),
    ).toBe('debug');
    expect(levelFor(entry(1, 'Crash: KafkaJSNumberOfRetriesExceeded: boom'))).toBe('error');
    // The consumer's own "crashed; it restarts" line.
    expect(
      crashLevel(
        Object.assign(new Error('The coordinator is loading and hence cant process requests'), {
          retriable: true,
        }),
      ),
    ).toBe('debug');
    expect(crashLevel(new Error('The group is rebalancing, so a rejoin is needed'))).toBe('debug');
    expect(crashLevel(new Error('something nobody expected'))).toBe('warn');
  });
});

describe('records', () => {
  it('keeps kafkajs header objects with one Buffer per key and normalises the others', () => {
    const ok = { a: Buffer.from('1') };
    expect(normalizeHeaders(ok)).toBe(ok);
    expect(normalizeHeaders(undefined)).toEqual({});
    const multi = normalizeHeaders({ a: [Buffer.from('1'), Buffer.from('2')], b: 'text' });
    expect(multi.a!.toString()).toBe('2');
    expect(multi.b!.toString()).toBe('text');
  });

  it('converts offsets and timestamps to numbers and slices by offset', () => {
    const messages = [5, 6, 7].map((o) => ({
      key: null,
      value: Buffer.from(`${o}`),
      timestamp: '1700000000000',
      attributes: 0,
      offset: String(o),
      headers: {},
    }));
    const records = toIncomingRecords('t', 1, messages, 6, 7);
    expect(records).toEqual([
      {
        topic: 't',
        partition: 1,
        offset: 6,
        key: null,
        value: Buffer.from('6'),
        headers: {},
        timestamp: 1700000000000,
      },
    ]);
  });
});

describe('producer helpers', () => {
  it('partitions keys with partitionFor and honours explicit partitions', () => {
    const partitioner = dirigoPartitioner();
    const partitionMetadata = Array.from({ length: 7 }, (_, i) => ({
      partitionId: i,
      leader: 1,
      partitionErrorCode: 0,
      replicas: [1],
      isr: [1],
    }));
    for (let i = 0; i < 50; i++) {
      const key = Buffer.from(`key-${i}`);
      expect(partitioner({ topic: 't', partitionMetadata, message: { key, value: null } })).toBe(
        partitionFor(key, 7),
      );
    }
    expect(
      partitioner({
        topic: 't',
        partitionMetadata,
        message: { key: Buffer.from('x'), value: null, partition: 3 },
      }),
    ).toBe(3);
    const spread = new Set(
      Array.from({ length: 14 }, () =>
        partitioner({ topic: 't', partitionMetadata, message: { key: null, value: null } }),
      ),
    );
    expect(spread.size).toBe(7);
  });

  it('groups records by topic, passing a single-topic array through', () => {
    const one = [
      { topic: 'a', key: null, value: null },
      { topic: 'a', key: null, value: null },
    ];
    const grouped = toTopicMessages(one);
    expect(grouped).toHaveLength(1);
    expect(grouped[0]!.messages).toBe(one);
    const mixed = toTopicMessages([
      { topic: 'a', key: null, value: null },
      { topic: 'b', key: null, value: null },
      { topic: 'a', key: null, value: null },
    ]);
    expect(mixed.map((t) => [t.topic, t.messages.length])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });

  it('cuts big sends into ordered chunks that keep every partition under the batch limits', () => {
    const value = Buffer.alloc(1000);
    // 3000 keyed records over 4 partitions, 2000 records on an explicit partition, 500 big keyless ones.
    const records = [
      ...Array.from({ length: 3000 }, (_, i) => ({ topic: 'a', key: Buffer.from(`k${i}`), value })),
      ...Array.from({ length: 2000 }, () => ({
        topic: 'a',
        partition: 1,
        key: null,
        value: Buffer.alloc(10),
      })),
      ...Array.from({ length: 500 }, () => ({ topic: 'b', key: null, value: Buffer.alloc(5000) })),
    ];
    const chunks = chunkRecords(records, (t) => (t === 'a' ? 4 : undefined));
    expect(chunks.flat()).toEqual(records);
    for (const chunk of chunks) {
      const bytes = new Map<string, number>();
      const counts = new Map<string, number>();
      for (const r of chunk) {
        const slot = `${r.topic}:${r.partition ?? (r.key === null ? 'any' : partitionFor(r.key, 4))}`;
        bytes.set(slot, (bytes.get(slot) ?? 0) + (r.value?.length ?? 0) + (r.key?.length ?? 0));
        counts.set(slot, (counts.get(slot) ?? 0) + 1);
      }
      for (const b of bytes.values()) expect(b).toBeLessThanOrEqual(MAX_PARTITION_BATCH_BYTES);
      for (const c of counts.values()) expect(c).toBeLessThanOrEqual(MAX_PARTITION_BATCH_RECORDS);
    }
    const small = records.slice(0, 10);
    expect(chunkRecords(small, () => 4)).toEqual([small]);
  });

  it('places keyless records on the same partitions again when kafkajs retries a send', () => {
    const state = new PartitionerState();
    const partitionMetadata = Array.from({ length: 3 }, (_, i) => ({
      partitionId: i,
      leader: 1,
      partitionErrorCode: 0,
      replicas: [1],
      isr: [1],
    }));
    const records = [
      ...Array.from({ length: 30 }, (_, i) => ({ topic: 't', key: Buffer.from(`k${i}`), value: null })),
      ...Array.from({ length: 6 }, () => ({ topic: 't', key: null, value: null })),
      { topic: 't', partition: 2, key: null, value: null },
    ];
    const placed = records.map((message) => state.partition({ topic: 't', partitionMetadata, message }));
    expect(records.map((message) => state.partition({ topic: 't', partitionMetadata, message }))).toEqual(
      placed,
    );
    expect(placed.slice(0, 30)).toEqual(records.slice(0, 30).map((r) => partitionFor(r.key!, 3)));
    expect(new Set(placed.slice(30, 36)).size).toBe(3);
    expect(placed[36]).toBe(2);
  });
});

describe('KafkajsAdmin.createTopics', () => {
  /**
   * A kafkajs admin as a concurrent start sees it: the topic already exists at the controller (another worker
   * won the race, so kafkajs's createTopics resolves false at once), but the brokers' metadata has not caught up:
   * unknown first, then without a leader, then usable.
   */
  function racingAdmin() {
    const answers: (() => unknown)[] = [
      () => {
        throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true);
      },
      () => ({ topics: [{ name: 't', partitions: [{ partitionId: 0, leader: -1 }] }] }),
      () => ({ topics: [{ name: 't', partitions: [{ partitionId: 0, leader: 1 }] }] }),
    ];
    const calls: string[] = [];
    const admin = {
      listTopics: async () => {
        calls.push('list');
        return [];
      },
      describeCluster: async () => ({ brokers: [{ nodeId: 1 }] }),
      createTopics: async () => {
        calls.push('create');
        return false;
      },
      fetchTopicMetadata: async () => {
        calls.push('metadata');
        return answers.shift()!();
      },
    };
    return { admin, calls };
  }

  it('returns only once every topic has metadata and leaders, also when a concurrent creator won', async () => {
    const { admin, calls } = racingAdmin();
    const wrapped = new KafkajsAdmin(
      {
        logger: silentLogger(),
        knownTopics: new Map(),
        internals: () => {
          throw new Error('not used');
        },
        closed: () => {},
      },
      admin as unknown as Admin,
    );
    await wrapped.createTopics([{ name: 't', partitions: 1 }]);
    expect(calls).toEqual(['list', 'create', 'metadata', 'metadata', 'metadata']);
  });

  it('describeTopics asks again for a topic it created when another broker does not know it yet', async () => {
    const { admin, calls } = racingAdmin();
    const unknown = () => {
      throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true);
    };
    // After the creation's wait: once from a broker that does not know the topic yet, then known.
    const afterCreate: (() => unknown)[] = [
      unknown,
      () => ({ topics: [{ name: 't', partitions: [{ partitionId: 0, leader: 1 }] }] }),
    ];
    let describing = false;
    const fake = {
      ...admin,
      fetchTopicMetadata: async (o: { topics: string[] }) => {
        if (!describing) return admin.fetchTopicMetadata();
        calls.push('metadata');
        if (o.topics.includes('missing')) return unknown();
        return afterCreate.shift()!();
      },
      describeConfigs: async () => ({ resources: [{ resourceName: 't', configEntries: [] }] }),
    };
    const created = new Map<string, number>();
    const wrapped = new KafkajsAdmin(
      {
        logger: silentLogger(),
        knownTopics: new Map(),
        created,
        internals: () => {
          throw new Error('not used');
        },
        closed: () => {},
      },
      fake as unknown as Admin,
    );
    await wrapped.createTopics([{ name: 't', partitions: 1 }]);
    expect([...created.keys()]).toEqual(['t']);
    describing = true;
    const before = calls.length;
    expect(await wrapped.describeTopics(['t'])).toEqual([{ name: 't', partitions: 1, config: {} }]);
    // metadata (unknown), list (which topic is missing), metadata again.
    expect(calls.slice(before)).toEqual(['metadata', 'list', 'metadata']);
    // A topic nobody created here fails at once.
    const started = Date.now();
    await expect(wrapped.describeTopics(['missing'])).rejects.toBeInstanceOf(UnknownTopicError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('KafkajsConsumer.subscribe', () => {
  /** A consumer over a fake kafkajs consumer whose subscribe answers `answers` in turn. */
  function consumerWith(answers: (() => void)[]) {
    let calls = 0;
    const fake = {
      events: {},
      on: () => () => {},
      subscribe: async () => {
        calls++;
        answers.shift()?.();
      },
    };
    const context = {
      kafka: { consumer: () => fake },
      logger: silentLogger(),
    } as unknown as ConsumerContext;
    return { consumer: new KafkajsConsumer(context, { groupId: 'g' }), calls: () => calls };
  }

  it('asks again for a topic the broker does not know yet (just created on another broker)', async () => {
    const unknown = () => {
      throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true);
    };
    const { consumer, calls } = consumerWith([unknown, unknown]);
    await consumer.subscribe(['t']);
    expect(calls()).toBe(3);
  });

  it('fails at once on any other error', async () => {
    const { consumer, calls } = consumerWith([
      () => {
        throw protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false);
      },
    ]);
    await expect(consumer.subscribe(['t'])).rejects.toBeInstanceOf(TransportError);
    expect(calls()).toBe(1);
  });
});

describe('KafkajsTransaction.sendOffsets', () => {
  // A fake kafkajs transaction whose sendOffsets is refused `refusals` times with `type`, then accepted.
  const transactionRefusing = (type: string, code: number, refusals: number) => {
    let calls = 0;
    const txn = {
      sendOffsets: async () => {
        calls++;
        if (calls <= refusals) throw protocolError(type, code, true);
      },
    };
    const producer = {
      fenced: null,
      fail: (error: unknown, operation: string) => mapError(error, { operation }),
    };
    const t = new KafkajsTransaction(producer as unknown as KafkajsProducer, txn as unknown as Transaction);
    return { t, calls: () => calls };
  };

  it('tries again while the coordinator is still ending the previous transaction (CONCURRENT_TRANSACTIONS)', async () => {
    const { t, calls } = transactionRefusing('CONCURRENT_TRANSACTIONS', 51, 3);
    await t.sendOffsets('g', [{ topic: 't', partition: 0, offset: 5 }]);
    expect(calls()).toBe(4);
  });

  it('does not try again after another refusal', async () => {
    const { t, calls } = transactionRefusing('INVALID_TXN_STATE', 48, 1);
    await expect(t.sendOffsets('g', [{ topic: 't', partition: 0, offset: 5 }])).rejects.toBeInstanceOf(
      TransportError,
    );
    expect(calls()).toBe(1);
  });
});
