// The internal topics a worker feeds itself (a function's input fed by sends, the lease topic) are created without
// time retention, so that records older than the broker's retention (event time, replayed input) are not deleted
// before they are consumed, and the worker deletes what their group has committed, never more.
import { defineApp, fn, merge, state } from '@dirigo/core';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';
import { type Line, recordingLogger } from './recording-logger.test-helper.ts';

const SECOND = 'dirigo.purge.second';
const LEASE = 'dirigo.purge.__lease';

/** `first` sends every message on to `second`, which waits for `gate` and counts per key. */
function purgeApp(guarantee: 'at_least_once' | 'exactly_once', gate: () => Promise<void>) {
  return defineApp({
    name: 'purge',
    options: { guarantee, defaultPartitions: 2 },
    ingresses: [{ topic: 'pin', to: 'first' }],
    functions: {
      first: fn({
        handler(ctx, m: { v: number }) {
          ctx.send('second', ctx.key, m);
        },
      }),
      second: fn({
        leasable: guarantee === 'exactly_once',
        state: { n: state.mergeable(merge.sum()) },
        async handler(ctx, _m: { v: number }) {
          await gate();
          ctx.state.n.merge(1);
        },
      }),
    },
  });
}

const workers: Worker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop();
});

async function start(
  guarantee: 'at_least_once' | 'exactly_once',
  gate: () => Promise<void>,
  options: { lines?: Line[]; precreate?: boolean } = {},
) {
  const kafka = new MemoryKafka({ retryBackoffMs: 1 });
  const transport = new MemoryTransport(kafka);
  const admin = await transport.admin();
  await admin.createTopics([{ name: 'pin', partitions: 2 }]);
  // A function topic made earlier with the broker's time retention (before purging existed, or by hand).
  if (options.precreate === true)
    await admin.createTopics([{ name: SECOND, partitions: 2, config: { 'retention.ms': '604800000' } }]);
  const worker = new Worker({
    transport,
    apps: [purgeApp(guarantee, gate)],
    tickIntervalMs: 10,
    purgeIntervalMs: 30,
    metricsPort: 0,
    loadReportIntervalMs: 0,
    metricsLogIntervalMs: 0,
    ...(options.lines === undefined ? {} : { logger: recordingLogger(options.lines) }),
  });
  workers.push(worker);
  await worker.start();
  const producer = transport.producer();
  await producer.connect();
  const send = (n: number, from = 0) =>
    producer.send(
      Array.from({ length: n }, (_, i) => ({
        topic: 'pin',
        key: Buffer.from(`k${(from + i) % 7}`),
        value: Buffer.from(JSON.stringify({ v: from + i })),
      })),
    );
  /** Per partition of `topic`: low watermark and the committed position of `group` (0 when none). */
  const marks = async (topic: string, group: string) => {
    const committed = await admin.fetchCommittedOffsets(group, topic);
    return (await admin.fetchTopicOffsets(topic)).map((o) => ({
      partition: o.partition,
      low: o.low,
      high: o.high,
      committed: Math.max(0, committed.find((c) => c.partition === o.partition)?.offset ?? 0),
    }));
  };
  return { transport, admin, worker, send, marks };
}

describe('purging internal topics', () => {
  for (const guarantee of ['at_least_once', 'exactly_once'] as const) {
    it(`${guarantee}: created without time retention; records are deleted once their group committed them, never before`, async () => {
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      const { admin, worker, send, marks, transport } = await start(guarantee, () => opened);
      const names = [SECOND, `${SECOND}.changelog`, 'pin', ...(guarantee === 'exactly_once' ? [LEASE] : [])];
      const described = new Map((await admin.describeTopics(names)).map((d) => [d.name, d.config]));
      expect(described.get(SECOND)?.['retention.ms']).toBe('-1');
      if (guarantee === 'exactly_once') expect(described.get(LEASE)?.['retention.ms']).toBe('-1');
      else expect(described.has(LEASE)).toBe(false);
      // Not purged: the changelog (compacted) and the user's ingress topic.
      expect(described.get(`${SECOND}.changelog`)?.['retention.ms']).toBeUndefined();
      expect(described.get('pin')?.['retention.ms']).toBeUndefined();

      await send(40);
      await waitFor(async () => (await pendingRecords(transport, 'dirigo.purge.first', 'pin')) === 0);
      await waitFor(
        async () => (await marks(SECOND, 'dirigo.purge.second')).reduce((n, m) => n + m.high, 0) >= 40,
      );
      // `second` is held at its first message: nothing of its topic is committed, so nothing is deleted, however
      // many purge intervals pass.
      await new Promise((r) => setTimeout(r, 300));
      for (const m of await marks(SECOND, 'dirigo.purge.second')) {
        expect(m.committed).toBe(0);
        expect(m.low).toBe(0);
      }
      open();
      const counted = async () => {
        let n = 0;
        for (let k = 0; k < 7; k++)
          n += ((await worker.readState('purge', 'second', `k${k}`, 'n')) as number) ?? 0;
        return n;
      };
      await waitFor(async () => (await counted()) === 40);
      // Purged up to the committed positions, and no further.
      await waitFor(async () =>
        (await marks(SECOND, 'dirigo.purge.second')).every((m) => m.low === m.committed),
      );
      const after = await marks(SECOND, 'dirigo.purge.second');
      expect(after.reduce((n, m) => n + m.committed, 0)).toBeGreaterThanOrEqual(40);
      for (const m of after) expect(m.low).toBeLessThanOrEqual(m.high);
      // The ingress topic is the user's: its consumed records stay.
      for (const m of await marks('pin', 'dirigo.purge.first')) expect(m.low).toBe(0);
      // More input after a purge is processed as well (positions past the purged range), and purged in turn.
      await send(10, 40);
      await waitFor(async () => (await counted()) === 50);
      const before = after.reduce((n, m) => n + m.low, 0);
      await waitFor(async () => {
        const now = await marks(SECOND, 'dirigo.purge.second');
        return now.every((m) => m.low === m.committed) && now.reduce((n, m) => n + m.low, 0) > before;
      });
      expect(await counted()).toBe(50);
      // The worker's endpoint counts the purges of the topic and shows how far each partition is purged.
      const text = await (await fetch(`http://127.0.0.1:${worker.metricsAddress}/metrics`)).text();
      const series = (name: string, labels: string) =>
        new RegExp(`${name}\\{[^}]*${labels}[^}]*\\} (\\d+)`).exec(text)?.[1];
      const topic = 'topic="dirigo\\.purge\\.second"';
      expect(Number(series('dirigo_topic_purges_total', `${topic},outcome="ok"`))).toBeGreaterThanOrEqual(2);
      expect(series('dirigo_topic_purges_total', `${topic},outcome="failed"`)).toBe('0');
      for (const m of await marks(SECOND, 'dirigo.purge.second'))
        expect(series('dirigo_topic_purged_offset', `${topic},partition="${m.partition}"`)).toBe(
          String(m.low),
        );
    });
  }

  it('warns at start about an internal topic that keeps a time retention', async () => {
    const lines: Line[] = [];
    await start('exactly_once', () => Promise.resolve(), { lines, precreate: true });
    const warned = lines.filter(
      (l) => l.topic === SECOND && typeof l.msg === 'string' && l.msg.includes('retention.ms=604800000'),
    );
    expect(warned).toHaveLength(1);
    expect(String(warned[0]!.msg)).toMatch(/set retention\.ms=-1/);
    expect(lines.some((l) => l.topic === LEASE && String(l.msg).includes('retention.ms='))).toBe(false);
  });
});
