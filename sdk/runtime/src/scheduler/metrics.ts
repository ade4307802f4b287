// Scheduler metrics: per app the user-satisfaction rate (share of messages completed by their deadline),
// end-to-end latency and queueing-delay histograms, throughput; per worker utilisation and queue lengths.
// `noopSchedulerMetrics` costs nothing; `InMemorySchedulerMetrics.snapshot()` returns plain JSON, and its
// per-function table (fixed buckets, counters) is what the Prometheus endpoint exports.
import { type Clock, systemClock } from '../clock.ts';
import { type FunctionMetrics, FunctionMetricsTable } from '../metrics/function-metrics.ts';
import { type HistogramSummary, LogHistogram } from './histogram.ts';
import { SlidingWindow } from './window.ts';

/** Arrival outcomes counted per app. */
export type ArrivalOutcome = 'admit' | 'defer' | 'deprioritise' | 'forward';

/** Per-app recorder; the dispatcher keeps one per app and calls it on the hot path (no allocation). */
export interface AppMetricsSink {
  /** `count` messages arrived with this outcome. */
  arrival(outcome: ArrivalOutcome, count: number): void;
  /** A message completed at `at`. */
  completed(at: number, queueingMs: number, costMs: number, latencyMs: number, metDeadline: boolean): void;
  /**
   * Optional: `count` messages completed at `at` with the same figures (messages of one run of the dispatcher
   * that came from one step with one ingest time and deadline). Absent: `completed` is called `count` times.
   */
  completedMany?(
    at: number,
    queueingMs: number,
    costMs: number,
    latencyMs: number,
    metDeadline: boolean,
    count: number,
  ): void;
  /** A message's `run` threw or rejected. */
  failed(): void;
  /** `count` queued messages were dropped because their step failed or the dispatcher closed. */
  abandoned(count: number): void;
  /** An outgoing message was held by the send hook. */
  held(): void;
}

/** One queue in a worker sample. */
export interface QueueSample {
  id: string;
  app: string;
  fn: string;
  length: number;
  inFlight: number;
}

/** The worker's state, sampled at each tick. */
export interface WorkerSample {
  at: number;
  utilisation: number;
  inFlight: number;
  queued: number;
  queues: QueueSample[];
}

/** Where the dispatcher reports. Implement it to export elsewhere; the default does nothing. */
export interface SchedulerMetrics {
  /**
   * The recorder of one app's function (called once per app, function and queue; keep the result). `fn` is
   * absent for callers that do not know it.
   */
  app(app: string, fn?: string): AppMetricsSink;
  /** The worker sample of a tick. */
  worker(sample: WorkerSample): void;
  /** A policy hook threw or returned something invalid. */
  policyError(policy: string, hook: string): void;
}

const noopSink: AppMetricsSink = {
  arrival() {},
  completed() {},
  completedMany() {},
  failed() {},
  abandoned() {},
  held() {},
};

/** Metrics that record nothing (the default). */
export const noopSchedulerMetrics: SchedulerMetrics = {
  app: () => noopSink,
  worker() {},
  policyError() {},
};

/** One app in a snapshot. `satisfaction` is null before the first completion. */
export interface AppSnapshot {
  completed: number;
  metDeadline: number;
  satisfaction: number | null;
  /** Completions per second over the recent window. */
  throughputPerSec: number;
  latencyMs: HistogramSummary;
  queueingMs: HistogramSummary;
  costMs: { mean: number; total: number };
  arrivals: Record<ArrivalOutcome, number>;
  held: number;
  failed: number;
  abandoned: number;
}

/** Plain-JSON state of the scheduler metrics. */
export interface SchedulerSnapshot {
  at: number;
  /** The last tick's sample, or null before the first tick. */
  worker: WorkerSample | null;
  apps: Record<string, AppSnapshot>;
  /** Policy hook failures, by `<policy>.<hook>`. */
  policyErrors: Record<string, number>;
}

class AppRecorder implements AppMetricsSink {
  completedCount = 0;
  met = 0;
  costTotal = 0;
  heldCount = 0;
  failedCount = 0;
  abandonedCount = 0;
  readonly arrivals: Record<ArrivalOutcome, number> = { admit: 0, defer: 0, deprioritise: 0, forward: 0 };
  readonly latency = new LogHistogram();
  readonly queueing = new LogHistogram();
  readonly rate: SlidingWindow;

  constructor(startedAt: number, windowMs: number) {
    this.rate = new SlidingWindow(startedAt, windowMs);
  }

  arrival(outcome: ArrivalOutcome, count: number): void {
    this.arrivals[outcome] += count;
  }
  completed(at: number, queueingMs: number, costMs: number, latencyMs: number, metDeadline: boolean): void {
    this.completedMany(at, queueingMs, costMs, latencyMs, metDeadline, 1);
  }
  completedMany(
    at: number,
    queueingMs: number,
    costMs: number,
    latencyMs: number,
    metDeadline: boolean,
    count: number,
  ): void {
    this.completedCount += count;
    if (metDeadline) this.met += count;
    this.costTotal += costMs * count;
    this.latency.record(latencyMs, count);
    this.queueing.record(queueingMs, count);
    this.rate.add(at, count);
  }
  failed(): void {
    this.failedCount++;
  }
  abandoned(count: number): void {
    this.abandonedCount += count;
  }
  held(): void {
    this.heldCount++;
  }

  snapshot(now: number): AppSnapshot {
    const span = this.rate.span(now);
    return {
      completed: this.completedCount,
      metDeadline: this.met,
      satisfaction: this.completedCount === 0 ? null : this.met / this.completedCount,
      throughputPerSec: span > 0 ? (this.rate.sum(now) * 1000) / span : 0,
      latencyMs: this.latency.summary(),
      queueingMs: this.queueing.summary(),
      costMs: {
        mean: this.completedCount === 0 ? 0 : this.costTotal / this.completedCount,
        total: this.costTotal,
      },
      arrivals: { ...this.arrivals },
      held: this.heldCount,
      failed: this.failedCount,
      abandoned: this.abandonedCount,
    };
  }
}

/** Records into the app's recorder (JSON snapshot) and the function's (Prometheus) in one call. */
class FunctionSink implements AppMetricsSink {
  private readonly app: AppRecorder;
  private readonly fn: FunctionMetrics;

  constructor(app: AppRecorder, fn: FunctionMetrics) {
    this.app = app;
    this.fn = fn;
  }
  arrival(outcome: ArrivalOutcome, count: number): void {
    this.app.arrival(outcome, count);
  }
  completed(at: number, queueingMs: number, costMs: number, latencyMs: number, metDeadline: boolean): void {
    this.completedMany(at, queueingMs, costMs, latencyMs, metDeadline, 1);
  }
  completedMany(
    at: number,
    queueingMs: number,
    costMs: number,
    latencyMs: number,
    metDeadline: boolean,
    count: number,
  ): void {
    this.app.completedMany(at, queueingMs, costMs, latencyMs, metDeadline, count);
    this.fn.completed(queueingMs, latencyMs, metDeadline, count);
  }
  failed(): void {
    this.app.failed();
  }
  abandoned(count: number): void {
    this.app.abandoned(count);
  }
  held(): void {
    this.app.held();
  }
}

/** Options of `InMemorySchedulerMetrics`. */
export interface InMemorySchedulerMetricsOptions {
  /** Default: wall-clock time. */
  readonly clock?: Clock;
  /** Window of the throughput rate, ms. Default 10000. */
  readonly windowMs?: number;
  /** Where per-function histograms and counters go. Default: a table of its own (`functions`). */
  readonly functions?: FunctionMetricsTable;
}

/**
 * Keeps everything in memory since creation; `snapshot()` returns plain JSON.
 *
 * @example
 * const metrics = new InMemorySchedulerMetrics({ clock });
 * const d = new Dispatcher({ policy: createPolicy('edf'), clock, metrics });
 * metrics.snapshot().apps.shop?.satisfaction;
 */
export class InMemorySchedulerMetrics implements SchedulerMetrics {
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly startedAt: number;
  private readonly apps = new Map<string, AppRecorder>();
  /** Per (app, function): latency and queueing buckets, met and missed deadlines (see metrics/). */
  readonly functions: FunctionMetricsTable;
  private readonly errors: Record<string, number> = {};
  private lastSample: WorkerSample | null = null;

  constructor(options: InMemorySchedulerMetricsOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.windowMs = options.windowMs ?? 10_000;
    this.startedAt = this.clock.now();
    this.functions = options.functions ?? new FunctionMetricsTable();
  }

  app(app: string, fn?: string): AppMetricsSink {
    let r = this.apps.get(app);
    if (r === undefined) {
      r = new AppRecorder(this.startedAt, this.windowMs);
      this.apps.set(app, r);
    }
    return fn === undefined ? r : new FunctionSink(r, this.functions.get(app, fn));
  }

  worker(sample: WorkerSample): void {
    this.lastSample = sample;
  }

  policyError(policy: string, hook: string): void {
    const k = `${policy}.${hook}`;
    this.errors[k] = (this.errors[k] ?? 0) + 1;
  }

  /** Plain-JSON state at `now` (default: the clock's now). */
  snapshot(now: number = this.clock.now()): SchedulerSnapshot {
    const apps: Record<string, AppSnapshot> = {};
    for (const [name, r] of this.apps) apps[name] = r.snapshot(now);
    return {
      at: now,
      worker: this.lastSample === null ? null : structuredClone(this.lastSample),
      apps,
      policyErrors: { ...this.errors },
    };
  }
}
