// Contract tests of consumer groups: two members split the partitions (disjoint, covering all), with
// onRevoked/onAssigned reported and no batch delivered for a partition the member does not own; when one member
// disconnects (revoking first) the survivor gets every partition.
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
  });
}
