// Internal: what the dispatcher measures about work, apart from the queues: the cost EWMA per function, the
// metrics recorder per app, and busy time for utilisation (busy / wall over a sliding window).
import type { AppMetricsSink, SchedulerMetrics } from './metrics.ts';
import type { CostStats } from './queue.ts';
import { SlidingWindow } from './window.ts';

/** Cost estimates, per-app recorders and busy time. */
export class Accounting {
  private readonly costs = new Map<string, Map<string, CostStats>>();
  private readonly sinks = new Map<string, Map<string, AppMetricsSink>>();
  private readonly busy: SlidingWindow;
  private readonly metrics: SchedulerMetrics;
  private readonly defaultCostMs: number;
  private readonly alpha: number;
  /** Start of the current period with async messages in flight. */
  activeSince = 0;

  constructor(
    metrics: SchedulerMetrics,
    startedAt: number,
    windowMs: number,
    defaultCostMs: number,
    alpha: number,
  ) {
    this.metrics = metrics;
    this.busy = new SlidingWindow(startedAt, windowMs);
    this.defaultCostMs = defaultCostMs;
    this.alpha = alpha;
  }

  /** The (mutable) cost record of a function, created on first use. */
  costStats(app: string, fn: string): CostStats {
    let byFn = this.costs.get(app);
    if (byFn === undefined) {
      byFn = new Map();
      this.costs.set(app, byFn);
    }
    let s = byFn.get(fn);
    if (s === undefined) {
      s = { estimate: this.defaultCostMs, samples: 0 };
      byFn.set(fn, s);
    }
    return s;
  }

  /** Cost estimate in ms, without creating a record. */
  costEstimate(app: string, fn: string): number {
    const s = this.costs.get(app)?.get(fn);
    return s === undefined ? this.defaultCostMs : s.estimate;
  }

  /** Folds one observed cost into the EWMA (the first observation replaces the default). */
  observeCost(s: CostStats, cost: number): void {
    if (s.samples === 0) s.estimate = cost;
    else s.estimate += this.alpha * (cost - s.estimate);
    s.samples++;
  }

  /** The metrics recorder of an app's function, cached. */
  sinkFor(app: string, fn: string): AppMetricsSink {
    let s = this.sinks.get(app)?.get(fn);
    if (s === undefined) {
      s = this.metrics.app(app, fn);
      let m = this.sinks.get(app);
      if (m === undefined) {
        m = new Map();
        this.sinks.set(app, m);
      }
      m.set(fn, s);
    }
    return s;
  }

  /** Records [from, to) as busy. */
  addBusy(from: number, to: number): void {
    if (to > from) this.busy.addInterval(from, to);
  }

  /** Busy / wall over the window ending at `now`, counting an ongoing async period when `inFlight` > 0. */
  utilisation(now: number, inFlight: number): number {
    const span = this.busy.span(now);
    if (span <= 0) return 0;
    let busy = this.busy.sum(now);
    if (inFlight > 0) busy += now - Math.max(this.activeSince, this.busy.windowStart(now));
    return Math.min(1, Math.max(0, busy / span));
  }
}
