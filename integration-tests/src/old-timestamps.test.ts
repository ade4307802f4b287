// A back-fill of event-time input 40 days old (older than the broker's default retention of 7 days) through a
// two-hop app on the real broker: the second hop gets every event, and the worker purges the internal topic
// between the hops up to what its group committed, never further, while the second hop waits. The internal
// topics are created without time retention (`retention.ms=-1`) and purged by the worker instead, as Kafka
// Streams does with its repartition topics: they no longer keep consumed records for the broker's retention,
// and what they hold never depends on record timestamps. (With the broker's retention, this app does not lose
// events either: the broker deletes a segment only when its newest timestamp is old, and the watermark records of
// an event-time app, like the commit markers of transactions, are stamped when written. The test broker checks
// retention every 2 s, so the wait below spans a check.)
import { defineApp, fn, type ProcessingGuarantee, state } from '@dirigo/core';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { kafkaTransport, testLogger, unique } from './harness.ts';

const DAY = 86_400_000;
const KEYS = 5;

const stopAll: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stopAll.splice(0).reverse()) await s().catch(() => {});
});

/** `tag` sends each event on to `count` (stamped with its event time); `count` waits for `gate`, then counts. */
const backfillApp = (ns: string, input: string, guarantee: ProcessingGuarantee, gate: () => Promise<void>) =>
  defineApp({
    name: 'backfill',
    options: {
      namespace: ns,
      guarantee,
      defaultPartitions: 2,
      eventTime: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 5_000, watermarkIntervalMs: 100 },
    },
    ingresses: [{ topic: input, to: 'tag' }],
    functions: {
      tag: fn({
        sends: ['count'],
        handler(ctx, m: { i: number }) {
          ctx.send('count', ctx.key, m);
        },
      }),
      count: fn({
        state: { n: state.value<number>() },
        async handler(ctx, _m: { i: number }) {
          await gate();
          ctx.state.n.set((ctx.state.n.get() ?? 0) + 1);
        },
      }),
    },
  });

describe('records older than the broker retention', () => {
  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    it(`${guarantee}: an event-time back-fill 40 days old reaches the second hop whole, then is purged`, async () => {
      const ns = unique('it-old');
      const input = `${ns}-in`;
      const t = kafkaTransport('it-old');
      stopAll.push(() => t.close());
      const admin = await t.admin();
      // The ingress is the user's topic: it keeps the back-fill as long as the user wants.
      await admin.createTopics([{ name: input, partitions: 2, config: { 'retention.ms': '-1' } }]);
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      const worker = new Worker({
        transport: kafkaTransport('w-old'),
        apps: [backfillApp(ns, input, guarantee, () => opened)],
        logger: testLogger(),
        workerId: 'w-old',
        purgeIntervalMs: 500,
      });
      stopAll.push(() => worker.stop());
      stopAll.push(async () => open()); // a failed test must not leave steps waiting (stop waits for them)
      await worker.start();
      const countTopic = `${ns}.backfill.count`;
      const [described] = await admin.describeTopics([countTopic]);
      expect(described!.config['retention.ms']).toBe('-1');

      // 200 events from 40 days ago, in ten sends: `tag` forwards them in several steps, and `count` holds the
      // first it fetched (its partition then pauses) while the rest wait in its topic.
      const base = Date.now() - 40 * DAY;
      const producer = t.producer({ clientId: 'it-old-feeder' });
      await producer.connect();
      for (let s = 0; s < 10; s++) {
        await producer.send(
          Array.from({ length: 20 }, (_, j) => {
            const i = s * 20 + j;
            return {
              topic: input,
              key: Buffer.from(`k${i % KEYS}`),
              value: Buffer.from(JSON.stringify({ i })),
              timestamp: base + i * 1000,
            };
          }),
        );
        await new Promise((r) => setTimeout(r, 150));
      }
      await producer.disconnect();
      await waitFor(async () => (await pendingRecords(t, `${ns}.backfill.tag`, input)) === 0, 60_000, {
        intervalMs: 200,
      });
      const written = (await admin.fetchTopicOffsets(countTopic)).reduce((n, o) => n + o.high, 0);
      expect(written).toBeGreaterThanOrEqual(200);
      // A retention check of the test broker and several purge intervals pass while `count` waits.
      await new Promise((r) => setTimeout(r, 2_500));
      // Purged at most up to what `count` committed (watermark records it consumed without running the handler).
      const held = await admin.fetchCommittedOffsets(`${ns}.backfill.count`, countTopic);
      for (const o of await admin.fetchTopicOffsets(countTopic))
        expect(o.low).toBeLessThanOrEqual(Math.max(0, held.find((c) => c.partition === o.partition)!.offset));
      open();
      const counted = async () => {
        let n = 0;
        for (let k = 0; k < KEYS; k++)
          n += ((await worker.readState('backfill', 'count', `k${k}`, 'n')) as number) ?? 0;
        return n;
      };
      // On timeout, the assertion below says how many arrived.
      await waitFor(async () => (await counted()) === 200, 60_000, { intervalMs: 200 }).catch(() => {});
      expect(await counted()).toBe(200);
      // Then the worker deletes what `count` committed, and nothing it did not.
      await waitFor(
        async () => {
          const committed = await admin.fetchCommittedOffsets(`${ns}.backfill.count`, countTopic);
          const marks = await admin.fetchTopicOffsets(countTopic);
          return marks.every(
            (m) => m.low > 0 && m.low === committed.find((c) => c.partition === m.partition)?.offset,
          );
        },
        30_000,
        { intervalMs: 200 },
      );
      expect(await counted()).toBe(200);
    }, 120_000);
  }
});
