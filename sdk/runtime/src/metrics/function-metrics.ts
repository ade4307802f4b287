// Counters and histograms per (app, function) on one worker, as plain numbers: the dispatcher, the steps, the
// group members and the lessors increment fields on the hot path; the Prometheus endpoint and the live view
// read them at scrape time. Labels are bounded: app and function names, never actor keys.
import type { ActorMode } from '../actor/mode.ts';
import { BucketHistogram } from './buckets.ts';

/** What a lessor reports about its keys' modes (see actor/mode.ts). */
export interface ModeObserver {
  /** A key of this function went from `from` to `to`. */
  transition(from: ActorMode, to: ActorMode): void;
  /** A key left BLOCKED after `ms`. */
  blocked(ms: number): void;
}

/** Everything counted for one (app, function) since the worker started. */
export class FunctionMetrics implements ModeObserver {
  readonly app: string;
  readonly fn: string;
  /** Completion time − ingest of each message handled here. */
  readonly latency = new BucketHistogram();
  /** Time each message waited in this worker's queues before it ran. */
  readonly queueing = new BucketHistogram();
  /** Messages completed by / after their deadline. */
  met = 0;
  missed = 0;
  /** Input records handled successfully, dead-lettered, forwarded to lessees (committed steps). */
  processed = 0;
  deadLettered = 0;
  forwarded = 0;
  /** Steps committed, and steps that failed and whose batch is retried. */
  steps = 0;
  retried = 0;
  /** Transactions committed (exactly-once): one per step under v1, one per several steps under v2. */
  transactions = 0;
  /** Actor mode transitions by `FROM>TO`, and time keys spent BLOCKED (ended periods), ms. */
  readonly transitions = new Map<string, number>();
  blockedMs = 0;

  constructor(app: string, fn: string) {
    this.app = app;
    this.fn = fn;
  }

  /** One completed message, or `count` with the same figures (called by the dispatcher). */
  completed(queueingMs: number, latencyMs: number, metDeadline: boolean, count = 1): void {
    this.latency.observe(latencyMs, count);
    this.queueing.observe(queueingMs, count);
    if (metDeadline) this.met += count;
    else this.missed += count;
  }

  transition(from: ActorMode, to: ActorMode): void {
    const k = `${from}>${to}`;
    this.transitions.set(k, (this.transitions.get(k) ?? 0) + 1);
  }

  blocked(ms: number): void {
    this.blockedMs += Math.max(ms, 0);
  }
}

/** The per-function metrics of a worker, made on first use. */
export class FunctionMetricsTable {
  private readonly byKey = new Map<string, FunctionMetrics>();

  /** The record of (`app`, `fn`); keep it, the lookup builds a key. */
  get(app: string, fn: string): FunctionMetrics {
    const k = `${app}\u0000${fn}`;
    let m = this.byKey.get(k);
    if (m === undefined) {
      m = new FunctionMetrics(app, fn);
      this.byKey.set(k, m);
    }
    return m;
  }

  /** Every record, in creation order. */
  all(): IterableIterator<FunctionMetrics> {
    return this.byKey.values();
  }
}
