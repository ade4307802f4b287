// Contract tests of readToEnd: reading from given offsets up to the high watermark of the call's start (records
// written meanwhile are not included), empty partitions, and restoring the latest value per key from a compacted
// topic (compacted for real when the suite has a `compact` hook); going on from the log start when records are
// deleted under a read (when the suite has a `batchByBatch` transport).
import type { IncomingRecord, OutgoingRecord } from '@dirigo/core';
import { describe, expect } from 'vitest';
import { buf, type ContractContext, str } from './harness.ts';

export function readToEndContract(ctx: ContractContext): void {
  describe('readToEnd', () => {
    const batchByBatch = ctx.options.batchByBatch;
    if (batchByBatch !== undefined) {
      ctx.test(
        'goes on from the log start when records below its position are deleted while it reads',
        async (h) => {
          // One record batch per send and per fetch: the reader is at offset 1 when the records below 3 are
          // deleted, and its next fetch is out of range (the broker's answer then carries no log start offset).
          const topic = await h.topic('purged-while-read', 1);
          const p = await h.producer();
          for (let i = 0; i < 5; i++) await p.send([{ topic, partition: 0, key: null, value: buf(`v${i}`) }]);
          const admin = await h.admin();
          const reader = batchByBatch();
          try {
            const seen: number[] = [];
            await reader.readToEnd([{ topic, partition: 0, fromOffset: 0 }], async (rs) => {
              if (seen.length === 0) await admin.deleteRecords(topic, [{ partition: 0, offset: 3 }]);
              seen.push(...rs.map((r) => r.offset));
            });
            expect(seen).toEqual([0, 3, 4]);
          } finally {
            await reader.close();
          }
        },
      );
    }

    ctx.test('reads from the given offsets up to the high watermark the call began with', async (h) => {
      const t = await h.topic('restore', 2);
      const empty = await h.topic('empty', 1);
      const rec = (partition: number, i: number): OutgoingRecord => ({
        topic: t,
        partition,
        key: null,
        value: buf(`${partition}-${i}`),
      });
      const p = await h.producer();
      await p.send([
        ...Array.from({ length: 10 }, (_, i) => rec(0, i)),
        ...Array.from({ length: 5 }, (_, i) => rec(1, i)),
      ]);

      const read: IncomingRecord[] = [];
      let calls = 0;
      const ends = await h.transport.readToEnd(
        [
          { topic: t, partition: 0, fromOffset: 4 },
          { topic: t, partition: 1, fromOffset: -1 },
          { topic: empty, partition: 0, fromOffset: 0 },
        ],
        async (records) => {
          if (calls++ === 0) await p.send([rec(0, 100), rec(1, 100)]); // after the start: not read
          read.push(...records);
        },
      );
      expect(read.filter((r) => r.partition === 0 && r.topic === t).map((r) => r.offset)).toEqual([
        4, 5, 6, 7, 8, 9,
      ]);
      expect(read.filter((r) => r.partition === 1).map((r) => str(r.value))).toEqual([
        '1-0',
        '1-1',
        '1-2',
        '1-3',
        '1-4',
      ]);
      expect(read.some((r) => r.topic === empty)).toBe(false);
      expect(ends).toEqual(
        expect.arrayContaining([
          { topic: t, partition: 0, offset: 10 },
          { topic: t, partition: 1, offset: 5 },
          { topic: empty, partition: 0, offset: 0 },
        ]),
      );
      expect(ends).toHaveLength(3);
    });

    ctx.test('restores the latest value per key from a compacted topic', async (h) => {
      const t = await h.topic('compacted', 2, { compacted: true });
      const expected = new Map<string, string>();
      const p = await h.producer();
      for (let round = 0; round < 3; round++) {
        const batch: OutgoingRecord[] = [];
        for (let k = 0; k < 10; k++) {
          const tombstone = round === 2 && (k === 3 || k === 7);
          batch.push({ topic: t, key: buf(`k${k}`), value: tombstone ? null : buf(`v${round}-${k}`) });
          if (tombstone) expected.delete(`k${k}`);
          else expected.set(`k${k}`, `v${round}-${k}`);
        }
        await p.send(batch);
      }
      await ctx.options.compact?.(t);

      const state = new Map<string, string>();
      const { records, ends } = await h.readAll([t]);
      for (const r of records) {
        const key = str(r.key)!;
        if (r.value === null) state.delete(key);
        else state.set(key, str(r.value)!);
      }
      expect(state).toEqual(expected);
      const highs = await (await h.admin()).fetchTopicOffsets(t);
      for (const end of ends) expect(end.offset).toBe(highs.find((o) => o.partition === end.partition)?.high);
      if (ctx.options.compact !== undefined) expect(records.length).toBeLessThan(30);
    });
  });
}
