// The Prometheus endpoint on the test driver: each worker's /metrics, scraped over HTTP and parsed by a
// Prometheus text parser, has latency and queueing histograms, deadline counters, record and step counters,
// consumer lag per partition and actor mode transitions under the documented names; the histograms of two
// workers add up to the histogram of everything both processed.
import {
  defineApp,
  fn,
  merge,
  type Producer,
  type ProducerOptions,
  state,
  TransportError,
} from '@dirigo/core';
import {
  createPolicy,
  registerPolicy,
  type SchedulingPolicy,
  unregisterPolicy,
  Worker,
} from '@dirigo/runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';
import { type PromScrape, scrape, total } from './prom-text.test-helper.ts';
import { TestDriver } from './test-driver.ts';

/** Closed: `bill` handlers wait (their steps stay uncommitted, so `bill` lags). */
let gate: { wait: Promise<void>; open: () => void };
const closeGate = () => {
  let open = () => {};
  const wait = new Promise<void>((r) => {
    open = r;
  });
  gate = { wait, open };
};

const shop = defineApp({
  name: 'shop',
  options: { latencyTargetMs: 50, guarantee: 'at_least_once' },
  ingresses: [{ topic: 'orders', to: 'order' }],
  egresses: { bills: { topic: 'bills' } },
  functions: {
    order: fn({
      handler(ctx, m: { id: number; poison?: boolean }) {
        if (m.poison === true) throw new Error('poison order');
        ctx.send('bill', ctx.key, m);
      },
    }),
    bill: fn({
      async handler(ctx, m: { id: number }) {
        await gate.wait;
        ctx.emit('bills', ctx.key, m.id);
      },
    }),
  },
});

const reports = defineApp({
  name: 'reports',
  options: { latencyTargetMs: 10 },
  ingresses: [{ topic: 'events', to: 'tally' }],
  functions: {
    tally: fn({
      state: { n: state.value<number>() },
      handler(ctx) {
        ctx.state.n.set((ctx.state.n.get() ?? 0) + 1);
      },
    }),
  },
});

const BOUNDS = [
  '0.001',
  '0.0025',
  '0.005',
  '0.01',
  '0.025',
  '0.05',
  '0.1',
  '0.25',
  '0.5',
  '1',
  '2.5',
  '5',
  '10',
  '30',
  '60',
  '120',
  '+Inf',
];

/** Cumulative count per `le` of the given latencies (ms). */
const expectedBuckets = (latenciesMs: readonly number[]) =>
  Object.fromEntries(
    BOUNDS.map((le) => [le, latenciesMs.filter((ms) => le === '+Inf' || ms / 1000 <= Number(le)).length]),
  );

const scrapeAll = (driver: TestDriver): Promise<PromScrape[]> =>
  Promise.all(driver.workers.map((w) => scrape(w.metricsAddress!)));

describe('Prometheus metrics on the test driver', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    gate?.open();
    await driver?.stop();
    driver = undefined;
  });

  it('exports histograms, deadline, record and lag metrics per app and function; two workers add up', async () => {
    closeGate();
    driver = await TestDriver.start([shop, reports], { workers: 2, metrics: true });
    const now = driver.clock.now();
    // Latencies 0, 30, 60, 90 and 120 ms (the test clock stands still): met up to the 50 ms target.
    const lat = (i: number) => (i % 5) * 30;
    const N = 100;
    const orders = Array.from({ length: N }, (_, i) => ({
      key: `c${i % 17}`,
      value: { id: i },
      timestamp: now - lat(i),
    }));
    await driver.pipe(
      'orders',
      [...orders, { key: 'bad', value: { id: -1, poison: true }, timestamp: now }],
      {
        settle: false,
      },
    );
    await driver.pipe(
      'events',
      Array.from({ length: 40 }, (_, i) => ({ key: `e${i}`, value: {}, timestamp: now - 20 })),
      { settle: false },
    );

    // While `bill` handlers wait, its input lags by exactly what `order` sent (at-least-once: no commit markers).
    await waitFor(async () => {
      const s = await scrapeAll(driver!);
      return total(s, 'dirigo_records_processed_total', { app: 'shop', fn: 'order' }) === N;
    });
    const blocked = await scrapeAll(driver);
    expect(total(blocked, 'dirigo_consumer_lag_offsets', { app: 'shop', fn: 'bill' })).toBe(N);
    expect(total(blocked, 'dirigo_records_dead_lettered_total', { app: 'shop', fn: 'order' })).toBe(1);

    gate.open();
    await driver.settle();
    const scrapes = await scrapeAll(driver);
    for (const [i, s] of scrapes.entries()) {
      expect(s.types.get('dirigo_message_latency_seconds')).toBe('histogram');
      expect(s.types.get('dirigo_message_queueing_seconds')).toBe('histogram');
      for (const name of [
        'dirigo_deadlines_met_total',
        'dirigo_deadlines_missed_total',
        'dirigo_records_processed_total',
        'dirigo_records_dead_lettered_total',
        'dirigo_records_forwarded_total',
        'dirigo_steps_total',
        'dirigo_steps_retried_total',
        'dirigo_actor_mode_transitions_total',
        'dirigo_actor_blocked_seconds_total',
      ])
        expect(s.types.get(name), name).toBe('counter');
      expect(s.types.get('dirigo_consumer_lag_offsets')).toBe('gauge');
      expect(total(s, 'dirigo_build_info')).toBe(1);
      // Every series names its worker; no quantiles and no actor keys in labels.
      for (const x of s.samples) {
        expect(x.labels.worker).toBe(`test-worker-${i}`);
        expect(x.labels.quantile).toBeUndefined();
        expect(Object.values(x.labels).some((v) => /^c\d+$|^e\d+$/.test(v))).toBe(false);
      }
      // Both workers did part of the work: the sums below are sums of two real histograms.
      expect(total(s, 'dirigo_message_latency_seconds_count', { app: 'shop', fn: 'order' })).toBeGreaterThan(
        0,
      );
    }

    // The two workers' buckets add up to the histogram of every message, per function.
    const orderLatencies = [...orders.map((_, i) => lat(i)), 0];
    const billLatencies = orders.map((_, i) => lat(i));
    for (const [fnName, lats] of [
      ['order', orderLatencies],
      ['bill', billLatencies],
    ] as const) {
      const want = expectedBuckets(lats);
      for (const le of BOUNDS) {
        expect(
          total(scrapes, 'dirigo_message_latency_seconds_bucket', { app: 'shop', fn: fnName, le }),
          `${fnName} le=${le}`,
        ).toBe(want[le]);
      }
      expect(total(scrapes, 'dirigo_message_latency_seconds_count', { app: 'shop', fn: fnName })).toBe(
        lats.length,
      );
      expect(total(scrapes, 'dirigo_message_latency_seconds_sum', { app: 'shop', fn: fnName })).toBeCloseTo(
        lats.reduce((a, b) => a + b, 0) / 1000,
      );
    }
    // Satisfaction is a query over two counters: met within 50 ms (0 and 30 ms), missed otherwise.
    const met = orders.filter((_, i) => lat(i) <= 50).length;
    expect(total(scrapes, 'dirigo_deadlines_met_total', { app: 'shop', fn: 'bill' })).toBe(met);
    expect(total(scrapes, 'dirigo_deadlines_missed_total', { app: 'shop', fn: 'bill' })).toBe(N - met);
    expect(total(scrapes, 'dirigo_deadlines_met_total', { app: 'reports' })).toBe(0);
    expect(total(scrapes, 'dirigo_deadlines_missed_total', { app: 'reports' })).toBe(40);
    expect(total(scrapes, 'dirigo_records_processed_total', { app: 'shop', fn: 'bill' })).toBe(N);
    expect(total(scrapes, 'dirigo_records_processed_total', { app: 'reports', fn: 'tally' })).toBe(40);
    expect(total(scrapes, 'dirigo_app_latency_target_seconds', { app: 'shop' })).toBe(0.05 * 2);
    // Caught up: no lag left on `bill`; every partition of `tally` is owned by exactly one worker.
    expect(total(scrapes, 'dirigo_consumer_lag_offsets', { app: 'shop', fn: 'bill' })).toBe(0);
    const tallyPartitions = scrapes
      .flatMap((s) => s.samples)
      .filter((x) => x.name === 'dirigo_consumer_lag_offsets' && x.labels.fn === 'tally')
      .map((x) => x.labels.partition)
      .sort();
    expect(tallyPartitions).toEqual(['0', '1', '2', '3']);
    // The JSON snapshot (benches read it) still counts the same completions.
    const completed = driver.workers.reduce(
      (a, w) => a + (w.schedulerMetrics()?.apps.shop?.completed ?? 0),
      0,
    );
    expect(completed).toBe(orderLatencies.length + billLatencies.length);
  });

  it('counts actor mode transitions, time blocked and forwarded records of a leased hot key', async () => {
    const clicks = defineApp({
      name: 'clicks',
      options: { leasing: { idleRevokeMs: 1_000 } },
      ingresses: [{ topic: 'clicks', to: 'campaign' }],
      egresses: { reports: { topic: 'click-reports' } },
      functions: {
        campaign: fn({
          leasable: true,
          state: { clicks: state.mergeable(merge.sum()) },
          critical: (m: { report?: boolean }) => m.report === true,
          handler(ctx, m: { report?: boolean }) {
            if (m.report === true) ctx.emit('reports', ctx.key, ctx.state.clicks.get());
            else ctx.state.clicks.merge(1);
          },
        }),
      },
    });
    driver = await TestDriver.start(clicks, {
      workers: 2,
      metrics: true,
      scheduler: { policy: 'forward-hot' },
    });
    await driver.pipe(
      'clicks',
      Array.from({ length: 30 }, () => ({ key: 'hot', value: {} })),
    );
    await driver.pipe('clicks', { key: 'hot', value: { report: true } });
    const reportsOut = await driver.output<number>('click-reports');
    expect(reportsOut.map((r) => r.value)).toEqual([30]);
    const s = await scrapeAll(driver);
    const forwarded = driver.leases().counters.forwarded;
    expect(forwarded).toBeGreaterThan(0);
    expect(total(s, 'dirigo_records_forwarded_total', { app: 'clicks', fn: 'campaign' })).toBe(forwarded);
    for (const [from, to] of [
      ['RUNNABLE', 'BLOCKED'],
      ['BLOCKED', 'CRITICAL'],
      ['CRITICAL', 'RUNNABLE'],
    ]) {
      expect(
        total(s, 'dirigo_actor_mode_transitions_total', {
          app: 'clicks',
          fn: 'campaign',
          from: from!,
          to: to!,
        }),
        `${from}>${to}`,
      ).toBeGreaterThanOrEqual(1);
    }
    expect(s.some((x) => x.samples.some((y) => y.name === 'dirigo_actor_blocked_seconds_total'))).toBe(true);
    expect(total(s, 'dirigo_lease_granted_total')).toBeGreaterThanOrEqual(1);
  });
});

/** Forwards every ordinary message of key 'hot' (to any lessee); FIFO otherwise. */
const forwardHot = (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name: 'forward-hot',
    onArrival: (m) => (m.key === 'hot' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};
beforeAll(() => registerPolicy('forward-hot', forwardHot));
afterAll(() => unregisterPolicy('forward-hot'));

/** Transactional sends fail once with a retriable error, then succeed. */
class FailOnceTransport extends MemoryTransport {
  failures = 1;
  override producer(options: ProducerOptions = {}): Producer {
    const inner = super.producer(options);
    if (options.transactionalId === undefined) return inner;
    return {
      ...inner,
      connect: () => inner.connect(),
      disconnect: () => inner.disconnect(),
      send: (records) => inner.send(records),
      beginTransaction: async () => {
        const txn = await inner.beginTransaction();
        return {
          ...txn,
          send: async (records) => {
            if (this.failures-- > 0)
              throw new TransportError('produce: broker not available', { retriable: true });
            return txn.send(records);
          },
          sendOffsets: (g, o) => txn.sendOffsets(g, o),
          commit: () => txn.commit(),
          abort: () => txn.abort(),
        };
      },
    };
  }
}

describe('retried steps', () => {
  it('are counted per app and function', async () => {
    const transport = new FailOnceTransport(new MemoryKafka({ retryBackoffMs: 1 }));
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 1 }]);
    const app = defineApp({
      name: 'flaky',
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: { f: fn({ handler: (ctx, m: unknown) => ctx.emit('out', ctx.key, m) }) },
    });
    const worker = new Worker({
      transport,
      apps: [app],
      tickIntervalMs: 0,
      metricsPort: 0,
      loadReportIntervalMs: 0,
    });
    await worker.start();
    try {
      const producer = transport.producer();
      await producer.connect();
      await producer.send([{ topic: 'in', key: Buffer.from('k'), value: Buffer.from('1') }]);
      await waitFor(async () => {
        const s = await scrape(worker.metricsAddress!);
        return total(s, 'dirigo_records_processed_total', { app: 'flaky', fn: 'f' }) === 1;
      });
      const s = await scrape(worker.metricsAddress!);
      expect(total(s, 'dirigo_steps_retried_total', { app: 'flaky', fn: 'f' })).toBe(1);
      expect(total(s, 'dirigo_steps_total', { app: 'flaky', fn: 'f' })).toBe(1);
    } finally {
      await worker.stop();
    }
  });
});
