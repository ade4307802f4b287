// The live view's data: once a second while the metrics endpoint runs, a frame of what the worker and its pool
// are doing (per app deadlines met and missed, p50/p99 over the last 10 s against the target; per function
// records, queue and lag; per worker queue and utilisation, this one from its scheduler and the others from
// their load reports on the control topic; the leases this worker holds as lessor, with lessees and modes).
// The last five minutes of frames are kept, so a page opened late still draws the history.
import type { LeaseCounters } from '../lease/lease-metrics.ts';
import type { LeaseView } from '../lease/lessor.ts';
import { bucketQuantile, LATENCY_BUCKETS_S } from '../metrics/buckets.ts';
import type { FunctionMetricsTable } from '../metrics/function-metrics.ts';
import type { LagSampler } from '../metrics/lag.ts';
import type { SchedulerSnapshot } from '../scheduler/metrics.ts';
import type { PeerLoad } from '../scheduler/types.ts';

/** One app in a frame. Latencies in ms; null when nothing completed (in the window). */
export interface LiveApp {
  readonly targetMs: number;
  readonly met: number;
  readonly missed: number;
  /** met / (met + missed) since the worker started, and over the last 10 s. */
  readonly satisfaction: number | null;
  readonly recentSatisfaction: number | null;
  /** Over the last 10 s and since the start, as Prometheus' histogram_quantile computes them. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly p50AllMs: number | null;
  readonly p99AllMs: number | null;
}

/** One function (or router, or lease-slot group) in a frame. */
export interface LiveFunction {
  readonly app: string;
  readonly fn: string;
  readonly processed: number;
  readonly deadLettered: number;
  readonly queued: number;
  /** Summed over the partitions this worker owns (offsets). */
  readonly lag: number;
}

/** A worker of the pool: this one, or a peer by its last load report. */
export interface LiveWorker {
  readonly id: string;
  readonly self: boolean;
  readonly queued: number;
  readonly inFlight: number;
  readonly utilisation: number;
}

/** A lease this worker holds as lessor; lessees are slots with the worker that owns each (if known). */
export interface LiveLease {
  readonly app: string;
  readonly fn: string;
  readonly key: string;
  readonly partition: number;
  readonly epoch: number;
  readonly mode: string;
  readonly waiting: number;
  readonly lessees: readonly { readonly slot: number; readonly worker: string | null }[];
}

export interface LiveFrame {
  readonly at: number;
  readonly worker: string;
  readonly apps: Readonly<Record<string, LiveApp>>;
  readonly functions: readonly LiveFunction[];
  readonly workers: readonly LiveWorker[];
  readonly leases: readonly LiveLease[];
  readonly leaseCounters: Readonly<
    Pick<LeaseCounters, 'granted' | 'revoked' | 'forwarded' | 'syncs' | 'merged' | 'barriers'>
  >;
}

/** What the live view reads. */
export interface LiveViewDeps {
  readonly workerId: string;
  readonly functions: FunctionMetricsTable;
  readonly snapshot: () => SchedulerSnapshot;
  readonly lag: LagSampler;
  readonly targets: ReadonlyMap<string, number>;
  readonly peers: () => readonly PeerLoad[];
  readonly leases: () => { counters: Readonly<LeaseCounters>; leases: readonly LeaseView[] };
  /** The lease slots this worker owns, per app. */
  readonly slots: () => Record<string, number[]>;
}

const HISTORY = 300;
const WINDOW = 10;

export class LiveView {
  private readonly deps: LiveViewDeps;
  private readonly frames: LiveFrame[] = [];
  /** Per app, cumulative latency buckets and met/missed of the last WINDOW + 1 frames. */
  private readonly past: Map<string, { cum: number[]; met: number; missed: number }>[] = [];
  private readonly listeners = new Set<(f: LiveFrame) => void>();
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(deps: LiveViewDeps) {
    this.deps = deps;
  }

  /** Samples a frame every `intervalMs` (default 1000) until `stop()`. */
  start(intervalMs = 1000): void {
    const tick = () => {
      if (this.sampling) return;
      this.sampling = true;
      void this.sample()
        .then((f) => {
          for (const l of this.listeners) l(f);
        })
        .finally(() => {
          this.sampling = false;
        });
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
  }

  /** The frames kept (oldest first). */
  history(): readonly LiveFrame[] {
    return this.frames;
  }

  /** Calls `listener` with each new frame; returns the unsubscribe. */
  subscribe(listener: (f: LiveFrame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes a frame now (also kept in the history). */
  async sample(): Promise<LiveFrame> {
    const d = this.deps;
    const lag = await d.lag.refresh();
    const snap = d.snapshot();
    const now = Date.now();
    const perApp = new Map<string, { cum: number[]; met: number; missed: number }>();
    const functions: LiveFunction[] = [];
    const queuedByFn = new Map<string, number>();
    for (const q of snap.worker?.queues ?? []) {
      const k = `${q.app}\u0000${q.fn}`;
      queuedByFn.set(k, (queuedByFn.get(k) ?? 0) + q.length);
    }
    const lagByFn = new Map<string, number>();
    for (const l of lag) {
      const k = `${l.app}\u0000${l.fn}`;
      lagByFn.set(k, (lagByFn.get(k) ?? 0) + l.lag);
    }
    for (const m of d.functions.all()) {
      const a = perApp.get(m.app) ?? {
        cum: new Array(LATENCY_BUCKETS_S.length + 1).fill(0),
        met: 0,
        missed: 0,
      };
      const c = m.latency.cumulative();
      for (let i = 0; i < c.length; i++) a.cum[i]! += c[i]!;
      a.met += m.met;
      a.missed += m.missed;
      perApp.set(m.app, a);
      const k = `${m.app}\u0000${m.fn}`;
      functions.push({
        app: m.app,
        fn: m.fn,
        processed: m.processed,
        deadLettered: m.deadLettered,
        queued: queuedByFn.get(k) ?? 0,
        lag: lagByFn.get(k) ?? 0,
      });
      lagByFn.delete(k);
    }
    for (const [k, v] of lagByFn) {
      const [app, fn] = k.split('\u0000') as [string, string];
      functions.push({ app, fn, processed: 0, deadLettered: 0, queued: queuedByFn.get(k) ?? 0, lag: v });
    }
    const before = this.past.length > WINDOW ? this.past[this.past.length - WINDOW] : this.past[0];
    const apps: Record<string, LiveApp> = {};
    for (const [app, targetMs] of d.targets) {
      const a = perApp.get(app) ?? {
        cum: new Array(LATENCY_BUCKETS_S.length + 1).fill(0),
        met: 0,
        missed: 0,
      };
      const b = before?.get(app);
      const win = b === undefined ? a.cum : a.cum.map((v, i) => v - b.cum[i]!);
      const wMet = a.met - (b?.met ?? 0);
      const wMissed = a.missed - (b?.missed ?? 0);
      apps[app] = {
        targetMs,
        met: a.met,
        missed: a.missed,
        satisfaction: ratio(a.met, a.missed),
        recentSatisfaction: ratio(wMet, wMissed),
        p50Ms: ms(bucketQuantile(0.5, LATENCY_BUCKETS_S, win)),
        p99Ms: ms(bucketQuantile(0.99, LATENCY_BUCKETS_S, win)),
        p50AllMs: ms(bucketQuantile(0.5, LATENCY_BUCKETS_S, a.cum)),
        p99AllMs: ms(bucketQuantile(0.99, LATENCY_BUCKETS_S, a.cum)),
      };
    }
    this.past.push(perApp);
    if (this.past.length > WINDOW + 1) this.past.shift();
    const peers = d.peers();
    const workers: LiveWorker[] = [
      {
        id: d.workerId,
        self: true,
        queued: snap.worker?.queued ?? 0,
        inFlight: snap.worker?.inFlight ?? 0,
        utilisation: snap.worker?.utilisation ?? 0,
      },
      ...peers
        .filter((p) => p.id !== d.workerId)
        .map((p) => ({ id: p.id, self: false, queued: p.queued, inFlight: 0, utilisation: p.utilisation })),
    ].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    const own = d.slots();
    const ownerOf = (app: string, slot: number): string | null => {
      if (own[app]?.includes(slot) === true) return d.workerId;
      return peers.find((p) => p.slots?.[app]?.includes(slot) === true)?.id ?? null;
    };
    const { leases, counters } = d.leases();
    const frame: LiveFrame = {
      at: now,
      worker: d.workerId,
      apps,
      functions,
      workers,
      leases: leases.map((l) => ({
        app: l.app,
        fn: l.fn,
        key: l.key,
        partition: l.partition,
        epoch: l.epoch,
        mode: l.mode,
        waiting: l.waiting,
        lessees: l.slots.map((slot) => ({ slot, worker: ownerOf(l.app, slot) })),
      })),
      leaseCounters: {
        granted: counters.granted,
        revoked: counters.revoked,
        forwarded: counters.forwarded,
        syncs: counters.syncs,
        merged: counters.merged,
        barriers: counters.barriers,
      },
    };
    this.frames.push(frame);
    if (this.frames.length > HISTORY) this.frames.shift();
    return frame;
  }
}

const ratio = (met: number, missed: number): number | null =>
  met + missed === 0 ? null : met / (met + missed);
const ms = (s: number): number | null => (Number.isNaN(s) ? null : s * 1000);
