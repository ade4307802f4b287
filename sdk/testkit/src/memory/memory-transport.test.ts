// Runs the transport contract suite against MemoryTransport, plus memory-specific tests: compaction with offset
// gaps, deterministic and asynchronous delivery, the injected clock.
import type { IncomingRecord, RecordBatch } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { transportContract } from '../contract/transport-contract.ts';
import { waitFor } from '../wait.ts';
import { MemoryKafka, type MemoryKafkaOptions } from './kafka.ts';
import { MemoryTransport } from './transport.ts';

let contractCluster: MemoryKafka | null = null;
transportContract(
  'memory',
  async () => {
    const kafka = new MemoryKafka();
    contractCluster = kafka;
    return { transport: new MemoryTransport(kafka), cleanup: () => kafka.close() };
  },
  { compact: async (topic) => contractCluster!.compact(topic) },
);

const b = (s: string): Buffer => Buffer.from(s);
const clusters: MemoryKafka[] = [];
function cluster(options?: MemoryKafkaOptions): { kafka: MemoryKafka; transport: MemoryTransport } {
  const kafka = new MemoryKafka(options);
  clusters.push(kafka);
  return { kafka, transport: new MemoryTransport(kafka) };
}
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((k) => k.close()));
});

async function readAll(transport: MemoryTransport, topic: string, partition = 0, fromOffset = 0) {
  const records: IncomingRecord[] = [];
  const [end] = await transport.readToEnd([{ topic, partition, fromOffset }], (rs) => {
    records.push(...rs);
  });
  return { records, end: end!.offset };
}

describe('MemoryKafka compaction', () => {
  it('keeps the latest record per key, preserves offsets (gaps appear) and removes tombstones', async () => {
    const { kafka, transport } = cluster();
    const admin = await transport.admin();
    await admin.createTopics([{ name: 'c', partitions: 1, compacted: true }]);
    const p = transport.producer();
    await p.connect();
    const send = (k: string, v: string | null) =>
      p.send([{ topic: 'c', key: b(k), value: v === null ? null : b(v) }]);
    await send('a', '1'); // 0
    await send('b', '1'); // 1
    await send('a', '2'); // 2
    await send('c', '1'); // 3
    await send('b', null); // 4: tombstone
    await send('c', '2'); // 5
    kafka.compact('c');
    const { records, end } = await readAll(transport, 'c');
    expect(records.map((r) => [r.offset, r.key?.toString(), r.value?.toString()])).toEqual([
      [2, 'a', '2'],
      [5, 'c', '2'],
    ]);
    expect(end).toBe(6);
    expect(await admin.fetchTopicOffsets('c')).toEqual([{ partition: 0, low: 0, high: 6 }]);
    // Reading from an offset inside a gap starts at the next surviving record.
    expect((await readAll(transport, 'c', 0, 3)).records.map((r) => r.offset)).toEqual([5]);
  });

  it('leaves open transactions alone, drops aborted records and markers, rejects key-less records', async () => {
    const { kafka, transport } = cluster();
    await (await transport.admin()).createTopics([{ name: 'c', partitions: 1, compacted: true }]);
    const tp = transport.producer({ transactionalId: 't' });
    await tp.connect();
    const aborted = await tp.beginTransaction();
    await aborted.send([{ topic: 'c', key: b('x'), value: b('aborted') }]); // 0, marker 1
    await aborted.abort();
    const open = await tp.beginTransaction();
    await open.send([{ topic: 'c', key: b('y'), value: b('open') }]); // 2
    kafka.compact('c');
    await open.commit(); // marker 3
    const { records, end } = await readAll(transport, 'c');
    expect(records.map((r) => [r.offset, r.value?.toString()])).toEqual([[2, 'open']]);
    expect(end).toBe(4);
    const p = transport.producer();
    await p.connect();
    await expect(p.send([{ topic: 'c', key: null, value: b('v') }])).rejects.toThrow(/need a key/);
    expect(() => kafka.compact('missing')).toThrow(/unknown topic/);
  });
});

describe('MemoryTransport delivery', () => {
  /** Produces in a fixed pattern and returns the batches a consumer saw, as comparable strings. */
  async function scenario(): Promise<string[]> {
    const { transport } = cluster();
    await (await transport.admin()).createTopics([{ name: 't', partitions: 3 }]);
    const p = transport.producer();
    await p.connect();
    const seen: string[] = [];
    const c = transport.consumer({ groupId: 'g' });
    await c.connect();
    await c.subscribe(['t']);
    await c.run({
      eachBatch: async (batch: RecordBatch) => {
        seen.push(`${batch.partition}:${batch.records.map((r) => r.offset).join(',')}`);
        if (seen.length < 12) await p.send([{ topic: 't', key: b(`late-${seen.length}`), value: null }]);
      },
    });
    for (let i = 0; i < 1200; i++) await p.send([{ topic: 't', key: b(`k${i}`), value: b(`${i}`) }]);
    await waitFor(() => seen.length >= 12);
    await c.disconnect();
    return seen.slice(0, 12);
  }

  it('is deterministic: the same operations give the same batches', async () => {
    const first = await scenario();
    const second = await scenario();
    expect(second).toEqual(first);
    expect(first.every((s) => s.split(':')[1]!.split(',').length <= 500)).toBe(true);
  });

  it('never delivers synchronously inside send, and stamps records with the injected clock', async () => {
    let now = 1_000;
    const { transport } = cluster({ clock: { now: () => now } });
    await (await transport.admin()).createTopics([{ name: 't', partitions: 1 }]);
    const p = transport.producer();
    await p.connect();
    const c = transport.consumer({ groupId: 'g' });
    await c.connect();
    await c.subscribe(['t']);
    let sending = false;
    const deliveredDuringSend: boolean[] = [];
    const timestamps: number[] = [];
    await c.run({
      eachBatch: async (batch) => {
        deliveredDuringSend.push(sending);
        timestamps.push(...batch.records.map((r) => r.timestamp));
      },
    });
    await waitFor(() => c.assignment().length === 1);
    for (let i = 0; i < 5; i++) {
      now += 10;
      sending = true;
      const sent = p.send([{ topic: 't', key: null, value: b(`${i}`) }]);
      sending = false;
      await sent;
    }
    await waitFor(() => timestamps.length === 5);
    expect(deliveredDuringSend.every((d) => !d)).toBe(true);
    expect(timestamps).toEqual([1010, 1020, 1030, 1040, 1050]);
  });
});
