// kafkajs-specific behaviour the contract suite does not reach, on a real broker (KAFKA_BROKERS; fails without):
// - compacted segments ending with record batches emptied by compaction (kafkajs issue #1072): readToEnd and
//   group consumers must step over them instead of re-fetching forever;
// - readToEnd on a transactional, compacted topic (markers, aborted transactions, tombstones, real compaction);
// - rebalance callback ordering under load: no batch while onRevoked/onAssigned run, none for unowned
//   partitions;
// - a long eachBatch keeps the member in the group (heartbeats while the owner works);
// - a fenced zombie's sends reject with FencedError.
import { randomBytes } from 'node:crypto';
import {
  type Consumer,
  createLogger,
  FencedError,
  type IncomingRecord,
  type OutgoingRecord,
  PartitionsRevokedError,
  type TopicPartition,
  type TopicSpec,
} from '@dirigo/core';
import kafkajs from 'kafkajs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { KafkajsTransport, type KafkajsTransportOptions } from './index.ts';
import { KafkajsInternals } from './internals.ts';

const brokers = process.env.KAFKA_BROKERS ?? inject('kafkaBrokers');
if (brokers === undefined || brokers.trim() === '') {
  throw new Error(
    'KAFKA_BROKERS is not set: these tests need a real broker (see kafkajs-transport.test.ts).',
  );
}

const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'silent' });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const name = (prefix: string) =>
  `dirigo-kjs-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const buf = (s: string) => Buffer.from(s);
const str = (b: Buffer | null) => (b === null ? null : b.toString());

const transports: KafkajsTransport[] = [];
const topics: string[] = [];
function transport(options: Partial<KafkajsTransportOptions> = {}): KafkajsTransport {
  const t = new KafkajsTransport({ brokers: brokers!, logger, ...options });
  transports.push(t);
  return t;
}
afterEach(async () => {
  const admin = await transport().admin();
  await admin.deleteTopics(topics.splice(0)).catch(() => undefined);
  await admin.close();
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

/** Topic configs that make the cleaner compact almost at once (segments roll after 100 ms on the next append). */
const FAST_COMPACTION = {
  'segment.bytes': String(1024 * 1024),
  'segment.ms': '100',
  'min.cleanable.dirty.ratio': '0.001',
  'min.compaction.lag.ms': '0',
  'delete.retention.ms': '0',
};

async function createTopic(prefix: string, spec: Omit<TopicSpec, 'name'>): Promise<string> {
  const topic = name(prefix);
  topics.push(topic);
  const admin = await transport().admin();
  await admin.createTopics([{ ...spec, name: topic }]);
  await admin.close();
  return topic;
}

async function readAll(t: KafkajsTransport, topic: string, partitions: number): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  await t.readToEnd(
    Array.from({ length: partitions }, (_, partition) => ({ topic, partition, fromOffset: 0 })),
    (rs) => {
      records.push(...rs);
    },
  );
  return records;
}

describe('kafkajs transport edge cases', () => {
  it('steps over a segment that ends with record batches emptied by compaction (kafkajs #1072)', async () => {
    const t = transport({ stuckPartitionCheckMs: 500 });
    const topic = await createTopic('emptied', { partitions: 1, compacted: true, config: FAST_COMPACTION });
    const big = Buffer.alloc(10_000, 7);
    // Every send comes from a new idempotent producer (a new producer id), as after worker restarts.
    const send = async (records: { key: string; value: Buffer | null }[]) => {
      const p = t.producer();
      await p.connect();
      await p.send(records.map((r) => ({ topic, partition: 0, key: buf(r.key), value: r.value })));
      await p.disconnect();
    };
    // Segment 1: 60 records (~600 kB), then producer P1's only batch: k=v1 at offset 60.
    for (let i = 0; i < 3; i++)
      await send(Array.from({ length: 20 }, (_, j) => ({ key: `a${i}-${j}`, value: big })));
    await send([{ key: 'k', value: buf('v1') }]);
    await sleep(300);
    // Segment 2 (rolled by segment.ms): k=v2 supersedes offset 60, then 60 more records (~600 kB: the two
    // segments are too big to be merged by the cleaner). Segment 3: one record.
    await send([{ key: 'k', value: buf('v2') }]);
    for (let i = 0; i < 3; i++)
      await send(Array.from({ length: 20 }, (_, j) => ({ key: `b${i}-${j}`, value: big })));
    await sleep(300);
    await send([{ key: 'z', value: buf('z') }]);

    // Wait until the cleaner has emptied P1's batch (kept, empty, as P1's last batch): segment 1 now ends with
    // a batch without records, which kafkajs alone would re-fetch forever.
    const probe = new KafkajsInternals(
      new kafkajs.Kafka({ brokers: brokers!.split(','), logLevel: kafkajs.logLevel.NOTHING }),
    );
    try {
      await waitFor(
        async () => {
          const result = await probe.probe(topic, 0, 60);
          return result.batches[0]?.baseOffset === 60 && result.batches[0].recordCount === 0;
        },
        60_000,
        'the cleaner did not empty the batch at offset 60',
      );
    } finally {
      await probe.close();
    }

    const started = Date.now();
    const records = await readAll(t, topic, 1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(records).toHaveLength(122);
    expect(records.find((r) => str(r.key) === 'k')).toMatchObject({ offset: 61, value: buf('v2') });
    expect(records.at(-1)!.offset).toBe(122);

    // A group consumer gets past it as well (the stuck-partition check moves it).
    const c = t.consumer({ groupId: name('group'), maxWaitMs: 100 });
    const consumed: IncomingRecord[] = [];
    await c.connect();
    await c.subscribe([topic]);
    await c.run({
      eachBatch: async (b) => {
        consumed.push(...b.records);
      },
    });
    await waitFor(
      () => consumed.length >= 122,
      20_000,
      'the group consumer did not get past the emptied batch',
    );
    expect(consumed.map((r) => r.offset)).toEqual(records.map((r) => r.offset));
    await c.disconnect();
  }, 120_000);

  it('readToEnd restores the committed state of a transactional, compacted topic', async () => {
    const t = transport();
    const topic = await createTopic('tx-compacted', {
      partitions: 2,
      compacted: true,
      config: FAST_COMPACTION,
    });
    const p = t.producer({ transactionalId: name('tx') });
    await p.connect();
    const expected = new Map<string, string>();
    const write = async (round: number, commit: boolean) => {
      const tx = await p.beginTransaction();
      const batch: OutgoingRecord[] = [];
      for (let k = 0; k < 12; k++) {
        const tombstone = commit && round === 4 && k % 5 === 0;
        const value = tombstone ? null : buf(`${commit ? 'v' : 'aborted'}${round}-${k}`);
        batch.push({ topic, key: buf(`k${k}`), value });
        if (commit) {
          if (tombstone) expected.delete(`k${k}`);
          else expected.set(`k${k}`, `v${round}-${k}`);
        }
      }
      await tx.send(batch);
      if (commit) await tx.commit();
      else await tx.abort();
    };
    for (let round = 0; round < 5; round++) {
      await write(round, true);
      if (round % 2 === 1) await write(round, false);
    }
    const state = (records: IncomingRecord[]) => {
      const s = new Map<string, string>();
      for (const r of records) {
        if (r.value === null) s.delete(str(r.key)!);
        else s.set(str(r.key)!, str(r.value)!);
      }
      return s;
    };
    const before = await readAll(t, topic, 2);
    expect(state(before)).toEqual(expected);
    expect(before.some((r) => str(r.value)?.startsWith('aborted'))).toBe(false);

    // Roll the segments with a committed transaction (its key is deleted again at once), then compact.
    await sleep(300);
    const roll = await p.beginTransaction();
    await roll.send([0, 1].map((partition) => ({ topic, partition, key: buf('__roll'), value: null })));
    await roll.commit();
    await waitFor(
      async () => (await readAll(t, topic, 2)).length < before.length,
      60_000,
      'the topic was not compacted',
    );
    const after = await readAll(t, topic, 2);
    expect(state(after)).toEqual(expected);
    const admin = await t.admin();
    const ends = await t.readToEnd(
      [0, 1].map((partition) => ({ topic, partition, fromOffset: 0 })),
      () => undefined,
    );
    const highs = await admin.fetchTopicOffsets(topic);
    expect(ends.map((e) => e.offset)).toEqual(highs.map((h) => h.high));
    // The last visible record sits below high - 1 (commit markers follow it), and reading still ends.
    for (const h of highs) {
      const last = after.filter((r) => r.partition === h.partition).at(-1)!.offset;
      expect(last).toBeLessThan(h.high - 1);
    }
    await admin.close();
  }, 120_000);

  it('never delivers a batch while onRevoked/onAssigned run, nor for partitions not owned', async () => {
    const t = transport();
    const topic = await createTopic('rebalance', { partitions: 4 });
    const groupId = name('group');
    const producer = t.producer();
    await producer.connect();
    let sent = 0;
    let producing = true;
    const production = (async () => {
      while (producing) {
        const batch: OutgoingRecord[] = [];
        for (let i = 0; i < 8; i++) batch.push({ topic, key: buf(`k${sent}`), value: buf(`${sent++}`) });
        await producer.send(batch);
        await sleep(20);
      }
    })();

    const seen = new Set<string>();
    const member = (label: string) => {
      const violations: string[] = [];
      const revocations: TopicPartition[][] = [];
      let owned = new Set<string>();
      let inCallback = false;
      let delivering = 0;
      let consumer: Consumer;
      const handlers = {
        onAssigned: async (ps: readonly TopicPartition[]) => {
          if (delivering > 0) violations.push(`${label}: onAssigned while a batch is delivered`);
          inCallback = true;
          owned = new Set(ps.map((p) => `${p.partition}`));
          await sleep(200);
          inCallback = false;
        },
        onRevoked: async (ps: readonly TopicPartition[]) => {
          if (delivering > 0) violations.push(`${label}: onRevoked while a batch is delivered`);
          revocations.push([...ps]);
          inCallback = true;
          await sleep(300);
          owned = new Set();
          inCallback = false;
        },
        eachBatch: async (b: { partition: number; records: readonly IncomingRecord[] }) => {
          if (inCallback) violations.push(`${label}: batch during a rebalance callback`);
          if (!owned.has(`${b.partition}`))
            violations.push(`${label}: batch of unowned partition ${b.partition}`);
          delivering++;
          await sleep(30);
          delivering--;
          for (const r of b.records) seen.add(str(r.value)!);
          try {
            await consumer.commitOffsets([
              { topic, partition: b.partition, offset: b.records.at(-1)!.offset + 1 },
            ]);
          } catch (error) {
            if (!(error instanceof PartitionsRevokedError)) throw error;
          }
        },
      };
      return {
        violations,
        revocations,
        start: async () => {
          consumer = t.consumer({
            groupId,
            sessionTimeoutMs: 10_000,
            heartbeatIntervalMs: 500,
            maxWaitMs: 100,
          });
          await consumer.connect();
          await consumer.subscribe([topic]);
          await consumer.run(handlers);
          return consumer;
        },
      };
    };

    const a = member('A');
    const b = member('B');
    const ca = await a.start();
    await waitFor(() => ca.assignment().length === 4, 30_000, 'A not assigned');
    await sleep(500);
    const cb = await b.start();
    await waitFor(
      () =>
        ca.assignment().length > 0 &&
        cb.assignment().length > 0 &&
        ca.assignment().length + cb.assignment().length === 4,
      30_000,
      'partitions not split',
    );
    await sleep(1_000);
    await cb.disconnect();
    await waitFor(() => ca.assignment().length === 4, 30_000, 'A did not get everything back');
    producing = false;
    await production;
    await waitFor(() => seen.size === sent, 30_000, `not every record was consumed (${seen.size}/${sent})`);
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
    expect(a.revocations.length).toBeGreaterThanOrEqual(2);
    expect(b.revocations.length).toBeGreaterThanOrEqual(1);
    await ca.disconnect();
  }, 120_000);

  it('keeps the member in the group during an eachBatch longer than the session timeout', async () => {
    const t = transport();
    const topic = await createTopic('long-batch', { partitions: 1 });
    const c = t.consumer({ groupId: name('group'), sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 });
    const revoked: TopicPartition[][] = [];
    const values: string[] = [];
    await c.connect();
    await c.subscribe([topic]);
    await c.run({
      onRevoked: (ps) => {
        revoked.push([...ps]);
      },
      eachBatch: async (b) => {
        if (values.length === 0) await sleep(9_000);
        for (const r of b.records) values.push(str(r.value)!);
        await c.commitOffsets([{ topic, partition: 0, offset: b.records.at(-1)!.offset + 1 }]);
      },
    });
    await waitFor(() => c.assignment().length === 1, 30_000, 'not assigned');
    const p = t.producer();
    await p.connect();
    await p.send([{ topic, key: null, value: buf('first') }]);
    await sleep(200);
    await p.send([{ topic, key: null, value: buf('second') }]);
    await waitFor(() => values.includes('second'), 30_000, 'second record not consumed');
    expect(revoked).toEqual([]);
    expect(values).toEqual(['first', 'second']);
    await c.disconnect();
  }, 60_000);

  it('delivers a partition again when a rebalance hands it back during its re-delivery backoff', async () => {
    // A rejected batch pauses its partition for a backoff. A rebalance that starts meanwhile revokes everything;
    // when the partition comes back, it must be delivered again (it used to stay paused in kafkajs for good:
    // the backoff timer was dropped with the revocation, and kafkajs keeps pauses across a re-join).
    const t = transport({ redeliveryBackoffMs: 120_000 });
    const topic = await createTopic('backoff-rebalance', { partitions: 2 });
    const groupId = name('group');
    const p = t.producer();
    await p.connect();
    await p.send([
      { topic, partition: 0, key: null, value: buf('p0') },
      { topic, partition: 1, key: null, value: buf('p1') },
    ]);
    const values: string[] = [];
    let rejected = 0;
    const a = t.consumer({ groupId, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, maxWaitMs: 100 });
    await a.connect();
    await a.subscribe([topic]);
    await a.run({
      eachBatch: async (b) => {
        if (b.partition === 0 && rejected === 0) {
          rejected++;
          throw new Error('first batch of partition 0 fails');
        }
        for (const r of b.records) values.push(str(r.value)!);
        await a.commitOffsets([{ topic, partition: b.partition, offset: b.records.at(-1)!.offset + 1 }]);
      },
    });
    await waitFor(() => rejected === 1 && values.includes('p1'), 30_000, 'partition 0 not rejected once');
    await sleep(500); // partition 0 is now paused for its (long) backoff
    const b = t.consumer({ groupId, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, maxWaitMs: 100 });
    await b.connect();
    await b.subscribe([topic]);
    await b.run({ eachBatch: async () => {} });
    await waitFor(() => b.assignment().length > 0, 30_000, 'second member not assigned');
    await b.disconnect();
    await waitFor(() => a.assignment().length === 2, 30_000, 'partitions not handed back');
    await waitFor(() => values.includes('p0'), 20_000, 'partition 0 never delivered after the rebalance');
    expect(values.filter((v) => v === 'p0')).toEqual(['p0']);
  }, 120_000);

  it('rejects sends of a fenced zombie with FencedError', async () => {
    const t = transport();
    const topic = await createTopic('zombie', { partitions: 1 });
    const transactionalId = name('tx');
    const zombie = t.producer({ transactionalId });
    await zombie.connect();
    const tx = await zombie.beginTransaction();
    await tx.send([{ topic, key: null, value: buf('zombie-1') }]);
    const successor = t.producer({ transactionalId });
    await successor.connect();
    await expect(tx.send([{ topic, key: null, value: buf('zombie-2') }])).rejects.toBeInstanceOf(FencedError);
    await expect(tx.commit()).rejects.toBeInstanceOf(FencedError);
    const next = await successor.beginTransaction();
    await next.send([{ topic, key: null, value: buf('successor') }]);
    await next.sendOffsets(name('group'), [{ topic, partition: 0, offset: 1 }]);
    await next.commit();
    expect((await readAll(t, topic, 1)).map((r) => str(r.value))).toEqual(['successor']);
  }, 60_000);
});
