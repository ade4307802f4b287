// Prometheus exposition of the scheduler's worker-level metrics (prom-client): arrivals, utilisation, in-flight
// messages, queue lengths and policy errors, read from a `SchedulerSnapshot` at scrape time, so the hot path
// never touches prom-client.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SchedulerSnapshot } from './metrics.ts';

/** Anything that can produce a snapshot, e.g. `InMemorySchedulerMetrics`. */
export interface SnapshotSource {
  snapshot(): SchedulerSnapshot;
}

/**
 * Registers the scheduler's own metrics in `registry`, each filled from one `source.snapshot()` per scrape:
 * `<prefix>arrivals_total{app,outcome}`, `<prefix>utilisation_ratio`, `<prefix>in_flight`,
 * `<prefix>queue_length{queue,app,fn}` and `<prefix>policy_errors_total{hook}`. Default prefix
 * `dirigo_scheduler_`. Latency, queueing and deadlines are histograms and counters per app and function
 * (`registerWorkerMetrics` in metrics/prometheus.ts), not quantiles: quantiles of several workers cannot be
 * added up.
 *
 * @example
 * const registry = new Registry();
 * registerSchedulerMetrics(registry, metrics);
 * const text = await registry.metrics();
 */
export function registerSchedulerMetrics(
  registry: Registry,
  source: SnapshotSource,
  prefix = 'dirigo_scheduler_',
): void {
  // Scrapes read each metric in turn: take one snapshot per scrape, not one per metric.
  let cached: SchedulerSnapshot | undefined;
  let pending = false;
  const snap = (): SchedulerSnapshot => {
    if (cached === undefined || !pending) {
      cached = source.snapshot();
      pending = true;
      queueMicrotask(() => {
        pending = false;
      });
    }
    return cached;
  };
  const registers = [registry];

  new Counter({
    name: `${prefix}arrivals_total`,
    help: 'Arrival decisions',
    labelNames: ['app', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const [app, a] of Object.entries(snap().apps)) {
        for (const [outcome, n] of Object.entries(a.arrivals)) this.inc({ app, outcome }, n);
      }
    },
  });
  new Gauge({
    name: `${prefix}utilisation_ratio`,
    help: 'Busy time / wall time of the worker over the recent window (at the last tick)',
    registers,
    collect() {
      this.set(snap().worker?.utilisation ?? 0);
    },
  });
  new Gauge({
    name: `${prefix}in_flight`,
    help: 'Messages running (async handlers), at the last tick',
    registers,
    collect() {
      this.set(snap().worker?.inFlight ?? 0);
    },
  });
  new Gauge({
    name: `${prefix}queue_length`,
    help: 'Messages queued per partition queue, at the last tick',
    labelNames: ['queue', 'app', 'fn'],
    registers,
    collect() {
      this.reset();
      for (const q of snap().worker?.queues ?? []) this.set({ queue: q.id, app: q.app, fn: q.fn }, q.length);
    },
  });
  new Counter({
    name: `${prefix}policy_errors_total`,
    help: 'Scheduling policy hooks that threw or answered something invalid',
    labelNames: ['hook'],
    registers,
    collect() {
      this.reset();
      for (const [hook, n] of Object.entries(snap().policyErrors)) this.inc({ hook }, n);
    },
  });
}
