// A handler can only hurt its own key, on the real broker: a handler that never resolves holds its partition,
// but the function's other partitions keep fetching and processing (its step is detached from the fetch), and
// the hung message is given up after handlerTimeoutMs (dead letter with stage 'timeout').
import { defineApp, fn, partitionFor, state } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { kafkaTransport, produceJson, readJson, testLogger, unique } from './harness.ts';

const stopAll: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stopAll.splice(0).reverse()) await s().catch(() => {});
});

describe('a hung handler on a real broker', () => {
  it("keeps the function's other partitions running while it hangs, then dead-letters it", async () => {
    const ns = unique('it-hung');
    const input = `${ns}-in`;
    const t = kafkaTransport('it-hung-setup');
    stopAll.push(() => t.close());
    await (await t.admin()).createTopics([{ name: input, partitions: 4 }]);
    const app = defineApp({
      name: 'hung',
      options: { namespace: ns, handlerTimeoutMs: 20_000 },
      ingresses: [{ topic: input, to: 'f' }],
      egresses: { out: { topic: `${ns}-out` } },
      functions: {
        f: fn({
          state: { n: state.value<number>() },
          async handler(ctx) {
            if (ctx.key === 'stuck') await new Promise(() => {}); // never resolves
            const n = (ctx.state.n.get() ?? 0) + 1;
            ctx.state.n.set(n);
            ctx.emit('out', ctx.key, { n });
          },
        }),
      },
    });
    const transport = kafkaTransport('w-hung');
    const worker = new Worker({ transport, apps: [app], logger: testLogger(), workerId: 'w-hung' });
    stopAll.push(async () => {
      await worker.stop();
      await transport.close();
    });
    await worker.start();
    const stuckPartition = partitionFor(Buffer.from('stuck'), 4);
    // Keys on the three other partitions.
    const others: string[] = [];
    for (let i = 0; others.length < 30; i++)
      if (partitionFor(Buffer.from(`k${i}`), 4) !== stuckPartition) others.push(`k${i}`);
    await produceJson(t, input, [{ key: 'stuck', value: {} }]);
    await new Promise((r) => setTimeout(r, 1_500)); // the stuck step is running
    const started = Date.now();
    await produceJson(
      t,
      input,
      others.map((key) => ({ key, value: {} })),
    );
    await waitFor(async () => (await readJson(t, `${ns}-out`)).length === 30, 15_000, { intervalMs: 250 });
    const tookMs = Date.now() - started;
    // Well before the hung handler's 20 s limit: the other partitions did not wait for it.
    expect(tookMs).toBeLessThan(15_000);
    // Then the hung message is given up and dead-lettered, and its partition goes on.
    await produceJson(t, input, [{ key: 'stuck-after', value: {} }]);
    await waitFor(async () => (await readJson(t, `${ns}.hung.dlq`)).length === 1, 40_000, {
      intervalMs: 500,
    });
    const dlq = await readJson<unknown>(t, `${ns}.hung.dlq`);
    expect(dlq[0]!.headers['dirigo-error-stage']?.toString()).toBe('timeout');
  }, 90_000);
});
