import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Dispatcher } from './dispatcher.ts';
import { InMemorySchedulerMetrics } from './metrics.ts';
import { registerSchedulerMetrics } from './prometheus.ts';
import { createPolicy } from './registry.ts';
import { ManualClock, message } from './sim.ts';

describe('registerSchedulerMetrics', () => {
  it('exposes satisfaction, latency quantiles, queue lengths and utilisation from the snapshot', async () => {
    const clock = new ManualClock(0);
    const metrics = new InMemorySchedulerMetrics({ clock });
    const d = new Dispatcher({ policy: createPolicy('edf'), clock, metrics, yieldAfterMs: Infinity });
    await d.submit([message({ ingest: 0, deadline: 15 }), message({ ingest: 0, deadline: 15 })], () =>
      clock.advance(10),
    );
    d.tick();
    const registry = new Registry();
    registerSchedulerMetrics(registry, metrics);
    const text = await registry.metrics();
    expect(text).toContain('dirigo_scheduler_satisfaction_ratio{app="a"} 0.5');
    expect(text).toContain('dirigo_scheduler_completed_total{app="a"} 2');
    expect(text).toContain('dirigo_scheduler_latency_ms{app="a",quantile="0.99"} 20');
    expect(text).toContain('dirigo_scheduler_arrivals_total{app="a",outcome="admit"} 2');
    expect(text).toContain('dirigo_scheduler_utilisation_ratio 1');
    // A second scrape reads fresh values.
    await d.submit([message({ ingest: 20, deadline: 100 })], () => clock.advance(1));
    expect(await registry.metrics()).toContain('dirigo_scheduler_completed_total{app="a"} 3');
  });
});
