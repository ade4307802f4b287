// The Grafana dashboard (docs/grafana/dirigo-pool.json) against a real scrape: every query (panels and template
// variables) parses as PromQL with Prometheus' own grammar (@prometheus-io/lezer-promql), every metric it names
// is a family a worker's /metrics declares, and every label it groups or filters by is on that metric's series.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineApp, fn, merge, state } from '@dirigo/core';
import { createPolicy, registerPolicy, unregisterPolicy } from '@dirigo/runtime';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PromScrape, scrape } from './prom-text.test-helper.ts';
import { TestDriver } from './test-driver.ts';

const DASHBOARD = join(dirname(fileURLToPath(import.meta.url)), '../../../../docs/grafana/dirigo-pool.json');

interface Query {
  readonly where: string;
  readonly expr: string;
}

/** Every query of the dashboard: panel targets and template variables. */
function queries(dashboard: {
  panels: { title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query?: unknown }[] };
}): Query[] {
  const out: Query[] = [];
  for (const p of dashboard.panels)
    for (const t of p.targets ?? []) out.push({ where: p.title, expr: t.expr });
  for (const v of dashboard.templating.list) {
    const q = v.query as { query?: string } | string | undefined;
    const text = typeof q === 'string' ? q : q?.query;
    if (text?.startsWith('label_values(') === true) {
      // label_values(metric, label) is Grafana's; its first argument is a PromQL selector.
      const [, metric, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(text)!;
      out.push({ where: `variable ${v.name}`, expr: `count by (${label}) (${metric})` });
    }
  }
  return out;
}

/** Grafana's variables replaced by values PromQL accepts. */
const concrete = (expr: string) =>
  expr.replaceAll('$__rate_interval', '1m').replace(/\$\{?(app|worker)\}?/g, '.*');

interface Parsed {
  readonly errors: number;
  readonly metrics: Set<string>;
  /** Labels used in grouping and matchers, per query. */
  readonly labels: Set<string>;
}

function parse(expr: string): Parsed {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  let errors = 0;
  parser.parse(expr).iterate({
    enter(n) {
      if (n.type.isError) errors++;
      const text = expr.slice(n.from, n.to);
      if (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector') metrics.add(text);
      if (n.name === 'LabelName') labels.add(text);
    },
  });
  return { errors, metrics, labels };
}

/** The family a sample name belongs to (histogram series have suffixes). */
function familyOf(s: PromScrape, name: string): string | undefined {
  if (s.types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && s.types.get(m[1]!) === 'histogram' ? m[1] : undefined;
}

beforeAll(() =>
  registerPolicy('grafana-forward-hot', () => {
    const fifo = createPolicy('fifo');
    return {
      name: 'grafana-forward-hot',
      onArrival: (m) => (m.key === 'hot' ? { forward: '' } : 'admit'),
      pickNext: (v) => fifo.pickNext(v),
    };
  }),
);
afterAll(() => unregisterPolicy('grafana-forward-hot'));

describe('the Grafana dashboard', () => {
  it('queries only metrics and labels that a real scrape has, in valid PromQL', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const clicks = defineApp({
      name: 'clicks',
      options: { leasing: { idleRevokeMs: 60_000 } },
      ingresses: [{ topic: 'clicks', to: 'campaign' }],
      egresses: { reports: { topic: 'reports' } },
      functions: {
        campaign: fn({
          leasable: true,
          state: { n: state.mergeable(merge.sum()) },
          critical: (m: { report?: boolean }) => m.report === true,
          handler(ctx, m: { report?: boolean }) {
            if (m.report === true) ctx.emit('reports', ctx.key, ctx.state.n.get());
            else ctx.state.n.merge(1);
          },
        }),
      },
    });
    const driver = await TestDriver.start(clicks, {
      workers: 2,
      metrics: true,
      scheduler: { policy: 'grafana-forward-hot' },
    });
    try {
      await driver.pipe('clicks', [
        ...Array.from({ length: 20 }, () => ({ key: 'hot', value: {} })),
        { key: 'hot', value: { report: true } },
        { key: 'cold', value: {} },
      ]);
      await driver.advance(100);
      const scrapes = await Promise.all(driver.workers.map((w) => scrape(w.metricsAddress!)));
      const found = queries(dashboard);
      expect(found.length).toBeGreaterThan(15);
      const used = new Set<string>();
      for (const q of found) {
        const p = parse(concrete(q.expr));
        expect(p.errors, `${q.where}: ${q.expr}`).toBe(0);
        expect(p.metrics.size, `${q.where}: names no metric`).toBeGreaterThan(0);
        for (const metric of p.metrics) {
          used.add(metric);
          const s = scrapes.find((x) => familyOf(x, metric) !== undefined);
          expect(s, `${q.where}: ${metric} is not in the scrape`).toBeDefined();
          // Labels the query groups or filters by exist on the metric's series (le on histogram buckets).
          const series = scrapes.flatMap((x) => x.samples).filter((x) => x.name === metric);
          if (series.length === 0) continue;
          const have = new Set(series.flatMap((x) => Object.keys(x.labels)));
          for (const label of p.labels) {
            if (p.metrics.size === 1)
              expect(have.has(label), `${q.where}: ${metric} has no label ${label}`).toBe(true);
          }
        }
      }
      // The panels of the live view are all there.
      for (const m of [
        'dirigo_deadlines_met_total',
        'dirigo_message_latency_seconds_bucket',
        'dirigo_app_latency_target_seconds',
        'dirigo_scheduler_queue_length',
        'dirigo_scheduler_utilisation_ratio',
        'dirigo_consumer_lag_offsets',
        'dirigo_lease_active',
        'dirigo_lease_barriers_total',
      ])
        expect(used.has(m), m).toBe(true);
    } finally {
      await driver.stop();
    }
  });

  it('would notice a query of a metric that does not exist', () => {
    const p = parse(
      concrete('sum by (app) (rate(dirigo_no_such_metric_total{app=~"$app"}[$__rate_interval]))'),
    );
    expect(p.errors).toBe(0);
    expect([...p.metrics]).toEqual(['dirigo_no_such_metric_total']);
    expect(parse('sum by (app (rate(x[1m])').errors).toBeGreaterThan(0);
  });
});
