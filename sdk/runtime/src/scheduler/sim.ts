// Test support (not exported from the package): a manual clock, a message builder, and a deterministic
// simulation that drives a Dispatcher with timed arrivals and simulated handler costs on the manual clock.
import type { PriorityClass } from '@dirigo/core';
import type { Clock } from '../clock.ts';
import { Dispatcher } from './dispatcher.ts';
import type { DispatcherOptions } from './dispatcher-options.ts';
import { InMemorySchedulerMetrics, type SchedulerSnapshot } from './metrics.ts';
import type { ScheduledMessage, SchedulingPolicy } from './types.ts';

/** A clock that moves only when told. */
export class ManualClock implements Clock {
  private t: number;
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(t: number): void {
    if (t > this.t) this.t = t;
  }
}

/** A message with defaults: app 'a', fn 'f', key 'k', queue '<app>/0', normal, ingest 0, deadline 1000. */
export function message(o: Partial<ScheduledMessage> = {}): ScheduledMessage {
  const app = o.app ?? 'a';
  return {
    app,
    fn: o.fn ?? 'f',
    key: o.key ?? 'k',
    queue: o.queue ?? `${app}/0`,
    priority: o.priority ?? 'normal',
    ingest: o.ingest ?? 0,
    deadline: o.deadline ?? (o.ingest ?? 0) + 1000,
    enqueuedAt: 0,
    ...(o.critical === undefined ? {} : { critical: o.critical }),
    ...(o.leasable === undefined ? {} : { leasable: o.leasable }),
  };
}

/** One simulated record: it reaches the worker at `at` and costs `costMs` to handle. */
export interface SimArrival {
  readonly at: number;
  readonly app: string;
  readonly queue: string;
  readonly key: string;
  readonly costMs: number;
}

/** A simulated app. */
export interface SimApp {
  readonly priority: PriorityClass;
  readonly targetMs: number;
}

/** What a simulation observed. */
export interface SimResult {
  readonly snapshot: SchedulerSnapshot;
  /** Completion order, as `<app>:<key>`. */
  readonly order: string[];
  readonly endedAt: number;
}

/**
 * Runs arrivals through a dispatcher with `policy`. Arrivals due at the same time for the same queue form one
 * step (one submit). Handlers are sync and advance the clock by their cost; arrivals that fall due while a
 * handler runs are submitted when it returns (as a fetch would deliver them), so the policy sees them at its
 * next decision. Deterministic: no real time is involved.
 */
export async function simulate(
  policy: SchedulingPolicy,
  apps: Readonly<Record<string, SimApp>>,
  arrivals: readonly SimArrival[],
  options: Partial<DispatcherOptions> = {},
): Promise<SimResult> {
  const clock = new ManualClock(0);
  const metrics = new InMemorySchedulerMetrics({ clock });
  const d = new Dispatcher({ yieldAfterMs: Number.POSITIVE_INFINITY, ...options, policy, clock, metrics });
  const sorted = [...arrivals].sort((x, y) => x.at - y.at);
  const pending: Promise<void>[] = [];
  const order: string[] = [];
  let next = 0;

  const deliverDue = (): void => {
    const now = clock.now();
    const groups = new Map<string, SimArrival[]>();
    while (next < sorted.length && sorted[next]!.at <= now) {
      const a = sorted[next++]!;
      const g = groups.get(a.queue);
      if (g === undefined) groups.set(a.queue, [a]);
      else g.push(a);
    }
    for (const g of groups.values()) {
      const msgs = g.map((a) => {
        const app = apps[a.app]!;
        return message({
          app: a.app,
          key: a.key,
          queue: a.queue,
          priority: app.priority,
          ingest: a.at,
          deadline: a.at + app.targetMs,
        });
      });
      pending.push(
        d.submit(msgs, (i) => {
          const a = g[i]!;
          clock.advance(a.costMs);
          order.push(`${a.app}:${a.key}`);
          deliverDue();
        }),
      );
    }
  };

  while (next < sorted.length || pending.length > 0) {
    if (pending.length === 0) {
      clock.set(sorted[next]!.at);
      deliverDue();
    } else {
      await Promise.all(pending.splice(0));
    }
  }
  d.tick();
  d.close();
  return { snapshot: metrics.snapshot(), order, endedAt: clock.now() };
}
