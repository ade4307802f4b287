// The `priority` policy: static classes critical > high > normal > batch, FIFO within a class, with aging so
// that lower classes are never starved.
import type { PolicyOptions, QueueView, SchedulingPolicy, WorkerView } from '../types.ts';
import { CLASS_RANK, checkKnown, positiveNumber } from './shared.ts';

/** Options of the `priority` policy. */
export interface PriorityPolicyOptions {
  /**
   * A queued message is promoted one class for every `agingMs` it has waited (batch reaches critical after
   * 3 x agingMs). Default 5000. `Infinity` disables aging (and the starvation bound).
   */
  readonly agingMs?: number;
}

/**
 * `priority`: dispatches the head with the highest class (the message's `priority`), oldest `enqueuedAt`
 * first within a class; admits everything.
 *
 * Starvation bound: aging. A message's effective class rises by one per `agingMs` waited, so after
 * 3 x `agingMs` it competes with critical messages on age alone; it then waits at most for the older messages
 * at that level. Under sustained overload of critical traffic a batch message waits about 3 x `agingMs`.
 *
 * @example createPolicy('priority', { agingMs: 2000 })
 */
export function priorityPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, ['agingMs']);
  const agingMs = positiveNumber(options, 'agingMs', 5000, true);
  return {
    name: 'priority',
    pickNext(view: WorkerView): QueueView | undefined {
      const qs = view.queues;
      const now = view.now;
      let best: QueueView | undefined;
      let bestRank = Number.POSITIVE_INFINITY;
      let bestAt = Number.POSITIVE_INFINITY;
      for (let i = 0; i < qs.length; i++) {
        const q = qs[i]!;
        const h = q.head;
        if (h === undefined) continue;
        const waited = now - h.enqueuedAt;
        const promoted = waited > 0 ? Math.floor(waited / agingMs) : 0;
        const rank = Math.max(0, (CLASS_RANK[h.priority] ?? CLASS_RANK.normal) - promoted);
        if (rank < bestRank || (rank === bestRank && h.enqueuedAt < bestAt)) {
          best = q;
          bestRank = rank;
          bestAt = h.enqueuedAt;
        }
      }
      return best;
    },
  };
}
