// Watching the workers' leases through `GET /leases` on each worker's metrics port: the leases each holds as
// lessor (key, slots, mode), the lease slots it owns, and its counters. A worker's counters live in its
// process, so a SIGKILL loses them: every incarnation (one start of one worker) is polled periodically and
// its last answer kept; the run's totals sum the last answer of every incarnation. The hunts for a lessee or
// a BLOCKED lessor to kill (faults.ts) read the same answers.
import type { LeaseCounters, LeaseView } from '@dirigo/runtime';

/** The body of `GET /leases`. */
export interface LeasesSnapshot {
  readonly leases: readonly LeaseView[];
  readonly counters: LeaseCounters;
  readonly slots: Readonly<Record<string, readonly number[]>>;
}

/** One start of one worker. */
export interface Incarnation {
  readonly worker: number;
  /** 0 for the first start of the worker, 1 for its first restart, ... */
  readonly n: number;
  readonly pid: number;
  readonly port: number;
  /** The last answer and when it arrived (ms since the epoch); undefined before the first. */
  last: LeasesSnapshot | undefined;
  lastAt: number;
  /** When the request of the last answer was sent (an older request answering late does not replace it). */
  lastAsked: number;
}

/** A snapshot of one worker, with who answered and when. */
export interface Observed {
  readonly inc: Incarnation;
  readonly at: number;
  readonly snapshot: LeasesSnapshot;
}

/** The counters the run reports (summed over incarnations). */
export const COUNTER_NAMES = [
  'granted',
  'slotsAdded',
  'revoked',
  'forwarded',
  'syncs',
  'merged',
  'barriers',
  'blockedMs',
  'blockedPeriods',
  'lesseeProcessed',
  'replies',
  'stale',
  'unknown',
  'rejectedForwards',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type CounterTotals = Record<CounterName, number>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LeaseProbe {
  private readonly app: string;
  private readonly all: Incarnation[] = [];
  private readonly latest = new Map<number, Incarnation>();
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(app: string) {
    this.app = app;
  }

  /** A new incarnation of `worker` (its process `pid` serves /leases on `port`). */
  register(worker: number, n: number, pid: number, port: number): Incarnation {
    const inc: Incarnation = { worker, n, pid, port, last: undefined, lastAt: 0, lastAsked: 0 };
    this.all.push(inc);
    this.latest.set(worker, inc);
    return inc;
  }

  /** The latest incarnation of each worker. */
  current(): Incarnation[] {
    return [...this.latest.values()].sort((a, b) => a.worker - b.worker);
  }

  /** One `GET /leases` of `inc` (undefined when it does not answer within `timeoutMs`). */
  async poll(inc: Incarnation, timeoutMs: number): Promise<LeasesSnapshot | undefined> {
    const asked = performance.now();
    try {
      const res = await fetch(`http://127.0.0.1:${inc.port}/leases`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) return undefined;
      const snapshot = (await res.json()) as LeasesSnapshot;
      if (asked >= inc.lastAsked) {
        inc.last = snapshot;
        inc.lastAt = Date.now();
        inc.lastAsked = asked;
      }
      return snapshot;
    } catch {
      return undefined;
    }
  }

  /** Polls the latest incarnation of every worker in `workers` (default all) at once. */
  async pollAll(timeoutMs: number, workers?: readonly number[]): Promise<Observed[]> {
    const targets = this.current().filter((i) => workers === undefined || workers.includes(i.worker));
    const answers = await Promise.all(targets.map((inc) => this.poll(inc, timeoutMs)));
    const out: Observed[] = [];
    answers.forEach((snapshot, i) => {
      if (snapshot !== undefined) out.push({ inc: targets[i]!, at: Date.now(), snapshot });
    });
    return out;
  }

  /** Polls every worker every `intervalMs` until `stop()` (keeps each incarnation's counters fresh). */
  start(intervalMs: number): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.pollAll(Math.min(1_000, intervalMs * 2));
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** The lease slots `snapshot`'s worker owns. */
  ownedSlots(snapshot: LeasesSnapshot): readonly number[] {
    return snapshot.slots[this.app] ?? [];
  }

  /** Each counter summed over the last answer of every incarnation. */
  totals(): CounterTotals {
    const t = Object.fromEntries(COUNTER_NAMES.map((k) => [k, 0])) as CounterTotals;
    for (const inc of this.all) {
      if (inc.last === undefined) continue;
      for (const k of COUNTER_NAMES) t[k] += inc.last.counters[k] ?? 0;
    }
    return t;
  }

  /** Incarnations that never answered (their counters are missing from the totals). */
  silent(): string[] {
    return this.all
      .filter((i) => i.last === undefined)
      .map((i) => `worker ${i.worker}#${i.n} (pid ${i.pid})`);
  }
}
