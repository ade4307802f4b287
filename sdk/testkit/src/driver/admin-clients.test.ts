// A worker holds one admin client, however many partitions it opens and however often its metrics are scraped,
// and closes it when it stops. `Transport.admin()` makes a client of its own at each call; before SharedAdminTransport
// the runtime asked for one per partition opened (twice with state), per checkpoint, per metrics scrape (the lag
// sampler), and closed none of them.
import { type Admin, defineApp, fn, state } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';
import { scrape, total } from './prom-text.test-helper.ts';

/** Counts the admin clients handed out and how many of them were closed. */
class CountingTransport extends MemoryTransport {
  opened = 0;
  closed = 0;
  override async admin(): Promise<Admin> {
    const admin = await super.admin();
    this.opened++;
    return new Proxy(admin, {
      get: (target, property) => {
        if (property === 'close')
          return () => {
            this.closed++;
            return target.close();
          };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}

const counter = defineApp({
  name: 'counter',
  options: { guarantee: 'exactly_once', defaultPartitions: 8 },
  ingresses: [{ topic: 'in', to: 'count' }],
  egresses: { out: { topic: 'out' } },
  functions: {
    count: fn({
      state: { n: state.value<number>() },
      handler(ctx, _m: unknown) {
        const n = (ctx.state.n.get() ?? 0) + 1;
        ctx.state.n.set(n);
        ctx.emit('out', ctx.key, n);
      },
    }),
  },
});

describe('admin clients of a worker', () => {
  it('opens one admin client for all its partitions and metrics scrapes, and closes it when it stops', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    await (await new MemoryTransport(kafka).admin()).createTopics([{ name: 'in', partitions: 8 }]);
    const transport = new CountingTransport(kafka);
    const worker = new Worker({
      transport,
      apps: [counter],
      tickIntervalMs: 0,
      metricsPort: 0,
      loadReportIntervalMs: 0,
    });
    await worker.start();
    try {
      const producer = transport.producer();
      await producer.connect();
      await producer.send(
        Array.from({ length: 64 }, (_, i) => ({
          topic: 'in',
          key: Buffer.from(`k${i}`),
          value: Buffer.from('1'),
        })),
      );
      await waitFor(async () => {
        const s = await scrape(worker.metricsAddress!);
        return total(s, 'dirigo_records_processed_total', { app: 'counter', fn: 'count' }) === 64;
      });
      for (let i = 0; i < 5; i++) await scrape(worker.metricsAddress!);
      // Eight stateful partitions opened and six scrapes sampled the lag: one client for all of it.
      expect(transport.opened).toBe(1);
      expect(transport.closed).toBe(0);
    } finally {
      await worker.stop();
    }
    expect(transport.closed).toBe(transport.opened);
    await transport.close();
  });
});
