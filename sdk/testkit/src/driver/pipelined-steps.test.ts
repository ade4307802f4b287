// Pipelined steps (`WorkerOptions.pipelineSteps`) on the in-memory cluster: a partition's next step runs while the
// previous one commits, and a commit that fails makes the records of its step, and of every step after it, run
// again: nothing lost, nothing doubled, the state as in a run without the failure. The transactional producers of
// the test transport take `commitMs` to commit and can fail chosen commits (aborting them, as a broker would).
import { defineApp, fn, state, TransportError } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';
import { hookTransactions } from './transactions.test-helper.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A memory transport whose transactions take `commitMs` to commit, and fail the commits numbered in `fail`. */
class SlowCommits extends MemoryTransport {
  commitMs = 0;
  /** 1-based numbers of the commits (of every transactional producer) that fail, once each. */
  readonly fail = new Set<number>();
  commits = 0;
  failed = 0;
  /** What happened, in order: `run <value>` (a handler), `commit <n>` / `committed <n>` / `failed <n>`. */
  readonly events: string[] = [];

  constructor(kafka: MemoryKafka) {
    super(kafka);
    hookTransactions(this, (txn) => ({
      commit: async () => {
        const n = ++this.commits;
        this.events.push(`commit ${n}`);
        await sleep(this.commitMs);
        if (this.fail.has(n)) {
          this.failed++;
          this.events.push(`failed ${n}`);
          await txn.abort();
          throw new TransportError('commit: the broker did not answer in time', { retriable: true });
        }
        await txn.commit();
        this.events.push(`committed ${n}`);
      },
    }));
  }
}

/** Counts each key's records (state) and emits every count. */
const counter = (events: string[]) =>
  defineApp({
    name: 'count',
    options: { guarantee: 'exactly_once' },
    ingresses: [{ topic: 'in', to: 'count' }],
    egresses: { out: { topic: 'out' } },
    functions: {
      count: fn({
        state: { n: state.value<number>() },
        handler(ctx, v: number) {
          events.push(`run ${v}`);
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, n);
        },
      }),
    },
  });

const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

async function start(
  pipelineSteps: boolean,
  commitMs: number,
  fail: readonly number[] = [],
  tickIntervalMs = 20,
) {
  const kafka = new MemoryKafka({ retryBackoffMs: 1 });
  const transport = new SlowCommits(kafka);
  transport.commitMs = commitMs;
  for (const n of fail) transport.fail.add(n);
  await (await transport.admin()).createTopics([
    { name: 'in', partitions: 1 },
    { name: 'out', partitions: 1 },
  ]);
  const worker = new Worker({
    transport,
    apps: [counter(transport.events)],
    pipelineSteps,
    tickIntervalMs,
  });
  await worker.start();
  running.push(async () => {
    await worker.stop();
    await kafka.close();
  });
  const producer = transport.producer();
  await producer.connect();
  const feed = (v: number, key = 'k') =>
    producer.send([{ topic: 'in', key: Buffer.from(key), value: Buffer.from(JSON.stringify(v)) }]);
  const outputs = async (): Promise<string[]> => {
    const out: string[] = [];
    await transport.readToEnd([{ topic: 'out', partition: 0, fromOffset: 0 }], (records) => {
      for (const r of records) out.push(`${r.key?.toString()}=${r.value?.toString()}`);
    });
    return out;
  };
  return { transport, worker, feed, outputs };
}

describe('pipelined steps', () => {
  it('run the next step while the previous one commits (and only then, without the option)', async () => {
    for (const pipelined of [true, false]) {
      const { transport, feed, outputs } = await start(pipelined, 150);
      await feed(1);
      await waitFor(() => transport.events.includes('commit 1'), 5_000);
      await feed(2);
      await waitFor(() => transport.events.includes('committed 2'), 5_000);
      const e = transport.events;
      const overlapped = e.indexOf('run 2') < e.indexOf('committed 1');
      expect([pipelined, overlapped]).toEqual([pipelined, pipelined]);
      // Still one commit at a time, in order.
      expect(e.indexOf('commit 2')).toBeGreaterThan(e.indexOf('committed 1'));
      expect(await outputs()).toEqual(['k=1', 'k=2']);
    }
  });

  it('a failed commit runs its records and those of the steps after it again: exactly once, state included', async () => {
    // Commits 2 and 5 fail while records keep coming (the next batches run during them).
    const { transport, worker, feed, outputs } = await start(true, 30, [2, 5]);
    for (let v = 1; v <= 30; v++) {
      await feed(v, `k${v % 3}`);
      await sleep(7);
    }
    await waitFor(async () => (await outputs()).length >= 30, 10_000);
    await sleep(200);
    expect(transport.failed).toBe(2);
    const out = await outputs();
    // Per key, counts 1..10 in order: nothing lost, nothing counted twice.
    for (const k of ['k0', 'k1', 'k2']) {
      expect(out.filter((o) => o.startsWith(`${k}=`))).toEqual(
        Array.from({ length: 10 }, (_, i) => `${k}=${i + 1}`),
      );
    }
    // Records of the failed steps ran twice (once uncommitted).
    expect(transport.events.filter((x) => x.startsWith('run ')).length).toBeGreaterThan(30);
    expect(worker.appStats().get('count')?.status).toBe('running');
  });

  it('a commit that fails when no record follows is retried by itself (nothing waits for another batch)', async () => {
    // No ticks either (a failed commit shows in the next tick's step when a tick runs one).
    const { transport, feed, outputs } = await start(true, 10, [1], 0);
    await feed(1);
    await waitFor(async () => (await outputs()).length === 1, 5_000);
    expect(transport.failed).toBe(1);
    expect(await outputs()).toEqual(['k=1']);
  });
});
