// Memory-specific tests of MemoryKafka beyond the contract: transaction markers and timeouts, readToEnd waiting
// for open transactions, several transports on one cluster, commit rejection after revocation, concurrency,
// close(), the assignors, and a 100k-record run.
import { FencedError, PartitionsRevokedError, type RecordBatch, type TopicPartition } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../wait.ts';
import { assign } from './assignors.ts';
import { MemoryKafka, type MemoryKafkaOptions } from './kafka.ts';
import { MemoryTransport } from './transport.ts';

const b = (s: string): Buffer => Buffer.from(s);
const clusters: MemoryKafka[] = [];
async function setup(partitions = 1, options?: MemoryKafkaOptions) {
  const kafka = new MemoryKafka(options);
  clusters.push(kafka);
  const transport = new MemoryTransport(kafka);
  await (await transport.admin()).createTopics([{ name: 't', partitions }]);
  return { kafka, transport };
}
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((k) => k.close()));
});

describe('MemoryKafka transactions', () => {
  it('writes a marker per partition on commit: the high watermark is one past the last record', async () => {
    const { transport } = await setup();
    const p = transport.producer({ transactionalId: 'x' });
    await p.connect();
    const tx = await p.beginTransaction();
    await tx.send([{ topic: 't', key: null, value: b('a') }]);
    await tx.commit();
    const admin = await transport.admin();
    expect(await admin.fetchTopicOffsets('t')).toEqual([{ partition: 0, low: 0, high: 2 }]);
    const plain = transport.producer();
    await plain.connect();
    await plain.send([{ topic: 't', key: null, value: b('b') }]);
    const offsets: number[] = [];
    await transport.readToEnd([{ topic: 't', partition: 0, fromOffset: 0 }], (rs) => {
      offsets.push(...rs.map((r) => r.offset));
    });
    expect(offsets).toEqual([0, 2]);
  });

  it('readToEnd waits for an open transaction below its start watermark', async () => {
    const { transport } = await setup();
    const p = transport.producer({ transactionalId: 'x' });
    await p.connect();
    const tx = await p.beginTransaction();
    await tx.send([{ topic: 't', key: null, value: b('a') }]);
    let done = false;
    const reading = transport.readToEnd([{ topic: 't', partition: 0, fromOffset: 0 }], () => undefined);
    void reading.then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    await tx.commit();
    expect(await reading).toEqual([{ topic: 't', partition: 0, offset: 1 }]);
  });

  it('aborts a transaction after its timeout and on fencing; a fenced producer stays fenced', async () => {
    const { transport } = await setup();
    const p = transport.producer({ transactionalId: 'x', transactionTimeoutMs: 20 });
    await p.connect();
    const tx = await p.beginTransaction();
    await tx.send([{ topic: 't', key: null, value: b('late') }]);
    // readToEnd waits for the open transaction, which the broker aborts after 20 ms.
    const read: string[] = [];
    await transport.readToEnd([{ topic: 't', partition: 0, fromOffset: 0 }], (rs) => {
      read.push(...rs.map((r) => String(r.value)));
    });
    expect(read).toEqual([]);
    await expect(tx.commit()).rejects.toThrow(/timed out/);
    const tx2 = await p.beginTransaction();
    await tx2.send([{ topic: 't', key: null, value: b('zombie') }]);
    const successor = transport.producer({ transactionalId: 'x' });
    await successor.connect();
    const values: string[] = [];
    await transport.readToEnd([{ topic: 't', partition: 0, fromOffset: 0 }], (rs) => {
      values.push(...rs.map((r) => String(r.value)));
    });
    expect(values).toEqual([]);
    await expect(tx2.send([])).rejects.toBeInstanceOf(FencedError);
    await expect(p.send([])).rejects.toBeInstanceOf(FencedError);
  });
});

describe('MemoryKafka groups', () => {
  it('lets transports sharing a cluster split a group; closing one moves its partitions', async () => {
    const { kafka, transport: one } = await setup(4);
    const two = new MemoryTransport(kafka);
    const start = async (t: MemoryTransport) => {
      const c = t.consumer({ groupId: 'g' });
      await c.connect();
      await c.subscribe(['t']);
      await c.run({ eachBatch: async () => {} });
      return c;
    };
    const c1 = await start(one);
    const c2 = await start(two);
    await waitFor(() => c1.assignment().length === 2 && c2.assignment().length === 2);
    expect(c1.assignment()).toEqual([
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ]); // range: the first member gets the first half
    await two.close();
    await waitFor(() => c1.assignment().length === 4);
  });

  it('accepts commits inside onRevoked and rejects them after it returned', async () => {
    const { transport } = await setup(2);
    const revokedCommits: string[] = [];
    const c1 = transport.consumer({ groupId: 'g' });
    await c1.connect();
    await c1.subscribe(['t']);
    await c1.run({
      eachBatch: async () => {},
      onRevoked: async (tps) => {
        await c1.commitOffsets(tps.map((tp) => ({ ...tp, offset: 0 })));
        revokedCommits.push('ok');
      },
    });
    await waitFor(() => c1.assignment().length === 2);
    const c2 = transport.consumer({ groupId: 'g' });
    await c2.connect();
    await c2.subscribe(['t']);
    await c2.run({ eachBatch: async () => {} });
    await waitFor(() => c2.assignment().length === 1 && c1.assignment().length === 1);
    expect(revokedCommits).toEqual(['ok']);
    const lost = c2.assignment()[0]!;
    await expect(c1.commitOffsets([{ ...lost, offset: 1 }])).rejects.toBeInstanceOf(PartitionsRevokedError);
  });

  it('delivers up to `concurrency` partitions at a time, one batch per partition', async () => {
    for (const concurrency of [1, 3]) {
      const { transport } = await setup(3);
      const p = transport.producer();
      await p.connect();
      await p.send(
        [0, 1, 2, 0, 1, 2].map((partition) => ({ topic: 't', partition, key: null, value: b('v') })),
      );
      const inFlight = new Set<number>();
      let max = 0;
      let samePartitionTwice = false;
      let delivered = 0;
      const c = transport.consumer({ groupId: 'g', concurrency });
      await c.connect();
      await c.subscribe(['t']);
      await c.run({
        eachBatch: async (batch: RecordBatch) => {
          if (inFlight.has(batch.partition)) samePartitionTwice = true;
          inFlight.add(batch.partition);
          max = Math.max(max, inFlight.size);
          await new Promise((r) => setTimeout(r, 5));
          inFlight.delete(batch.partition);
          delivered += batch.records.length;
        },
      });
      await waitFor(() => delivered === 6);
      expect(max).toBe(concurrency);
      expect(samePartitionTwice).toBe(false);
      await c.disconnect();
    }
  });

  it('close() stops every consumer loop and rejects further calls', async () => {
    const { kafka, transport } = await setup();
    const c = transport.consumer({ groupId: 'g' });
    const revoked: TopicPartition[][] = [];
    await c.connect();
    await c.subscribe(['t']);
    await c.run({ eachBatch: async () => {}, onRevoked: (tps) => void revoked.push([...tps]) });
    await waitFor(() => c.assignment().length === 1);
    await kafka.close();
    expect(revoked).toEqual([[{ topic: 't', partition: 0 }]]);
    await expect(transport.admin()).rejects.toThrow(/closed/);
    await expect(c.commitOffsets([])).rejects.toThrow(/closed/);
  });

  it('assigns with range (co-partitioned) or round-robin', () => {
    const members = [
      { seq: 2, topics: ['a', 'b'] },
      { seq: 1, topics: ['a', 'b'] },
    ];
    const partitions = (t: string) => (t === 'a' ? 3 : 2);
    const names = (m: Map<number, TopicPartition[]>, seq: number) =>
      m.get(seq)!.map((tp) => `${tp.topic}${tp.partition}`);
    const range = assign('range', members, partitions);
    expect(names(range, 1)).toEqual(['a0', 'a1', 'b0']);
    expect(names(range, 2)).toEqual(['a2', 'b1']);
    const rr = assign('roundRobin', members, partitions);
    expect(names(rr, 1)).toEqual(['a0', 'a2', 'b1']);
    expect(names(rr, 2)).toEqual(['a1', 'b0']);
  });
});

describe('MemoryKafka at scale', () => {
  it('moves 100k records through a group consumer in batches of at most 500', async () => {
    const { transport } = await setup(4);
    const p = transport.producer();
    await p.connect();
    const total = 100_000;
    for (let i = 0; i < total; i += 1000) {
      await p.send(
        Array.from({ length: 1000 }, (_, k) => ({ topic: 't', key: b(`k${i + k}`), value: b('v') })),
      );
    }
    let count = 0;
    let largest = 0;
    const c = transport.consumer({ groupId: 'g' });
    await c.connect();
    await c.subscribe(['t']);
    await c.run({
      eachBatch: async (batch) => {
        count += batch.records.length;
        largest = Math.max(largest, batch.records.length);
        await c.commitOffsets([
          { topic: 't', partition: batch.partition, offset: batch.records.at(-1)!.offset + 1 },
        ]);
      },
    });
    await waitFor(() => count === total, 10_000);
    expect(largest).toBe(500);
    const committed = await (await transport.admin()).fetchCommittedOffsets('g', 't');
    const highs = await (await transport.admin()).fetchTopicOffsets('t');
    expect(committed.map((o) => o.offset)).toEqual(highs.map((o) => o.high));
  });
});
