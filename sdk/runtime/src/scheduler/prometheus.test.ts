import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerWorkerMetrics } from '../metrics/prometheus.ts';
import { Dispatcher } from './dispatcher.ts';
import { InMemorySchedulerMetrics } from './metrics.ts';
import { registerSchedulerMetrics } from './prometheus.ts';
import { createPolicy } from './registry.ts';
import { ManualClock, message } from './sim.ts';

describe('registerSchedulerMetrics and registerWorkerMetrics', () => {
  it('expose latency and queueing as buckets per app and function, deadlines as counters, queues and utilisation', async () => {
    const clock = new ManualClock(0);
    const metrics = new InMemorySchedulerMetrics({ clock });
    const d = new Dispatcher({ policy: createPolicy('edf'), clock, metrics, yieldAfterMs: Infinity });
    await d.submit([message({ ingest: 0, deadline: 15 }), message({ ingest: 0, deadline: 15 })], () =>
      clock.advance(10),
    );
    d.tick();
    const registry = new Registry();
    registerSchedulerMetrics(registry, metrics);
    const families = registerWorkerMetrics(registry, {
      functions: metrics.functions,
      lag: () => [{ app: 'a', fn: 'f', partition: 3, lag: 7 }],
      targets: () => new Map([['a', 15]]),
    });
    const text = await registry.metrics();
    families.close();
    // Latencies 10 and 20 ms; queueing 0 and 10 ms.
    expect(text).toContain('dirigo_message_latency_seconds_bucket{app="a",fn="f",le="0.005"} 0');
    expect(text).toContain('dirigo_message_latency_seconds_bucket{app="a",fn="f",le="0.01"} 1');
    expect(text).toContain('dirigo_message_latency_seconds_bucket{app="a",fn="f",le="0.025"} 2');
    expect(text).toContain('dirigo_message_latency_seconds_bucket{app="a",fn="f",le="+Inf"} 2');
    expect(text).toContain('dirigo_message_latency_seconds_sum{app="a",fn="f"} 0.03');
    expect(text).toContain('dirigo_message_latency_seconds_count{app="a",fn="f"} 2');
    expect(text).toContain('dirigo_message_queueing_seconds_bucket{app="a",fn="f",le="0.001"} 1');
    expect(text).toContain('dirigo_deadlines_met_total{app="a",fn="f"} 1');
    expect(text).toContain('dirigo_deadlines_missed_total{app="a",fn="f"} 1');
    expect(text).toContain('dirigo_consumer_lag_offsets{app="a",fn="f",partition="3"} 7');
    expect(text).toContain('dirigo_app_latency_target_seconds{app="a"} 0.015');
    expect(text).toMatch(/dirigo_build_info\{version="\d+\.\d+\.\d+",nodejs="[\d.]+"\} 1/);
    expect(text).toContain('dirigo_scheduler_arrivals_total{app="a",outcome="admit"} 2');
    expect(text).toContain('dirigo_scheduler_utilisation_ratio 1');
    // No quantile gauges: they cannot be summed across workers.
    expect(text).not.toContain('quantile=');
    // A second scrape reads fresh values.
    await d.submit([message({ ingest: 20, deadline: 100 })], () => clock.advance(1));
    const again = await registry.metrics();
    expect(again).toContain('dirigo_message_latency_seconds_count{app="a",fn="f"} 3');
    expect(again).toContain('dirigo_deadlines_met_total{app="a",fn="f"} 2');
  });
});
