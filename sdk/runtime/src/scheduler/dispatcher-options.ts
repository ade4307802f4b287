// Options, counters and errors of the Dispatcher (apart from its implementation).
import type { Logger } from '@dirigo/core';
import type { Clock } from '../clock.ts';
import type { SchedulerMetrics } from './metrics.ts';
import type { SchedulingPolicy } from './types.ts';

/** Options of a `Dispatcher`. */
export interface DispatcherOptions {
  readonly policy: SchedulingPolicy;
  /** Default: wall-clock time. */
  readonly clock?: Clock;
  /** Default: a silent logger. */
  readonly logger?: Logger;
  /** Messages running at once (async handlers) across all queues. Default 64. */
  readonly maxInFlight?: number;
  /**
   * Messages of one app running at once, so that one app's slow or hung handlers cannot take every slot from
   * the others. Default `maxInFlight`.
   */
  readonly maxInFlightPerApp?: number;
  /** Default: no metrics. */
  readonly metrics?: SchedulerMetrics;
  /** Cost estimate of a function before its first observation, ms. Default 1. */
  readonly defaultCostMs?: number;
  /** Weight of a new observation in the cost EWMA. Default 0.2. */
  readonly costAlpha?: number;
  /** Yield to the event loop after this many runs in one slice. Default 1024. */
  readonly yieldEvery?: number;
  /** ... or after a slice has lasted this long on the clock, ms. Default 5. */
  readonly yieldAfterMs?: number;
  /**
   * Most messages of one queue run after one decision of the policy (a run): after the picked message, while each
   * completes synchronously and the queue's next message is eligible at once, the dispatcher runs it without
   * asking again, reading the clock every 8 messages and at the run's end. Default 32; 1 asks the policy about
   * every message.
   */
  readonly runLength?: number;
  /**
   * A run's length is also bounded by time: at most `runBudgetMs / cost estimate` messages of the queue's
   * function (at least one), and a run ends at a clock read past it, so only messages that cost a few
   * microseconds run in runs and the other queues wait for a run about this long (or 8 slower messages) at most.
   * Default 0.25.
   */
  readonly runBudgetMs?: number;
  /** Window of the utilisation measure, ms. Default 10000. */
  readonly utilisationWindowMs?: number;
  /**
   * Queued messages examined per queue when looking for an eligible head (past busy keys, deferred and
   * deprioritised messages). Default 64. A queue whose first `scanLimit` messages are all blocked waits.
   */
  readonly scanLimit?: number;
}

/** Options of one `submit`. */
export interface SubmitOptions {
  /** Different keys of this queue that may run at once (async handlers). Default 16; the latest wins. */
  readonly maxConcurrentKeys?: number;
  /** Input records of the partition behind this step's (see `QueueView.backlog`); the latest wins. */
  readonly backlog?: number;
}

/** Live counters of a dispatcher. */
export interface DispatcherStats {
  queued: number;
  /** Input records behind the queued ones, over all queues (see `QueueView.backlog`). */
  backlog: number;
  inFlight: number;
  queues: number;
  utilisation: number;
  /** Arrival decisions, since creation: messages forwarded (they left), forward decisions that fell back. */
  forwarded: number;
  forwardFallbacks: number;
  deferred: number;
  deprioritised: number;
  /** Sends held by the send hook. */
  held: number;
  /** Policy hook exceptions and invalid answers. */
  policyErrors: number;
}

/** The dispatcher was closed while the step's messages were queued. */
export class DispatcherClosedError extends Error {
  override readonly name = 'DispatcherClosedError';
}
