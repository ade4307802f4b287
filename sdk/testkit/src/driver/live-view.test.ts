// The live view's server side on the test driver, without a browser: the page and uPlot are served from the
// worker's metrics port, frames carry the numbers of the metrics endpoint, and the event stream starts with the
// kept history. (integration-tests/src/dashboard.test.ts loads the page in headless Chromium.)
import { defineApp, fn } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { scrape, total } from './prom-text.test-helper.ts';
import { TestDriver } from './test-driver.ts';

const app = defineApp({
  name: 'shop',
  options: { latencyTargetMs: 50 },
  ingresses: [{ topic: 'orders', to: 'order' }],
  egresses: { out: { topic: 'out' } },
  functions: { order: fn({ handler: (ctx, m: number) => ctx.emit('out', ctx.key, m) }) },
});

describe('the live view endpoint', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('serves the page, uPlot and frames that agree with /metrics', async () => {
    driver = await TestDriver.start(app, { metrics: true });
    const port = driver.workers[0]!.metricsAddress!;
    const base = `http://127.0.0.1:${port}`;
    const page = await fetch(`${base}/dashboard`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('/dashboard/vendor/uPlot.iife.min.js');
    const uplot = await fetch(`${base}/dashboard/vendor/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain('uPlot');
    expect((await fetch(`${base}/dashboard/dashboard.js`)).status).toBe(200);

    const now = driver.clock.now();
    // Latencies 10 ms (met) and 100 ms (missed) against the 50 ms target.
    await driver.pipe(
      'orders',
      Array.from({ length: 20 }, (_, i) => ({
        key: `k${i}`,
        value: i,
        timestamp: now - (i % 2 === 0 ? 10 : 100),
      })),
    );
    const frame = (await (await fetch(`${base}/dashboard/frame`)).json()) as {
      apps: Record<
        string,
        { met: number; missed: number; satisfaction: number; p50AllMs: number; targetMs: number }
      >;
      functions: { app: string; fn: string; processed: number; lag: number }[];
      workers: { id: string; self: boolean }[];
    };
    // The first frame may predate the records: take a fresh one through the event stream's history instead.
    const s = await scrape(port);
    const fresh = await sampleUntil(base, (f) => f.apps.shop?.met === 10);
    expect(fresh.apps.shop).toMatchObject({ met: 10, missed: 10, satisfaction: 0.5, targetMs: 50 });
    expect(fresh.apps.shop!.met).toBe(total(s, 'dirigo_deadlines_met_total', { app: 'shop' }));
    expect(fresh.functions.find((f) => f.fn === 'order')?.processed).toBe(
      total(s, 'dirigo_records_processed_total', { app: 'shop', fn: 'order' }),
    );
    expect(fresh.workers.map((w) => w.id)).toEqual(['test-worker-0']);
    expect(frame.workers[0]?.self).toBe(true);

    // The event stream starts with the history.
    const ctrl = new AbortController();
    const events = await fetch(`${base}/dashboard/events`, { signal: ctrl.signal });
    expect(events.headers.get('content-type')).toBe('text/event-stream');
    const reader = events.body!.getReader();
    let text = '';
    while (!text.includes('\n\n', text.indexOf('event: history')))
      text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('event: history');
    const history = JSON.parse(/event: history\ndata: (.*)\n/.exec(text)![1]!) as unknown[];
    expect(history.length).toBeGreaterThan(0);
    ctrl.abort();
  });
});

type Frame = {
  apps: Record<string, { met: number; missed: number; satisfaction: number; targetMs: number }>;
  functions: { app: string; fn: string; processed: number }[];
  workers: { id: string }[];
};

/** Frames are sampled once a second: wait for one that satisfies `ok`. */
async function sampleUntil(base: string, ok: (f: Frame) => boolean): Promise<Frame> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const f = (await (await fetch(`${base}/dashboard/frame`)).json()) as Frame;
    if (ok(f) || Date.now() > deadline) return f;
    await new Promise((r) => setTimeout(r, 100));
  }
}
