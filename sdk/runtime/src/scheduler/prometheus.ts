// Prometheus exposition of the scheduler metrics (prom-client): metrics whose values are read from a
// `SchedulerSnapshot` at scrape time, so the hot path never touches prom-client.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SchedulerSnapshot } from './metrics.ts';

/** Anything that can produce a snapshot, e.g. `InMemorySchedulerMetrics`. */
export interface SnapshotSource {
  snapshot(): SchedulerSnapshot;
}

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.99', 'p99'],
  ['0.999', 'p999'],
] as const;

/**
 * Registers the scheduler metrics in `registry`, each filled from one `source.snapshot()` per scrape:
 * `<prefix>satisfaction_ratio{app}`, `<prefix>completed_total{app}`, `<prefix>met_deadline_total{app}`,
 * `<prefix>latency_ms{app,quantile}`, `<prefix>queueing_ms{app,quantile}`, `<prefix>throughput_per_second{app}`,
 * `<prefix>arrivals_total{app,outcome}`, `<prefix>utilisation_ratio`, `<prefix>in_flight`,
 * `<prefix>queue_length{queue,app,fn}` and `<prefix>policy_errors_total{hook}`. Default prefix
 * `dirigo_scheduler_`.
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

  const perApp = (
    name: string,
    help: string,
    value: (a: SchedulerSnapshot['apps'][string]) => number | null,
  ) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['app'],
      registers,
      collect() {
        this.reset();
        for (const [app, a] of Object.entries(snap().apps)) {
          const v = value(a);
          if (v !== null) this.set({ app }, v);
        }
      },
    });
  const perAppCounter = (
    name: string,
    help: string,
    value: (a: SchedulerSnapshot['apps'][string]) => number,
  ) =>
    new Counter({
      name: `${prefix}${name}`,
      help,
      labelNames: ['app'],
      registers,
      collect() {
        this.reset();
        for (const [app, a] of Object.entries(snap().apps)) this.inc({ app }, value(a));
      },
    });
  const quantiles = (
    name: string,
    help: string,
    pick: (a: SchedulerSnapshot['apps'][string]) => Record<string, number>,
  ) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['app', 'quantile'],
      registers,
      collect() {
        this.reset();
        for (const [app, a] of Object.entries(snap().apps)) {
          const s = pick(a);
          for (const [q, field] of QUANTILES) this.set({ app, quantile: q }, s[field] ?? 0);
        }
      },
    });

  perApp('satisfaction_ratio', 'Share of messages completed by their deadline', (a) => a.satisfaction);
  perAppCounter('completed_total', 'Messages completed', (a) => a.completed);
  perAppCounter('met_deadline_total', 'Messages completed by their deadline', (a) => a.metDeadline);
  perApp('throughput_per_second', 'Completions per second over the recent window', (a) => a.throughputPerSec);
  quantiles('latency_ms', 'End-to-end latency at completion (now - ingest), ms', (a) => ({ ...a.latencyMs }));
  quantiles('queueing_ms', 'Time queued on this worker before running, ms', (a) => ({ ...a.queueingMs }));
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
