// Contract tests of producing: one batch across topics and partitions, Java-compatible key partitioning
// (partitionFor), explicit partitions, and round-trips of headers, timestamps, null keys and null values.
import { type IncomingRecord, type OutgoingRecord, partitionFor } from '@dirigo/core';
import { describe, expect } from 'vitest';
import { buf, type ContractContext, str } from './harness.ts';

const byPartition = (
  records: readonly IncomingRecord[],
  topic: string,
  partition: number,
): IncomingRecord[] => records.filter((r) => r.topic === topic && r.partition === partition);

export function producerContract(ctx: ContractContext): void {
  describe('producer', () => {
    ctx.test('sends one batch across topics and partitions; keys pick partitionFor(key, n)', async (h) => {
      const a = await h.topic('keyed', 4);
      const b = await h.topic('keyless', 1);
      const records: OutgoingRecord[] = [];
      for (let i = 0; i < 40; i++)
        records.push({ topic: a, key: buf(`key-${i % 13}`), value: buf(`a-${i}`) });
      for (let i = 0; i < 3; i++)
        records.push({ topic: a, partition: 2, key: buf('explicit'), value: buf(`x-${i}`) });
      for (let i = 0; i < 5; i++) records.push({ topic: b, key: null, value: buf(`b-${i}`) });
      const p = await h.producer();
      await p.send(records);

      const { records: read } = await h.readAll([a, b]);
      expect(read).toHaveLength(48);
      for (const r of read.filter((r) => r.topic === a && str(r.key) !== 'explicit')) {
        expect(r.partition).toBe(partitionFor(r.key!, 4));
      }
      expect(
        byPartition(read, a, 2)
          .filter((r) => str(r.key) === 'explicit')
          .map((r) => str(r.value)),
      ).toEqual(['x-0', 'x-1', 'x-2']);
      expect(byPartition(read, b, 0).map((r) => str(r.value))).toEqual(['b-0', 'b-1', 'b-2', 'b-3', 'b-4']);
      // Per partition, offsets increase and records keep the order in which they were sent.
      for (let partition = 0; partition < 4; partition++) {
        const inPartition = byPartition(read, a, partition).filter((r) => str(r.key) !== 'explicit');
        const seq = inPartition.map((r) => Number(str(r.value)!.slice(2)));
        expect(seq).toEqual([...seq].sort((x, y) => x - y));
        const offsets = byPartition(read, a, partition).map((r) => r.offset);
        expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
      }
    });

    ctx.test('round-trips headers, timestamps, null keys and null values', async (h) => {
      const t = await h.topic('roundtrip', 1);
      const ts = 1_700_000_000_123;
      const p = await h.producer();
      await p.send([
        {
          topic: t,
          key: buf('tombstone'),
          value: null,
          headers: { text: buf('hello'), bytes: Buffer.from([0, 1, 254, 255]), empty: Buffer.alloc(0) },
          timestamp: ts,
        },
        { topic: t, key: null, value: buf('no key') },
      ]);
      const { records } = await h.readAll([t]);
      expect(records).toHaveLength(2);
      const [first, second] = records;
      expect(first).toMatchObject({ topic: t, partition: 0, timestamp: ts, value: null });
      expect(str(first!.key)).toBe('tombstone');
      expect(Object.keys(first!.headers).sort()).toEqual(['bytes', 'empty', 'text']);
      expect(first!.headers.text!.equals(buf('hello'))).toBe(true);
      expect(first!.headers.bytes!.equals(Buffer.from([0, 1, 254, 255]))).toBe(true);
      expect(first!.headers.empty!.length).toBe(0);
      expect(second!.key).toBeNull();
      expect(str(second!.value)).toBe('no key');
      expect(second!.headers).toEqual({});
      expect(Number.isFinite(second!.timestamp)).toBe(true);
      expect(second!.offset).toBeGreaterThan(first!.offset);
    });
  });
}
