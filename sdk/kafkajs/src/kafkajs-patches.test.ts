import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.ts';
import {
  abortFilterPatched,
  addPartitionsRefusalPatched,
  cancelRejoin,
  crcPatched,
  filterAbortedMessages,
  groupingPatched,
  groupMessagesPerPartition,
  idleQueuesQuiet,
  originalRecordEncoder,
  parseAddPartitionsToTxn,
  recordEncoderPatched,
  requestRejoin,
  sendPatched,
  staleSeeksDropped,
} from './kafkajs-patches.ts';
import { crc32c } from './crc32c.ts';
import { createSendMessages } from './send-messages.ts';

describe('kafkajs grouping fix', () => {
  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(groupingPatched()).toBe(true);
  });
  it('groups like kafkajs: partition -> messages in send order, and nothing without metadata', () => {
    const messages = Array.from({ length: 10 }, (_, i) => ({ i }));
    const partitioner = ({ message }: { message: unknown }) => (message as { i: number }).i % 3;
    expect(
      groupMessagesPerPartition({ topic: 't', partitionMetadata: [1, 2, 3], messages, partitioner }),
    ).toEqual({
      0: [{ i: 0 }, { i: 3 }, { i: 6 }, { i: 9 }],
      1: [{ i: 1 }, { i: 4 }, { i: 7 }],
      2: [{ i: 2 }, { i: 5 }, { i: 8 }],
    });
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner })).toEqual(
      {},
    );
  });
});

describe('kafkajs aborted-transaction filter fix', () => {
  const msg = (
    offset: number,
    producerId: string,
    opts: { control?: 'abort' | 'commit'; txn?: boolean } = {},
  ) => ({
    offset: String(offset),
    key:
      opts.control === undefined
        ? Buffer.from('k')
        : Buffer.from([0, 0, 0, opts.control === 'abort' ? 0 : 1]),
    isControlRecord: opts.control !== undefined,
    batchContext: { producerId, inTransaction: opts.txn ?? true },
  });
  const kept = (messages: ReturnType<typeof msg>[], aborted: { producerId: string; firstOffset: string }[]) =>
    filterAbortedMessages({ messages, abortedTransactions: aborted })
      .filter((m) => !m.isControlRecord)
      .map((m) => Number(m.offset));

  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(abortFilterPatched()).toBe(true);
  });

  it('hides every aborted transaction that began before the fetch, not only the first one listed', () => {
    // A (producer 1) from offset 0 and B (producer 2) from offset 1 both abort; the fetch starts at offset 3.
    const messages = [
      msg(3, '2'),
      msg(4, '9', { txn: false }),
      msg(5, '1', { control: 'abort' }),
      msg(6, '2', { control: 'abort' }),
      msg(7, '3'),
    ];
    const aborted = [
      { producerId: '1', firstOffset: '0' },
      { producerId: '2', firstOffset: '1' },
    ];
    expect(kept(messages, aborted)).toEqual([4, 7]);
  });

  it('takes aborted transactions in as their first offset is reached and ends them at the ABORT marker', () => {
    const messages = [
      msg(0, '1'), // committed transaction of producer 1
      msg(1, '1', { control: 'commit' }),
      msg(2, '1'), // aborted
      msg(3, '2'), // committed, interleaved
      msg(4, '1', { control: 'abort' }),
      msg(5, '1'), // a later, committed transaction of producer 1
      msg(6, '2', { control: 'commit' }),
      msg(7, '1', { control: 'commit' }),
    ];
    expect(kept(messages, [{ producerId: '1', firstOffset: '2' }])).toEqual([0, 3, 5]);
    expect(kept(messages, [])).toEqual([0, 2, 3, 5]);
  });

  it('never takes a data record for an ABORT marker, whatever its key', () => {
    const messages = [msg(0, '1'), { ...msg(1, '1'), key: Buffer.from([0, 0, 0, 0]) }, msg(2, '1')];
    expect(kept(messages, [{ producerId: '1', firstOffset: '0' }])).toEqual([]);
  });
});

describe('kafkajs re-join request', () => {
  const require = createRequire(import.meta.url);
  type Group = { memberId: string | null; heartbeat(args: unknown): Promise<unknown> };
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as {
    prototype: { heartbeat(args: unknown): Promise<unknown> };
  };
  /** A ConsumerGroup whose real heartbeat would need a coordinator: a stand-in `this` for the patched method. */
  const member = (memberId: string | null): Group => {
    const g = Object.create(ConsumerGroup.prototype) as Group;
    g.memberId = memberId;
    return g;
  };

  it('fails the next heartbeat of that member only, once, with the error given', async () => {
    const error = new Error('re-join');
    requestRejoin('m-1', error);
    // A member with another id goes on to kafkajs's own heartbeat (which fails here without a coordinator).
    await expect(member('m-2').heartbeat({ interval: 0 })).rejects.not.toBe(error);
    await expect(member('m-1').heartbeat({ interval: 0 })).rejects.toBe(error);
    await expect(member('m-1').heartbeat({ interval: 0 })).rejects.not.toBe(error);
  });

  it('is withdrawn by cancelRejoin', async () => {
    const error = new Error('re-join');
    requestRejoin('m-3', error);
    cancelRejoin('m-3');
    await expect(member('m-3').heartbeat({ interval: 0 })).rejects.not.toBe(error);
  });
});

describe('kafkajs seeks queued before a re-join', () => {
  const require = createRequire(import.meta.url);
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as {
    prototype: { joinAndSync(): Promise<void> };
  };
  const SeekOffsets = require('kafkajs/src/consumer/seekOffsets.js') as new () => Map<string, string> & {
    set(topic: string, partition: number, offset: string): void;
  };

  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(staleSeeksDropped()).toBe(true);
  });

  it('are dropped when a join starts, before kafkajs joins', async () => {
    // A stand-in `this`: kafkajs's own join needs a coordinator and fails here, after the seeks were dropped.
    const group = Object.create(ConsumerGroup.prototype) as { seekOffset: Map<string, string> } & {
      joinAndSync(): Promise<void>;
    };
    const seeks = new SeekOffsets();
    seeks.set('t', 0, '1098');
    seeks.set('t', 3, '7');
    group.seekOffset = seeks;
    await Promise.resolve()
      .then(() => group.joinAndSync())
      .catch(() => {});
    expect(seeks.size).toBe(0);
  });
});

describe('kafkajs send retry (fix 6)', () => {
  // Two leaders, partition 0 on node 1 and partition 1 on node 2; node 1 fails its first Produce (a retriable
  // error). `slow`: node 2 answers its first request late (still in flight when node 1 fails). `fresh`: node 1
  // fails late, after node 2 answered, and the pool hands out a new Broker object per lookup (as kafkajs's pool
  // does for a broker it dropped and found again). `leaderless`: the metadata knows no leader of partition 1 for
  // that many attempts (kafkajs's findLeaderForPartitions leaves it out).
  const scenario = async (
    factory: (opts: object) => (args: object) => Promise<unknown>,
    { slow, fresh, leaderless = 0 }: { slow: boolean; fresh: boolean; leaderless?: number },
  ) => {
    let lookups = 0;
    const produced: { node: number; partition: number; firstSequence: number }[] = [];
    const sequences = new Map<number, number>();
    const attempts = new Map<number, number>();
    const broker = (nodeId: number) => ({
      nodeId,
      async produce(request: {
        topicData: { partitions: { partition: number; firstSequence: number }[] }[];
      }) {
        const n = (attempts.get(nodeId) ?? 0) + 1;
        attempts.set(nodeId, n);
        if (nodeId === 1 && n === 1) {
          if (fresh) await new Promise((r) => setTimeout(r, 30));
          throw Object.assign(new Error('not the leader'), {
            name: 'KafkaJSProtocolError',
            retriable: true,
            type: 'NOT_LEADER_OR_FOLLOWER',
          });
        }
        if (slow && nodeId === 2 && n === 1) await new Promise((r) => setTimeout(r, 50));
        for (const p of request.topicData[0]!.partitions)
          produced.push({ node: nodeId, partition: p.partition, firstSequence: p.firstSequence });
        return {
          topics: [
            {
              topicName: 't',
              partitions: request.topicData[0]!.partitions.map((p) => ({
                partition: p.partition,
                errorCode: 0,
              })),
            },
          ],
        };
      },
    });
    const pool = [broker(1), broker(2)];
    const cluster = {
      targetTopics: new Set<string>(),
      refreshMetadataIfNecessary: async () => {},
      refreshMetadata: async () => {},
      findTopicPartitionMetadata: () => [{ partitionId: 0 }, { partitionId: 1 }],
      findLeaderForPartitions: (_t: string, partitions: string[]) => {
        const out: Record<number, number[]> = {};
        const known = lookups++ >= leaderless;
        for (const p of partitions) {
          if (Number(p) === 1 && !known) continue;
          out[Number(p) + 1] = [...(out[Number(p) + 1] ?? []), Number(p)];
        }
        return out;
      },
      findBroker: async ({ nodeId }: { nodeId: string }) => {
        const b = pool[Number(nodeId) - 1]!;
        return fresh ? { nodeId: b.nodeId, produce: b.produce } : b;
      },
      addMultipleTargetTopics: async () => {},
      removeBroker: () => {},
      isConnected: () => true,
      connect: async () => {},
    };
    const eosManager = {
      acquireBrokerLock: async () => {},
      releaseBrokerLock: async () => {},
      isTransactional: () => false,
      addPartitionsToTransaction: async () => {},
      getSequence: (_t: string, p: number) => sequences.get(p) ?? 0,
      updateSequence: (_t: string, p: number, inc: number) => sequences.set(p, (sequences.get(p) ?? 0) + inc),
      getTransactionalId: () => undefined,
      getProducerId: () => 1,
      getProducerEpoch: () => 0,
    };
    const retrier = async <T>(fn: (bail: (e: Error) => void, n: number, t: number) => Promise<T>) => {
      for (let n = 0; ; n++) {
        try {
          return await fn(
            (e) => {
              throw e;
            },
            n,
            0,
          );
        } catch (e) {
          if (n >= 5) throw e;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    };
    const logger = { debug: () => {}, error: () => {}, info: () => {}, warn: () => {} };
    const send = factory({
      logger,
      cluster,
      partitioner: ({ message }: { message: { p: number } }) => message.p,
      eosManager,
      retrier,
    });
    const acks = (await send({
      acks: -1,
      timeout: 1000,
      compression: 0,
      topicMessages: [{ topic: 't', messages: [{ p: 0 }, { p: 0 }, { p: 1 }, { p: 1 }] }],
    }).catch((e: unknown) => e as Error)) as { partition: number }[] | Error;
    await new Promise((r) => setTimeout(r, 100)); // whatever is still in flight lands
    return {
      produced: produced.sort((a, b) => a.partition - b.partition || a.firstSequence - b.firstSequence),
      acked: acks instanceof Error ? acks.message : acks.map((a) => a.partition).sort(),
    };
  };
  const once = {
    produced: [
      { node: 1, partition: 0, firstSequence: 0 },
      { node: 2, partition: 1, firstSequence: 0 },
    ],
    acked: [0, 1],
  };
  const twice = [
    { node: 2, partition: 1, firstSequence: 0 },
    { node: 2, partition: 1, firstSequence: 2 },
  ];
  /** kafkajs's own module, evaluated apart from the module cache (the cached one is ours). */
  const original = () => {
    const dir = dirname(createRequire(import.meta.url).resolve('kafkajs/package.json'));
    const file = join(dir, 'src/producer/sendMessages.js');
    const mod = { exports: {} as unknown };
    new Function('module', 'require', readFileSync(file, 'utf8'))(mod, createRequire(file));
    return mod.exports as never;
  };

  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(sendPatched()).toBe(true);
  });
  it.each([
    ['one leader fails while another is still answering', { slow: true, fresh: false }],
    ['the pool hands out a new object for a broker that answered', { slow: false, fresh: true }],
  ])('sends each partition once when %s', async (_, how) => {
    expect(await scenario(createSendMessages as never, how)).toEqual(once);
  });
  it('sends a partition whose leader was unknown in a later attempt, and fails rather than resolve without it', async () => {
    expect(await scenario(createSendMessages as never, { slow: false, fresh: false, leaderless: 3 })).toEqual(
      once,
    );
    const never = await scenario(createSendMessages as never, { slow: false, fresh: false, leaderless: 99 });
    expect(never.produced.map((p) => p.partition)).toEqual([0]);
    expect(never.acked).toMatch(/no leader known for t\[1\]/);
    // kafkajs's own send resolves without partition 1 (what producer.ts once checked for after every send).
    const theirs = await scenario(original(), { slow: false, fresh: false, leaderless: 99 });
    expect(theirs.acked).toEqual([0]);
  });
  it.each([
    ['one leader fails while another is still answering', { slow: true, fresh: false }],
    ['the pool hands out a new object for a broker that answered', { slow: false, fresh: true }],
  ])("kafkajs's own send writes a partition twice when %s (the defect)", async (_, how) => {
    const { produced } = await scenario(original(), how);
    expect(produced.filter((p) => p.partition === 1)).toEqual(twice);
  });
});

describe('kafkajs AddPartitionsToTxn refusal fix', () => {
  const require = createRequire(import.meta.url);
  const definition = require('kafkajs/src/protocol/requests/addPartitionsToTxn/index.js') as {
    protocol(args: {
      version: number;
    }): (args: unknown) => { response: { parse(d: unknown): Promise<unknown> } };
  };
  // The broker refused topic 'b' (TOPIC_AUTHORIZATION_FAILED, 29) and did not attempt 'a' (55), listed first.
  const answer = {
    throttleTime: 0,
    errors: [
      { topic: 'a', partitionErrors: [{ partition: 0, errorCode: 55 }] },
      {
        topic: 'b',
        partitionErrors: [
          { partition: 1, errorCode: 0 },
          { partition: 2, errorCode: 29 },
        ],
      },
    ],
  };

  it('is active once @dirigo/kafkajs is loaded, for both versions kafkajs speaks', async () => {
    expect(addPartitionsRefusalPatched()).toBe(true);
    for (const version of [0, 1]) {
      const { response } = definition.protocol({ version })({
        transactionalId: 't',
        producerId: 1,
        producerEpoch: 0,
        topics: [],
      });
      await expect(response.parse(answer)).rejects.toMatchObject({
        type: 'TOPIC_AUTHORIZATION_FAILED',
        topic: 'b',
        partition: 2,
      });
    }
  });

  it('throws the refusal, not the partitions the broker did not attempt; passes a clean answer through', async () => {
    // kafkajs's own parse throws the first partition error of the answer.
    const original = async (d: typeof answer) => {
      for (const t of d.errors) {
        for (const p of t.partitionErrors)
          if (p.errorCode !== 0) throw Object.assign(new Error(String(p.errorCode)), { code: p.errorCode });
      }
      return d;
    };
    await expect(original(answer)).rejects.toMatchObject({ code: 55 });
    await expect(parseAddPartitionsToTxn(answer, original as never)).rejects.toMatchObject({
      code: 29,
      topic: 'b',
      partition: 2,
    });
    const clean = {
      throttleTime: 0,
      errors: [{ topic: 'a', partitionErrors: [{ partition: 0, errorCode: 0 }] }],
    };
    await expect(parseAddPartitionsToTxn(clean, original as never)).resolves.toBe(clean);
    // Only not-attempted partitions (no refusal in the answer): kafkajs's own error.
    const only55 = { throttleTime: 0, errors: [answer.errors[0]!] };
    await expect(parseAddPartitionsToTxn(only55, original as never)).rejects.toMatchObject({ code: 55 });
  });
});

describe('kafkajs request queue fix (fix 9)', () => {
  const require = createRequire(import.meta.url);
  type Queue = {
    throttledUntil: number;
    throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
    pending: unknown[];
    checkPendingRequests(): void;
    destroy(): void;
  };
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: object) => Queue;
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const queue = () =>
    new RequestQueue({
      maxInFlightRequests: 1,
      requestTimeout: 30_000,
      enforceRequestTimeout: false,
      clientId: 'fix-9',
      broker: 'localhost:0',
      logger: quiet,
    });

  it('an idle queue schedules no check: kafkajs polled every millisecond for ever, with a negative timeout', () => {
    expect(idleQueuesQuiet()).toBe(true);
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const q = queue();
      q.checkPendingRequests();
      expect(q.throttleCheckTimeoutId).toBeNull();
      q.destroy();
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('TimeoutNegativeWarning');
  });

  it('a pending request is checked again, at the end of a throttle or after 10 ms', async () => {
    const q = queue();
    let checks = 0;
    const check = q.checkPendingRequests.bind(q);
    q.checkPendingRequests = () => {
      checks++;
      q.pending.length = 0;
      check();
    };
    q.pending.push({});
    q.checkPendingRequests.call(q);
    // The first call (ours, above) empties the queue: nothing scheduled after it.
    expect(checks).toBe(1);
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.pending.push({});
    q.throttledUntil = Date.now() + 30;
    (q as unknown as { scheduleCheckPendingRequests(): void }).scheduleCheckPendingRequests();
    expect(q.throttleCheckTimeoutId).not.toBeNull();
    await new Promise((r) => setTimeout(r, 80));
    expect(checks).toBe(2);
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.destroy();
  });
});

describe('kafkajs record encoder (fix 10)', () => {
  const req = createRequire(import.meta.url);
  type Encode = (args: Record<string, unknown>) => { buffer: Buffer };
  const ours = () => req('kafkajs/src/protocol/recordBatch/record/v0/index.js') as Encode;
  const theirs = () => originalRecordEncoder() as unknown as Encode;
  const Long = req('kafkajs/src/utils/long.js') as { fromNumber(n: number): unknown };

  it('is what kafkajs Produce requests use once @dirigo/kafkajs is loaded', () => {
    expect(recordEncoderPatched()).toBe(true);
    expect(ours()).not.toBe(theirs());
  });

  it("writes kafkajs's bytes for keys, values and headers of every size, and leaves the rest to kafkajs", () => {
    let seed = 11;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    const bytes = (max: number) => Buffer.from(Array.from({ length: rand(max) }, () => rand(256)));
    const sizes = [0, 1, 63, 64, 127, 128, 8191, 8192, 70_000];
    for (let n = 0; n < 3000; n++) {
      const headers: Record<string, Buffer | Buffer[]> = {};
      for (let h = rand(5); h > 0; h--) {
        const name = rand(4) === 0 ? `né-${rand(100)}` : `dirigo-${rand(1000)}`;
        headers[name] = rand(5) === 0 ? [bytes(20), bytes(3)] : bytes(rand(3) === 0 ? 300 : 20);
      }
      const args = {
        offsetDelta: rand(3) === 0 ? rand(100_000) : rand(100),
        timestampDelta: rand(4) === 0 ? -rand(2 ** 20) : rand(3) === 0 ? rand(2 ** 31) * 512 : rand(1000),
        key: rand(6) === 0 ? null : bytes(rand(4) === 0 ? 200 : 12),
        value: rand(8) === 0 ? null : Buffer.alloc(sizes[rand(sizes.length)]!, rand(256)),
        headers,
      };
      expect(ours()(args).buffer.equals(theirs()(args).buffer)).toBe(true);
    }
    // What the fast path leaves to kafkajs: text keys and values, a Long delta, header values that are text.
    const others = [
      { key: 'text', value: 'value', timestampDelta: 5, offsetDelta: 1 },
      { key: Buffer.from('k'), value: Buffer.from('v'), timestampDelta: Long.fromNumber(7), offsetDelta: 2 },
      { key: null, value: Buffer.from('v'), headers: { a: 'text', b: ['x', Buffer.from('y')] } },
      {},
    ];
    for (const args of others) expect(ours()(args).buffer.equals(theirs()(args).buffer)).toBe(true);
    // kafkajs throws on a null header value; so does the patched encoder (kafkajs's own, called for it).
    const bad = { key: null, value: null, headers: { a: null } };
    expect(() => theirs()(bad)).toThrow();
    expect(() => ours()(bad)).toThrow();
  });

  it("writes kafkajs's bytes for records sharing frozen header objects, each encoded once and reused", () => {
    let seed = 5;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rand(256)));
    const shared = [
      Object.freeze({}),
      Object.freeze({ 'dirigo-ingest': Buffer.from('1700000000000') }),
      Object.freeze({
        'dirigo-ingest': Buffer.from('1700000000000'),
        'dirigo-deadline': Buffer.from('1700000000500'),
        'dirigo-priority': Buffer.from('normal'),
        'né-long': bytes(300),
        empty: Buffer.alloc(0),
      }),
      Object.freeze({ many: [bytes(4), bytes(0)], one: bytes(9) }),
      // Not all Buffers: kafkajs's own encoder, every time.
      Object.freeze({ text: 'value' }),
    ];
    for (let n = 0; n < 600; n++) {
      const args = {
        offsetDelta: rand(100),
        timestampDelta: rand(1000),
        key: rand(5) === 0 ? null : bytes(rand(20)),
        value: bytes(rand(200)),
        headers: shared[rand(shared.length)]!,
      };
      // Twice: the second time from the kept block.
      expect(ours()(args).buffer.equals(theirs()(args).buffer)).toBe(true);
      expect(ours()(args).buffer.equals(theirs()(args).buffer)).toBe(true);
    }
    // An unfrozen object is read on every send: a header changed between two sends is written as it is now.
    const open: Record<string, Buffer> = { a: Buffer.from('1') };
    const first = ours()({ key: null, value: null, headers: open }).buffer;
    open.a = Buffer.from('22');
    const second = ours()({ key: null, value: null, headers: open }).buffer;
    expect(second.equals(first)).toBe(false);
    expect(second.equals(theirs()({ key: null, value: null, headers: open }).buffer)).toBe(true);
    // A frozen one is encoded once: its block is what the first send saw (why its Buffers must not change).
    const value = Buffer.from('abc');
    const sealed = Object.freeze({ a: value });
    const before = ours()({ key: null, value: null, headers: sealed }).buffer;
    value.write('xyz');
    expect(ours()({ key: null, value: null, headers: sealed }).buffer.equals(before)).toBe(true);
    expect(theirs()({ key: null, value: null, headers: sealed }).buffer.equals(before)).toBe(false);
  });
});

describe('kafkajs CRC-32C (fix 11)', () => {
  it("is what kafkajs record batches use, and gives kafkajs's one-byte-per-step value for every length", () => {
    expect(crcPatched()).toBe(true);
    // kafkajs's algorithm: one byte per step over the reflected Castagnoli table.
    const T = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      let c = b;
      for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      T[b] = c;
    }
    const bytewise = (buf: Buffer) => {
      let crc = -1;
      for (let i = 0; i < buf.length; i++) crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
      return (crc ^ -1) >>> 0;
    };
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283); // the standard check value
    let seed = 3;
    for (let n = 0; n < 600; n++) {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        b[i] = seed & 0xff;
      }
      expect(crc32c(b)).toBe(bytewise(b));
    }
  });
});
