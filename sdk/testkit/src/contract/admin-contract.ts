// Contract tests of Admin: topic creation (idempotent, compacted, configs), description, listing, deletion,
// watermarks, committed offsets, and UnknownTopicError for missing topics (also when producing).
import { UnknownTopicError } from '@dirigo/core';
import { describe, expect } from 'vitest';
import { buf, Collector, type ContractContext, str } from './harness.ts';

export function adminContract(ctx: ContractContext): void {
  describe('admin', () => {
    ctx.test(
      'creates topics idempotently, with partitions and configs visible in describeTopics',
      async (h) => {
        const plain = h.name('plain');
        const compacted = h.name('compacted');
        await h.createTopics([
          { name: plain, partitions: 3, config: { 'retention.ms': '3600000' } },
          { name: compacted, partitions: 2, compacted: true },
        ]);
        const admin = await h.admin();
        // Existing topics are left alone, new ones in the same call are created.
        const extra = h.name('extra');
        await admin.createTopics([
          { name: plain, partitions: 5 },
          { name: compacted, partitions: 2, compacted: true },
          { name: extra, partitions: 1 },
        ]);
        await h.createTopics([{ name: extra, partitions: 1 }]); // registers it for cleanup; also idempotent
        const [p, c, e] = await admin.describeTopics([plain, compacted, extra]);
        expect(p).toMatchObject({ name: plain, partitions: 3 });
        expect(p!.config['retention.ms']).toBe('3600000');
        expect(p!.config['cleanup.policy'] ?? 'delete').toBe('delete');
        expect(c).toMatchObject({ name: compacted, partitions: 2 });
        expect(c!.config['cleanup.policy']).toBe('compact');
        expect(e).toMatchObject({ name: extra, partitions: 1 });
      },
    );

    ctx.test(
      'a topic is usable as soon as createTopics returns, also when several clients race',
      async (h) => {
        // Workers starting at once all create the same topics, then subscribe and produce at once. Whoever wins the
        // creation, every createTopics must return only when the topic can be described, subscribed and written.
        for (let round = 0; round < 4; round++) {
          const topic = h.name(`race-${round}`);
          const results = await Promise.allSettled(
            [0, 1, 2].map(async (i) => {
              const admin = await h.transport.admin();
              try {
                await admin.createTopics([{ name: topic, partitions: 2 }]);
                const consumer = await h.consumer([topic], { groupId: h.name(`race-${round}-${i}`) });
                const producer = await h.producer();
                await producer.send([{ topic, key: buf(`k${i}`), value: buf(`v${i}`) }]);
                const [d] = await admin.describeTopics([topic]);
                return { partitions: d!.partitions, consumer };
              } finally {
                await admin.close();
              }
            }),
          );
          await h.createTopics([{ name: topic, partitions: 2 }]); // cleanup after the test
          const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
          expect({ round, failures }).toEqual({ round, failures: [] });
          for (const r of results) if (r.status === 'fulfilled') expect(r.value.partitions).toBe(2);
        }
      },
    );

    ctx.test('lists topics and deletes them, ignoring unknown names', async (h) => {
      const t = await h.topic('deleted', 1);
      const admin = await h.admin();
      expect(await admin.listTopics()).toContain(t);
      await admin.deleteTopics([t, h.name('never-created')]);
      await h.waitFor(async () => !(await admin.listTopics()).includes(t), 'deleted topic still listed');
      await h.waitFor(async () => {
        await expect(admin.describeTopics([t])).rejects.toBeInstanceOf(UnknownTopicError);
        return true;
      });
    });

    ctx.test('describeTopics rejects with UnknownTopicError for a missing topic', async (h) => {
      const missing = h.name('missing');
      const admin = await h.admin();
      const err = await admin.describeTopics([missing]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnknownTopicError);
      expect((err as UnknownTopicError).topic).toBe(missing);
    });

    ctx.test('fetchTopicOffsets reports low and high watermarks per partition', async (h) => {
      const t = await h.topic('offsets', 2);
      const admin = await h.admin();
      expect(await admin.fetchTopicOffsets(t)).toEqual([
        { partition: 0, low: 0, high: 0 },
        { partition: 1, low: 0, high: 0 },
      ]);
      const rec = (partition: number, i: number) => ({ topic: t, partition, key: null, value: buf(`v${i}`) });
      await h.send([rec(0, 1), rec(0, 2), rec(1, 3), rec(0, 4)]);
      await h.waitFor(async () => {
        const offsets = await admin.fetchTopicOffsets(t);
        expect([...offsets].sort((a, b) => a.partition - b.partition)).toEqual([
          { partition: 0, low: 0, high: 3 },
          { partition: 1, low: 0, high: 1 },
        ]);
        return true;
      });
    });

    ctx.test(
      'deleteRecords moves the low watermark up (never down); readers and new groups start there',
      async (h) => {
        const t = await h.topic('purged', 2);
        const admin = await h.admin();
        const rec = (partition: number, i: number) => ({
          topic: t,
          partition,
          key: null,
          value: buf(`v${i}`),
        });
        await h.send([0, 1, 2, 3, 4].map((i) => rec(0, i)));
        await h.send([rec(1, 5), rec(1, 6)]);
        await admin.deleteRecords(t, [
          { partition: 0, offset: 3 },
          { partition: 1, offset: 0 },
        ]);
        const marks = async () =>
          [...(await admin.fetchTopicOffsets(t))].sort((a, b) => a.partition - b.partition);
        expect(await marks()).toEqual([
          { partition: 0, low: 3, high: 5 },
          { partition: 1, low: 0, high: 2 },
        ]);
        await admin.deleteRecords(t, [{ partition: 0, offset: 1 }]); // below the low watermark: nothing moves
        await admin.deleteRecords(t, []);
        expect((await marks())[0]).toEqual({ partition: 0, low: 3, high: 5 });
        const { records } = await h.readAll([t]);
        expect(records.filter((r) => r.partition === 0).map((r) => [r.offset, str(r.value)])).toEqual([
          [3, 'v3'],
          [4, 'v4'],
        ]);
        const seen = new Collector();
        const consumer = await h.consumer([t], {
          groupId: h.name('after-purge'),
          autoOffsetReset: 'earliest',
        });
        await consumer.run(seen.handlers());
        await h.waitFor(() => seen.records.length >= 4, 'the new group did not read the records left');
        expect(seen.values(t, 0)).toEqual(['v3', 'v4']);
        expect(seen.values(t, 1)).toEqual(['v5', 'v6']);
        // Above the high watermark: refused, and nothing moves.
        await expect(admin.deleteRecords(t, [{ partition: 1, offset: 3 }])).rejects.toThrow(
          `offset 3 of ${t}/1 is above its high watermark 2`,
        );
        expect((await marks())[1]).toEqual({ partition: 1, low: 0, high: 2 });
        await expect(
          admin.deleteRecords(h.name('missing'), [{ partition: 0, offset: 1 }]),
        ).rejects.toBeInstanceOf(UnknownTopicError);
      },
    );

    ctx.test(
      'fetchTopicOffsets answers every partition of each topic, also when called at once',
      async (h) => {
        // Many partitions of many functions open at once after a rebalance, each reading its changelog's
        // watermarks: no call may see another topic's metadata refresh (an empty answer would skip a restore).
        const topics = await Promise.all([1, 2, 3, 4, 5].map((n) => h.topic(`offsets-${n}`, n)));
        const admins = await Promise.all([0, 1].map(() => h.admin()));
        for (let round = 0; round < 3; round++) {
          const answers = await Promise.all(
            topics.flatMap((t) =>
              [0, 1, 2, 3].map((i) => admins[i % 2]!.fetchTopicOffsets(t).then((o) => [t, o] as const)),
            ),
          );
          for (const [t, offsets] of answers) {
            expect({ t, partitions: offsets.length }).toEqual({ t, partitions: topics.indexOf(t) + 1 });
          }
        }
      },
    );

    ctx.test('fetchCommittedOffsets reports -1 for partitions without a commit', async (h) => {
      const t = await h.topic('uncommitted', 2);
      const admin = await h.admin();
      const offsets = await admin.fetchCommittedOffsets(h.name('group'), t);
      expect([...offsets].sort((a, b) => a.partition - b.partition)).toEqual([
        { topic: t, partition: 0, offset: -1 },
        { topic: t, partition: 1, offset: -1 },
      ]);
    });

    ctx.test('producing to an unknown topic rejects with UnknownTopicError (no auto-creation)', async (h) => {
      const missing = h.name('missing');
      const p = await h.producer();
      const err = await p.send([{ topic: missing, key: buf('k'), value: buf('v') }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnknownTopicError);
      const admin = await h.admin();
      expect(await admin.listTopics()).not.toContain(missing);
    });
  });
}
