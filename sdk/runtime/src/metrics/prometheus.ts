// The worker's Prometheus families (besides the scheduler's and leasing's): latency and queueing histograms,
// deadlines met and missed, records processed / dead-lettered / forwarded, steps and retried steps, actor mode
// transitions and time blocked, all per (app, function); consumer lag per (app, function, partition); each
// app's latency target; purges of internal topics per topic; event-loop utilisation; `dirigo_build_info`. Every value is read at scrape time.
import { createRequire } from 'node:module';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { histogramSamples, type Labels, registerFamily, type Sample } from './families.ts';
import type { FunctionMetrics, FunctionMetricsTable } from './function-metrics.ts';
import type { LagSample } from './lag.ts';
import type { PurgeMetricsTable } from './purge-metrics.ts';

/** What the worker families read. */
export interface WorkerMetricsSource {
  readonly functions: FunctionMetricsTable;
  /** The last lag sample (refreshed by the endpoint before it renders). */
  lag(): readonly LagSample[];
  /** Each app's latency target, ms. */
  targets(): ReadonlyMap<string, number>;
  /** Handlers logged as slow, and given up past their time limit, on this worker (the handler watchdog). */
  handlers?(): { readonly slow: number; readonly timedOut: number };
  /** The purges of the worker's purged topics (task/purge.ts). */
  readonly purges?: PurgeMetricsTable;
}

/** The version of @dirigo/runtime (from its package.json). */
export const RUNTIME_VERSION: string = (
  createRequire(import.meta.url)('../../package.json') as { version: string }
).version;

/**
 * Registers the worker families in `registry` (names in docs/operations.md, "Metrics").
 *
 * @example
 * const registry = new Registry();
 * registerWorkerMetrics(registry, { functions, lag: () => sampler.current(), targets: () => targets });
 */
export function registerWorkerMetrics(registry: Registry, source: WorkerMetricsSource): { close(): void } {
  const perFn = (value: (m: FunctionMetrics) => number) => (): Sample[] => {
    const out: Sample[] = [];
    for (const m of source.functions.all()) out.push({ labels: { app: m.app, fn: m.fn }, value: value(m) });
    return out;
  };
  const counter = (name: string, help: string, value: (m: FunctionMetrics) => number) =>
    registerFamily(registry, name, help, 'counter', perFn(value));

  registerFamily(
    registry,
    'dirigo_build_info',
    'Dirigo runtime version and Node.js version (always 1)',
    'gauge',
    () => [{ labels: { version: RUNTIME_VERSION, nodejs: process.versions.node }, value: 1 }],
  );
  registerFamily(
    registry,
    'dirigo_message_latency_seconds',
    "Completion time minus the record's ingest time of each message handled, per app and function",
    'histogram',
    () => histograms(source.functions, (m) => m.latency),
  );
  registerFamily(
    registry,
    'dirigo_message_queueing_seconds',
    "Time each message waited in this worker's scheduler queues before it ran",
    'histogram',
    () => histograms(source.functions, (m) => m.queueing),
  );
  counter(
    'dirigo_deadlines_met_total',
    'Messages completed by their deadline (ingest + latency target)',
    (m) => m.met,
  );
  counter('dirigo_deadlines_missed_total', 'Messages completed after their deadline', (m) => m.missed);
  counter(
    'dirigo_records_processed_total',
    'Input records handled successfully (committed steps)',
    (m) => m.processed,
  );
  counter(
    'dirigo_records_dead_lettered_total',
    'Input records dead-lettered (committed steps)',
    (m) => m.deadLettered,
  );
  counter(
    'dirigo_records_forwarded_total',
    'Input records forwarded to lessees (committed steps)',
    (m) => m.forwarded,
  );
  counter('dirigo_steps_total', 'Steps committed', (m) => m.steps);
  counter(
    'dirigo_transactions_total',
    'Transactions committed (exactly-once): one per step under v1, one per several steps under v2',
    (m) => m.transactions,
  );
  counter(
    'dirigo_steps_retried_total',
    'Steps that failed and whose batch is delivered again',
    (m) => m.retried,
  );
  registerFamily(
    registry,
    'dirigo_actor_mode_transitions_total',
    'Actor mode transitions at lessors',
    'counter',
    () => {
      const out: Sample[] = [];
      for (const m of source.functions.all()) {
        for (const [k, n] of m.transitions) {
          const [from, to] = k.split('>') as [string, string];
          out.push({ labels: { app: m.app, fn: m.fn, from, to }, value: n });
        }
      }
      return out;
    },
  );
  registerFamily(
    registry,
    'dirigo_actor_blocked_seconds_total',
    'Time keys spent BLOCKED at lessors, waiting for partial replies (ended periods)',
    'counter',
    () => {
      const out: Sample[] = [];
      for (const m of source.functions.all()) {
        if (m.transitions.size > 0) out.push({ labels: { app: m.app, fn: m.fn }, value: m.blockedMs / 1000 });
      }
      return out;
    },
  );
  registerFamily(
    registry,
    'dirigo_consumer_lag_offsets',
    "High watermark minus this worker's position, per owned input partition (commit markers count)",
    'gauge',
    () =>
      source.lag().map((l) => ({ labels: { app: l.app, fn: l.fn, partition: l.partition }, value: l.lag })),
  );
  registerFamily(registry, 'dirigo_app_latency_target_seconds', "Each app's latency target", 'gauge', () =>
    [...source.targets()].map(([app, ms]) => ({ labels: { app }, value: ms / 1000 })),
  );
  const handlers = source.handlers;
  if (handlers !== undefined) {
    registerFamily(
      registry,
      'dirigo_handlers_slow_total',
      "Handlers still running after their app's slowHandlerMs (logged while they ran)",
      'counter',
      () => [{ labels: {}, value: handlers().slow }],
    );
    registerFamily(
      registry,
      'dirigo_handlers_timed_out_total',
      "Handlers given up after their app's handlerTimeoutMs (their message failed with stage timeout)",
      'counter',
      () => [{ labels: {}, value: handlers().timedOut }],
    );
  }
  const purges = source.purges;
  if (purges !== undefined) {
    registerFamily(
      registry,
      'dirigo_topic_purges_total',
      "Purges of an internal topic's committed records (DeleteRecords), by outcome (ok, failed)",
      'counter',
      () => {
        const out: Sample[] = [];
        for (const s of purges.all()) {
          out.push({ labels: { topic: s.topic, outcome: 'ok' }, value: s.succeeded });
          out.push({ labels: { topic: s.topic, outcome: 'failed' }, value: s.failed });
        }
        return out;
      },
    );
    registerFamily(
      registry,
      'dirigo_topic_purged_offset',
      "Offset below which this worker's last successful purge deleted a partition's records",
      'gauge',
      () => {
        const out: Sample[] = [];
        for (const s of purges.all())
          for (const [partition, offset] of s.purgedTo)
            out.push({ labels: { topic: s.topic, partition }, value: offset });
        return out;
      },
    );
  }
  const elu = new EluWindow();
  registerFamily(
    registry,
    'dirigo_eventloop_utilization_ratio',
    "Share of time the worker's event loop was busy over the last 10 s",
    'gauge',
    () => [{ labels: {}, value: elu.utilisation() }],
  );
  return { close: () => elu.close() };
}

function histograms(
  table: FunctionMetricsTable,
  pick: (m: FunctionMetrics) => FunctionMetrics['latency'],
): Sample[] {
  const out: Sample[] = [];
  for (const m of table.all()) {
    const h = pick(m);
    const labels: Labels = { app: m.app, fn: m.fn };
    out.push(...histogramSamples(labels, h.boundsS, h.cumulative(), h.sumMs / 1000));
  }
  return out;
}

/** Event-loop utilisation over the last 10 s, from a snapshot taken every second. */
export class EluWindow {
  private readonly snaps: EventLoopUtilization[] = [performance.eventLoopUtilization()];
  private readonly timer: NodeJS.Timeout;

  constructor(periodMs = 1000, slots = 10) {
    this.timer = setInterval(() => {
      this.snaps.push(performance.eventLoopUtilization());
      if (this.snaps.length > slots + 1) this.snaps.shift();
    }, periodMs);
    this.timer.unref();
  }

  /** Busy share of the event loop from the oldest snapshot kept until now, 0..1. */
  utilisation(): number {
    return performance.eventLoopUtilization(performance.eventLoopUtilization(), this.snaps[0]).utilization;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
