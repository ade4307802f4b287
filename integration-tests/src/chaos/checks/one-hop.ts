// Tracker and checks of the `one-hop` shape (the keyed counter): every seq must come out once, and each key's
// final count (changelog, and the highest count it emitted) must equal the records sent with that key.
import type { Transport } from '@dirigo/core';
import { APP, COUNTER_KEYS, changelogOf, groupOf, topics } from '../names.ts';
import { readChangelog, readTopic, Tally } from '../read.ts';
import type { CounterOutput } from '../shapes/one-hop.ts';
import { type Draft, type ShapeHarness, VerdictBuilder } from './shape.ts';

export function oneHopHarness(ns: string): ShapeHarness {
  const t = topics(ns);
  const app = APP['one-hop'];
  const expected = new Map<string, number>();
  const seqs: number[] = [];
  return {
    name: 'one-hop',
    ingressTopics: [t.counterIn],
    groups: [{ group: groupOf(ns, app, 'count'), topic: t.counterIn }],
    get sent() {
      return seqs.length;
    },
    draw(seq: number, random: () => number): Draft {
      const key = `k${Math.floor(random() * COUNTER_KEYS)}`;
      return {
        record: { topic: t.counterIn, key: Buffer.from(key), value: Buffer.from(JSON.stringify({ seq })) },
        acked() {
          expected.set(key, (expected.get(key) ?? 0) + 1);
          seqs.push(seq);
        },
      };
    },
    async pendingTimers() {
      return [];
    },
    async verify(transport: Transport, exact: boolean) {
      const v = new VerdictBuilder('one-hop');
      const out = new Tally<number>();
      const maxCount = new Map<string, number>();
      for (const r of await readTopic<CounterOutput>(transport, t.counterOut)) {
        out.add(r.value.seq);
        if (r.value.count > (maxCount.get(r.value.key) ?? 0)) maxCount.set(r.value.key, r.value.count);
      }
      for (const s of seqs) v.fail('lost', out.get(s) === 0 ? 1 : 0, () => `seq ${s} has no output`);
      for (const [s, n] of out.counts) v.fail('duplicated', n - 1, () => `seq ${s} output ${n} times`);
      const state = await readChangelog(transport, changelogOf(ns, app, 'count'));
      const counts = state.value<number>('count');
      for (const [key, n] of expected) {
        v.expectCount(exact, `count[${key}]`, n, counts.get(key));
        v.expectCount(exact, `highest count emitted for ${key}`, n, maxCount.get(key));
      }
      v.unexpectedActors('count', counts, expected);
      return v.verdict;
    },
  };
}
