// Contract tests of group consumers: ordered batches with explicit commits and restart from committed offsets,
// autoOffsetReset 'latest', pause/resume (partitions and whole topics), seek, and re-delivery after a
// rejected batch.
import type { OutgoingRecord } from '@dirigo/core';
import { describe, expect } from 'vitest';
import { buf, Collector, type ContractContext, str } from './harness.ts';

export function consumerContract(ctx: ContractContext): void {
  describe('consumer', () => {
    ctx.test('delivers ordered batches; a new member resumes from the committed offsets', async (h) => {
      const t = await h.topic('commits', 3);
      const groupId = h.name('group');
      const rec = (partition: number, i: number): OutgoingRecord => ({
        topic: t,
        partition,
        key: null,
        value: buf(`${i}`),
      });
      const first: OutgoingRecord[] = [];
      for (let i = 0; i < 15; i++) first.push(rec(0, i), rec(1, i));
      await h.send(first); // nothing to partition 2

      const a = await h.consumer([t], { groupId });
      const seenA = new Collector();
      await a.run(seenA.handlers({ commit: a }));
      await h.waitFor(() => seenA.records.length >= 30, 'first consumer did not get 30 records');
      expect(seenA.violations).toEqual([]);
      for (const partition of [0, 1]) {
        expect(seenA.records.filter((r) => r.partition === partition).map((r) => r.offset)).toEqual(
          Array.from({ length: 15 }, (_, i) => i),
        );
      }
      for (const b of seenA.batches)
        expect(b.highWatermark).toBeGreaterThanOrEqual(b.records.at(-1)!.offset + 1);

      const admin = await h.admin();
      await h.waitFor(async () => {
        const committed = await admin.fetchCommittedOffsets(groupId, t);
        expect([...committed].sort((x, y) => x.partition - y.partition).map((o) => o.offset)).toEqual([
          15, 15, -1,
        ]);
        return true;
      });
      await a.disconnect();

      const second: OutgoingRecord[] = [];
      for (let i = 15; i < 20; i++) second.push(rec(0, i), rec(1, i));
      await h.send(second);
      const b = await h.consumer([t], { groupId });
      const seenB = new Collector();
      await b.run(seenB.handlers({ commit: b }));
      await h.waitFor(() => seenB.records.length >= 10, 'second consumer did not get the 10 new records');
      expect(seenB.violations).toEqual([]);
      expect(seenB.records.map((r) => r.offset).every((o) => o >= 15)).toBe(true);
      expect(new Set(seenB.values())).toEqual(new Set(['15', '16', '17', '18', '19']));
      await h.waitFor(async () => {
        const committed = await admin.fetchCommittedOffsets(groupId, t);
        expect([...committed].sort((x, y) => x.partition - y.partition).map((o) => o.offset)).toEqual([
          20, 20, -1,
        ]);
        return true;
      });
    });

    ctx.test("autoOffsetReset 'latest' starts a new group at the end of each partition", async (h) => {
      const t = await h.topic('latest', 1);
      await h.send(Array.from({ length: 5 }, (_, i) => ({ topic: t, key: null, value: buf(`old-${i}`) })));
      const c = await h.consumer([t], { groupId: h.name('group'), autoOffsetReset: 'latest' });
      const seen = new Collector();
      await c.run(seen.handlers());
      await h.waitFor(() => c.assignment().length === 1, 'no assignment');
      // The start position may be resolved lazily: keep producing until something arrives.
      const p = await h.producer();
      await h.waitFor(async () => {
        await p.send([{ topic: t, key: null, value: buf('new') }]);
        return seen.records.length > 0;
      });
      expect(seen.values().every((v) => v === 'new')).toBe(true);
      expect(seen.records.every((r) => r.offset >= 5)).toBe(true);
    });

    ctx.test('pause stops delivery of partitions or whole topics until resume', async (h) => {
      const a = await h.topic('paused', 2);
      const b = await h.topic('other', 1);
      const c = await h.consumer([a, b], { groupId: h.name('group') });
      const seen = new Collector();
      await c.run(seen.handlers());
      await h.waitFor(() => c.assignment().length === 3, 'not all partitions assigned');
      const p = await h.producer();
      const send = (topic: string, partition: number, value: string) =>
        p.send([{ topic, partition, key: null, value: buf(value) }]);

      c.pause([{ topic: a, partitions: [0] }]);
      await send(a, 0, 'a0-1');
      await send(a, 1, 'a1-1');
      await h.waitFor(() => seen.values().includes('a1-1'));
      expect(seen.values(a, 0)).toEqual([]);
      c.resume([{ topic: a, partitions: [0] }]);
      await h.waitFor(() => seen.values().includes('a0-1'), 'resumed partition not delivered');

      c.pause([{ topic: a }]);
      await send(a, 0, 'a0-2');
      await send(a, 1, 'a1-2');
      await send(b, 0, 'b-1');
      await h.waitFor(() => seen.values().includes('b-1'));
      expect(seen.values(a)).toEqual(['a1-1', 'a0-1']);
      c.resume([{ topic: a }]);
      await h.waitFor(() => seen.values(a).length === 4, 'resumed topic not delivered');
      expect(new Set(seen.values(a))).toEqual(new Set(['a0-1', 'a1-1', 'a0-2', 'a1-2']));
      expect(seen.violations).toEqual([]);
    });

    ctx.test('seek makes the next batch of a partition start at the given offset', async (h) => {
      const t = await h.topic('seek', 1);
      await h.send(Array.from({ length: 10 }, (_, i) => ({ topic: t, key: null, value: buf(`${i}`) })));
      const c = await h.consumer([t], { groupId: h.name('group') });
      const seen = new Collector();
      await c.run(seen.handlers());
      await h.waitFor(() => seen.records.length === 10);
      c.seek({ topic: t, partition: 0, offset: 3 });
      await h.waitFor(() => seen.records.length === 17, 'sought records not re-delivered');
      expect(seen.records.slice(10).map((r) => r.offset)).toEqual([3, 4, 5, 6, 7, 8, 9]);
      expect(seen.violations).toEqual([]);
    });

    ctx.test('re-delivers from the last committed position after eachBatch rejects', async (h) => {
      const t = await h.topic('redeliver', 1);
      const groupId = h.name('group');
      const rec = (i: number): OutgoingRecord => ({ topic: t, key: null, value: buf(`${i}`) });
      await h.send([0, 1, 2, 3, 4].map(rec));
      const c = await h.consumer([t], { groupId });
      const seen = new Collector();
      let failNext = false;
      const starts: number[] = [];
      await c.run(
        seen.handlers({
          commit: c,
          onBatch: (batch) => {
            starts.push(batch.records[0]!.offset);
            if (failNext && batch.records.at(-1)!.offset >= 5) {
              failNext = false;
              throw new Error('induced failure');
            }
          },
        }),
      );
      const admin = await h.admin();
      await h.waitFor(async () => (await admin.fetchCommittedOffsets(groupId, t))[0]?.offset === 5);
      failNext = true;
      const failedAt = starts.length;
      await h.send([5, 6, 7, 8, 9].map(rec));
      await h.waitFor(async () => (await admin.fetchCommittedOffsets(groupId, t))[0]?.offset === 10);
      // The failed batch started at the committed offset 5, and so did the next one.
      expect(starts[failedAt]).toBe(5);
      expect(starts[failedAt + 1]).toBe(5);
      const values = seen.values();
      expect(values.filter((v) => v === '5').length).toBeGreaterThanOrEqual(2);
      expect(new Set(values)).toEqual(new Set(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']));
      expect(str(seen.records.at(-1)!.value)).toBe('9');
    });
  });
}
