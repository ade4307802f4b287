// Contract tests of consumer groups: two members split the partitions (disjoint, covering all), with
// onRevoked/onAssigned reported and no batch delivered for a partition the member does not own; when one member
// disconnects (revoking first) the survivor gets every partition; an idle member frozen past its session timeout
// (when the suite can freeze one: `frozenMemberMs`) revokes, is assigned again and delivers; a member whose
// committed offset is below the log start reads from there and leaves the committed offset alone.
import type { Consumer, OutgoingRecord, TopicPartition } from '@dirigo/core';
import { describe, expect } from 'vitest';
import { buf, Collector, type ContractContext } from './harness.ts';

const keys = (tps: readonly TopicPartition[]): string[] =>
  tps.map((tp) => `${tp.topic}:${tp.partition}`).sort();

export function groupContract(ctx: ContractContext): void {
  describe('consumer group', () => {
    ctx.test(
      'splits partitions between members and moves them all to the survivor on disconnect',
      async (h) => {
        const t = await h.topic('group', 4);
        const groupId = h.name('group');
        const all = keys([0, 1, 2, 3].map((partition) => ({ topic: t, partition })));
        const batch = (from: number): OutgoingRecord[] =>
          Array.from({ length: 20 }, (_, i) => ({
            topic: t,
            key: buf(`k${from + i}`),
            value: buf(`${from + i}`),
          }));

        const a = await h.consumer([t], { groupId });
        const seenA = new Collector();
        await a.run(seenA.handlers({ commit: a }));
        await h.waitFor(
          () => a.assignment().length === 4 && keys(seenA.assigned.at(-1) ?? []).join() === all.join(),
          'first member did not get all partitions',
        );
        await h.send(batch(0));

        const b = await h.consumer([t], { groupId });
        const seenB = new Collector();
        await b.run(seenB.handlers({ commit: b }));
        const split = (x: Consumer, y: Consumer): boolean => {
          const ka = keys(x.assignment());
          const kb = keys(y.assignment());
          return ka.length > 0 && kb.length > 0 && [...ka, ...kb].sort().join() === all.join();
        };
        await h.waitFor(() => split(a, b), 'partitions not split between the two members');
        await h.send(batch(20));

        // Whatever B owns now was revoked from A; the callbacks agree with assignment().
        await h.waitFor(() => {
          const revokedFromA = new Set(keys(seenA.revoked.flat()));
          return keys(b.assignment()).every((k) => revokedFromA.has(k));
        }, 'partitions moved to the second member were not revoked from the first');
        await h.waitFor(() => keys(seenB.assigned.at(-1) ?? []).join() === keys(b.assignment()).join());
        await h.waitFor(() => keys(seenA.assigned.at(-1) ?? []).join() === keys(a.assignment()).join());

        const received = () => new Set([...seenA.values(), ...seenB.values()]);
        await h.waitFor(() => received().size === 40, 'not every record was consumed by the group');

        const ownedByB = keys(b.assignment());
        await b.disconnect();
        expect(keys(seenB.revoked.flat())).toEqual(expect.arrayContaining(ownedByB));
        await h.waitFor(() => a.assignment().length === 4, 'survivor did not get every partition');
        await h.send(batch(40));
        await h.waitFor(() => received().size === 60, 'survivor did not consume the moved partitions');
        expect(seenA.violations).toEqual([]);
        expect(seenB.violations).toEqual([]);
      },
    );

    ctx.test(
      'a member whose committed offset is below the log start reads from the log start and never commits it',
      async (h) => {
        // The committed offset belongs to its owner (the runtime commits positions with its steps). kafkajs, on
        // OFFSET_OUT_OF_RANGE, committed its reset sentinel as the group's offset: a task opened after that
        // started from 0 and processed purged-over records again (duplicates in the leasing chaos).
        const t = await h.topic('below-start', 1);
        const groupId = h.name('group');
        await h.send(
          Array.from({ length: 10 }, (_, i) => ({ topic: t, partition: 0, key: null, value: buf(`v${i}`) })),
        );
        const admin = await h.admin();
        const first = await h.consumer([t], { groupId });
        await first.run(new Collector().handlers());
        await h.waitFor(() => first.assignment().length === 1, 'first member not assigned');
        await first.commitOffsets([{ topic: t, partition: 0, offset: 2 }]);
        await first.disconnect();
        await admin.deleteRecords(t, [{ partition: 0, offset: 5 }]);
        const seen = new Collector();
        const second = await h.consumer([t], { groupId, autoOffsetReset: 'earliest' });
        await second.run(seen.handlers());
        await h.waitFor(() => seen.values(t).includes('v9'), 'records after the log start not delivered');
        expect(seen.values(t)).toEqual(['v5', 'v6', 'v7', 'v8', 'v9']);
        expect((await admin.fetchCommittedOffsets(groupId, t)).map((o) => o.offset)).toEqual([2]);
        expect(seen.violations).toEqual([]);
      },
    );

    const frozenMs = ctx.options.frozenMemberMs;
    if (frozenMs !== undefined)
      ctx.test(
        'an idle member frozen past its session timeout revokes, is assigned again and delivers',
        async (h) => {
          // Dropped by the coordinator while its partitions had nothing to read, the member must drop its old
          // assignment and announce the new one without waiting for a record: kafkajs re-joined on its own after
          // UNKNOWN_MEMBER_ID and the transport waited for a batch that never came, so an idle member kept a stale
          // assignment for good (the leasing chaos saw a lessor BLOCKED forever on a partition it no longer owned).
          // And it must be a member again, not only believe so: on the consumer protocol (KIP-848) the platformatic
          // client kept heartbeating with its old epoch, refused for good, and its commits were all refused.
          const t = await h.topic('frozen', 2);
          const groupId = h.name('group');
          const c = await h.consumer([t], { groupId, sessionTimeoutMs: 6_000 });
          const seen = new Collector();
          await c.run(seen.handlers({ commit: c }));
          // Under the consumer protocol (KIP-848) a fresh topic's partitions can arrive in two assignments: wait for
          // both before the freeze, so that only the re-join can add assignments after it.
          await h.waitFor(() => c.assignment().length === 2, 'not assigned both partitions');
          const before = seen.assigned.length;
          expect(seen.revoked).toEqual([]);
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, frozenMs);
          await h
            .waitFor(() => seen.revoked.length >= 1 && seen.assigned.length > before)
            .catch(() => {
              const added = seen.assigned.length - before;
              throw new Error(
                `no re-join after the freeze: ${seen.revoked.length} revocations, ${added} assignments`,
              );
            });
          expect(seen.revoked[0]).toHaveLength(2);
          expect(seen.assigned.at(-1)).toHaveLength(2);
          await h.send([{ topic: t, partition: 1, key: null, value: buf('after') }]);
          await h.waitFor(() => seen.values(t).includes('after'), 'record after the freeze not delivered');
          const admin = await h.admin();
          await h.waitFor(
            async () =>
              (await admin.fetchCommittedOffsets(groupId, t)).find((o) => o.partition === 1)?.offset === 1,
            'the commit after the freeze was not accepted',
          );
          expect(c.assignment()).toHaveLength(2);
          expect(seen.violations).toEqual([]);
        },
      );
  });
}
