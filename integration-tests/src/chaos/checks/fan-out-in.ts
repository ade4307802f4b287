// Tracker and checks of the `fan-out-in` shape: every seq completes once, every part is sent to `part` and to
// `join` once, the split/part counters and join's completed counts match, and no pending join entry is left.
import type { Transport } from '@dirigo/core';
import { APP, changelogOf, FAN, groupOf, topics } from '../names.ts';
import { readChangelog, readTopic, Tally } from '../read.ts';
import type { FanComplete, FanInput, FanPart } from '../shapes/fan-out-in.ts';
import { type Draft, type ShapeHarness, VerdictBuilder } from './shape.ts';

const inc = (m: Map<string, number>, k: string, n = 1): void => {
  m.set(k, (m.get(k) ?? 0) + n);
};

export function fanOutInHarness(ns: string): ShapeHarness {
  const t = topics(ns);
  const app = APP['fan-out-in'];
  const splits = new Map<string, number>();
  const parts = new Map<string, number>();
  const joins = new Map<string, number>();
  const seqs: number[] = [];
  const partTally = async (transport: Transport, fn: string): Promise<Tally<string>> => {
    const tally = new Tally<string>();
    for (const r of await readTopic<FanPart>(transport, groupOf(ns, app, fn)))
      tally.add(`${r.value.seq}:${r.value.j}`);
    return tally;
  };
  return {
    name: 'fan-out-in',
    ingressTopics: [t.fanIn],
    groups: ['split', 'part', 'join'].map((fn) => ({
      group: groupOf(ns, app, fn),
      topic: fn === 'split' ? t.fanIn : groupOf(ns, app, fn),
    })),
    get sent() {
      return seqs.length;
    },
    draw(seq: number, random: () => number): Draft {
      const k = 1 + Math.floor(random() * FAN.maxParts);
      const key = `o${seq % FAN.K}`;
      const input: FanInput = { seq, k };
      return {
        record: { topic: t.fanIn, key: Buffer.from(key), value: Buffer.from(JSON.stringify(input)) },
        acked() {
          inc(splits, key);
          for (let j = 0; j < k; j++) inc(parts, `p${(seq * 7 + j) % FAN.P}`);
          inc(joins, `j${seq % FAN.J}`);
          seqs.push(seq);
        },
      };
    },
    async pendingTimers() {
      return [];
    },
    async verify(transport: Transport, exact: boolean) {
      const v = new VerdictBuilder('fan-out-in');
      const complete = new Tally<number>();
      for (const r of await readTopic<FanComplete>(transport, t.complete)) complete.add(r.value.seq);
      for (const s of seqs) v.fail('lost', complete.get(s) === 0 ? 1 : 0, () => `seq ${s} never completed`);
      for (const [s, n] of complete.counts)
        v.fail('duplicated', n - 1, () => `seq ${s} completed ${n} times`);
      for (const fn of ['part', 'join']) {
        for (const [id, n] of (await partTally(transport, fn)).counts) {
          v.fail('duplicated', n - 1, () => `part ${id} sent to ${fn} ${n} times`);
        }
      }
      const split = (await readChangelog(transport, changelogOf(ns, app, 'split'))).value<number>('count');
      for (const [key, n] of splits) v.expectCount(exact, `split count[${key}]`, n, split.get(key));
      v.unexpectedActors('split count', split, splits);
      const part = (await readChangelog(transport, changelogOf(ns, app, 'part'))).value<number>('count');
      for (const [key, n] of parts) v.expectCount(exact, `part count[${key}]`, n, part.get(key));
      v.unexpectedActors('part count', part, parts);
      const join = await readChangelog(transport, changelogOf(ns, app, 'join'));
      const completed = join.value<number>('completed');
      for (const [key, n] of joins) v.expectCount(exact, `join completed[${key}]`, n, completed.get(key));
      v.unexpectedActors('join completed', completed, joins);
      // Under at-least-once a replayed part may arrive after its seq completed and start a new entry.
      if (exact) {
        for (const [actor, entries] of join.map<number[]>('pending')) {
          for (const [seq, seen] of entries) {
            v.fail(
              'stateMismatches',
              1,
              () => `join ${actor} still has pending seq ${seq} (parts ${seen.join(',')})`,
            );
          }
        }
      }
      return v.verdict;
    },
  };
}
