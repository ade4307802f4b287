// The live view in a real headless browser (Chromium from Debian's packages, driven by playwright-core): two
// workers on the real broker host two apps (orders, and clicks with a leased hot key); the page served by the
// lessor's metrics port must show the same numbers as its /metrics endpoint, draw its charts, list the hot key's
// lease with its lessee on the other worker, and see the other worker through the control topic. A screenshot
// is kept in integration-tests/artifacts/dashboard.png.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineApp, fn, merge, state } from '@dirigo/core';
import {
  createPolicy,
  pendingRecords,
  registerPolicy,
  type SchedulingPolicy,
  unregisterPolicy,
  Worker,
} from '@dirigo/runtime';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PromScrape, scrape, total } from '../../sdk/testkit/src/driver/prom-text.test-helper.ts';
import { waitFor } from '../../sdk/testkit/src/wait.ts';
import { ensureChromium } from './chromium.ts';
import { kafkaTransport, testLogger, unique } from './harness.ts';

export const SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts', 'dashboard.png');

/** histogram_quantile over the buckets of `app` (all functions), in ms, as the page computes it. */
function quantileMs(s: PromScrape, app: string, q: number): number | null {
  const byLe = new Map<number, number>();
  for (const x of s.samples) {
    if (x.name !== 'dirigo_message_latency_seconds_bucket' || x.labels.app !== app) continue;
    const le = x.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(x.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + x.value);
  }
  const les = [...byLe.keys()].sort((a, b) => a - b);
  const totalCount = byLe.get(Number.POSITIVE_INFINITY) ?? 0;
  if (totalCount === 0) return null;
  const rank = q * totalCount;
  for (let i = 0; i < les.length; i++) {
    const c = byLe.get(les[i]!)!;
    if (c >= rank) {
      if (les[i] === Number.POSITIVE_INFINITY) return les[i - 1]! * 1000;
      const lower = i === 0 ? 0 : les[i - 1]!;
      const below = i === 0 ? 0 : byLe.get(lower)!;
      const inBucket = c - below;
      return (inBucket === 0 ? les[i]! : lower + ((les[i]! - lower) * (rank - below)) / inBucket) * 1000;
    }
  }
  return null;
}

/** The raw number in a cell (data-value), or null when empty. */
async function cellValue(page: Page, testId: string): Promise<number | null> {
  const v = await page.getAttribute(`[data-testid="${testId}"]`, 'data-value', { timeout: 5_000 });
  return v === null || v === '' ? null : Number(v);
}

const forwardHot = (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name: 'dash-forward-hot',
    onArrival: (m) => (m.leasable === true && m.key === 'hot' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};

describe('the live view in a headless browser', () => {
  const ns = unique('dash');
  const transport = kafkaTransport('dash-test');
  const workers: Worker[] = [];
  let chromiumPath = '';
  beforeAll(() => {
    chromiumPath = ensureChromium();
    registerPolicy('dash-forward-hot', forwardHot);
  });
  afterAll(async () => {
    for (const w of workers) await w.stop().catch(() => {});
    unregisterPolicy('dash-forward-hot');
    const admin = await transport.admin();
    await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(ns))).catch(() => {});
    await transport.close();
  });

  it('shows the numbers of the metrics endpoint, the pool, charts and a leased hot key', async () => {
    const t0 = Date.now();
    const orders = defineApp({
      name: 'orders',
      options: { namespace: ns, latencyTargetMs: 100, guarantee: 'at_least_once' },
      ingresses: [{ topic: `${ns}.orders`, to: 'validate' }],
      egresses: { priced: { topic: `${ns}.priced` } },
      functions: {
        validate: fn({ handler: (ctx, m: { n: number }) => ctx.send('price', ctx.key, m) }),
        price: fn({ handler: (ctx, m: { n: number }) => ctx.emit('priced', ctx.key, m.n * 2) }),
      },
    });
    const clicks = defineApp({
      name: 'clicks',
      options: { namespace: ns, latencyTargetMs: 1000, leasing: { idleRevokeMs: 120_000, slots: 4 } },
      ingresses: [{ topic: `${ns}.clicks`, to: 'campaign' }],
      egresses: { reports: { topic: `${ns}.reports` } },
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
    const admin = await transport.admin();
    await admin.createTopics([
      { name: `${ns}.orders`, partitions: 4 },
      { name: `${ns}.clicks`, partitions: 4 },
    ]);
    for (const id of ['w1', 'w2']) {
      const w = new Worker({
        transport: kafkaTransport(`dash-${id}`),
        apps: [orders, clicks],
        workerId: `${ns}-${id}`,
        logger: testLogger(),
        metricsPort: 0,
        controlTopic: `${ns}.control`,
        sessionTimeoutMs: 6_000,
        scheduler: { policy: 'dash-forward-hot' },
      });
      workers.push(w);
    }
    await Promise.all(workers.map((w) => w.start()));
    await waitFor(() => workers.every((w) => w.health().ready), 60_000);
    process.stderr.write(`dashboard test: workers ready after ${Date.now() - t0} ms\n`);

    // Feed both apps for about three seconds: orders everywhere, clicks mostly on one hot key, with reports.
    const producer = transport.producer({ clientId: 'dash-feeder' });
    await producer.connect();
    for (let round = 0; round < 12; round++) {
      const batch = [];
      for (let i = 0; i < 120; i++) {
        const n = round * 120 + i;
        batch.push({
          topic: `${ns}.orders`,
          key: Buffer.from(`o${n % 50}`),
          value: Buffer.from(JSON.stringify({ n })),
        });
      }
      for (let i = 0; i < 60; i++) {
        const key = i % 6 === 0 ? `cold${i}` : 'hot';
        batch.push({ topic: `${ns}.clicks`, key: Buffer.from(key), value: Buffer.from('{}') });
      }
      batch.push({ topic: `${ns}.clicks`, key: Buffer.from('hot'), value: Buffer.from('{"report":true}') });
      await producer.send(batch);
      await new Promise((r) => setTimeout(r, 250));
    }
    await producer.disconnect();
    const mark = (what: string) => process.stderr.write(`dashboard test: ${what} at ${Date.now() - t0} ms\n`);
    mark('fed');
    const groups = [orders, clicks].flatMap((a) => [
      [
        `${ns}.${a.name}.${a.name === 'orders' ? 'validate' : 'campaign'}`,
        `${ns}.${a.name === 'orders' ? 'orders' : 'clicks'}`,
      ],
    ]);
    groups.push([`${ns}.orders.price`, `${ns}.orders.price`]);
    await waitFor(async () => {
      for (const [g, t] of groups) if ((await pendingRecords(transport, g!, t!)) > 0) return false;
      return true;
    }, 60_000);

    mark('processed');
    // The lessor of the hot key serves the page to look at.
    const lessor = workers.find((w) => w.leases().leases.some((l) => l.key === 'hot'));
    expect(lessor, 'a worker leases the hot key').toBeDefined();
    const other = workers.find((w) => w !== lessor)!;
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`http://127.0.0.1:${lessor!.metricsAddress}/dashboard`);
      await page.waitForSelector('#status.live');
      mark('page live');
      // Idle now: wait for two fresh frames, then the page and a scrape must agree.
      const framesNow = Number((await page.getAttribute('body', 'data-frames')) ?? '0');
      await page.waitForFunction(`Number(document.body.dataset.frames ?? 0) >= ${framesNow + 2}`, undefined, {
        timeout: 10_000,
      });
      const s = await scrape(lessor!.metricsAddress!);
      mark('scraped');
      for (const app of ['orders', 'clicks']) {
        expect(await cellValue(page, `app-${app}-met`), `${app} met`).toBe(
          total(s, 'dirigo_deadlines_met_total', { app }),
        );
        expect(await cellValue(page, `app-${app}-missed`), `${app} missed`).toBe(
          total(s, 'dirigo_deadlines_missed_total', { app }),
        );
        expect(await cellValue(page, `app-${app}-target`)).toBe(
          total(s, 'dirigo_app_latency_target_seconds', { app }) * 1000,
        );
        for (const [q, id] of [
          [0.5, 'p50-all'],
          [0.99, 'p99-all'],
        ] as const) {
          const want = quantileMs(s, app, q);
          const got = await cellValue(page, `app-${app}-${id}`);
          if (want === null) expect(got).toBeNull();
          else expect(got, `${app} ${id}`).toBeCloseTo(want, 6);
        }
      }
      for (const [app, f] of [
        ['orders', 'validate'],
        ['orders', 'price'],
        ['clicks', 'campaign'],
      ] as const) {
        expect(await cellValue(page, `fn-${app}-${f}-processed`), `${app}.${f} processed`).toBe(
          total(s, 'dirigo_records_processed_total', { app, fn: f }),
        );
        expect(await cellValue(page, `fn-${app}-${f}-lag`), `${app}.${f} lag`).toBe(
          total(s, 'dirigo_consumer_lag_offsets', { app, fn: f }),
        );
      }
      expect(total(s, 'dirigo_records_processed_total', { app: 'orders' })).toBeGreaterThan(0);
      // The pool: this worker from its scheduler, the other from its load reports on the control topic.
      const self = lessor!.id.replace(/[^A-Za-z0-9_-]/g, '_');
      expect(await cellValue(page, `worker-${self}-queued`)).toBe(total(s, 'dirigo_scheduler_queue_length'));
      expect(await page.textContent(`[data-testid="worker-${other.id}-name"]`)).toBe(other.id);
      // Leasing: the hot key's lease with its lessee on the other worker, and the counters of the endpoint.
      expect(await page.textContent('[data-testid="lease-clicks-campaign-hot-lessees"]')).toContain(other.id);
      expect(await cellValue(page, 'lease-forwarded')).toBe(total(s, 'dirigo_lease_forwarded_total'));
      expect(await cellValue(page, 'lease-barriers')).toBe(total(s, 'dirigo_lease_barriers_total'));
      expect(total(s, 'dirigo_lease_barriers_total')).toBeGreaterThan(0);
      // Charts: uPlot drew each panel; the hot key has its series.
      expect(await page.locator('.uplot canvas').count()).toBeGreaterThanOrEqual(8);
      expect(await page.textContent('#chart-lessees')).toContain('campaign/hot');
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
    }
    process.stderr.write(`dashboard test: ${Date.now() - t0} ms; screenshot ${SCREENSHOT}\n`);
  });
});
