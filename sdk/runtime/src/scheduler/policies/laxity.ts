// The `laxity` policy: admission by a laxity check (can the message still meet its deadline here?) and
// dispatch by least laxity among the messages that can still make it; hopeless ones go behind.
import type {
  ArrivalDecision,
  PolicyOptions,
  QueueView,
  ScheduledMessage,
  SchedulingPolicy,
  WorkerView,
} from '../types.ts';
import { checkKnown, effectiveDeadline, positiveNumber } from './shared.ts';

/** Options of the `laxity` policy. */
export interface LaxityPolicyOptions {
  /** A hopeless message that has waited this long competes again as if its laxity were 0. Default 5000. */
  readonly agingMs?: number;
  /** Deadline assumed for a message whose deadline is not finite: enqueuedAt + this. Default 1000. */
  readonly missingDeadlineMs?: number;
  /** A peer whose queue is shorter than this may take a hopeless message (forwarding). Default 16. */
  readonly shortQueue?: number;
}

/**
 * Estimated cost of the messages of `q` with a deadline <= `deadline`, assuming deadlines grow along the
 * queue (they do when ingest times do): all of it, none, or the linear share between its first and last.
 */
export function costAhead(q: QueueView, deadline: number): number {
  const c = q.queuedCostMs;
  if (c <= 0) return 0;
  const first = q.firstDeadline;
  const last = q.lastDeadline;
  if (!(last > deadline)) return c; // also when last is NaN: count it, the conservative choice
  if (first > deadline) return 0;
  return last === first ? c : (c * (deadline - first)) / (last - first);
}

/**
 * `laxity` (laxity = deadline - now - cost estimate):
 * - arrival: a message that cannot meet its deadline here (now + cost of the queued messages with earlier
 *   deadlines + its own cost > deadline) is 'deprioritised', i.e. it runs behind every message that can
 *   still make it. If a peer reports a queue shorter than `shortQueue`, the decision is a forward to it with
 *   fallback 'deprioritise': a leasable message is then leased to a lessee on that peer, any other one is
 *   deprioritised. Critical messages are never checked.
 * - dispatch: least laxity among heads that can still make it (not deprioritised, laxity >= 0); then, when
 *   none can, the earliest deadline among the hopeless ones.
 * The cost ahead is estimated per queue from its first/last deadline and `queuedCostMs` (see `costAhead`).
 *
 * Starvation bound: a hopeless message that has waited `agingMs` competes as laxity 0, i.e. ahead of every
 * message with slack; it waits at most `agingMs` plus the messages with laxity <= 0 queued before it.
 *
 * @example createPolicy('laxity', { agingMs: 3000 })
 */
export function laxityPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, ['agingMs', 'missingDeadlineMs', 'shortQueue']);
  const agingMs = positiveNumber(options, 'agingMs', 5000, true);
  const missing = positiveNumber(options, 'missingDeadlineMs', 1000);
  const shortQueue = positiveNumber(options, 'shortQueue', 16);

  const hopeless = (view: WorkerView): ArrivalDecision => {
    const peers = view.peers;
    let best: string | undefined;
    let bestQueued = shortQueue;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      if (p.queued < bestQueued) {
        best = p.id;
        bestQueued = p.queued;
      }
    }
    return best === undefined ? 'deprioritise' : { forward: best, fallback: 'deprioritise' };
  };

  return {
    name: 'laxity',
    onArrival(msg: ScheduledMessage, view: WorkerView): ArrivalDecision {
      const now = view.now;
      const cost = view.costEstimate(msg.app, msg.fn);
      const d = effectiveDeadline(msg.deadline, msg.enqueuedAt, missing);
      if (now + cost > d) return hopeless(view);
      let ahead = 0;
      const qs = view.queues;
      for (let i = 0; i < qs.length; i++) ahead += costAhead(qs[i]!, d);
      return now + ahead + cost > d ? hopeless(view) : 'admit';
    },
    pickNext(view: WorkerView): QueueView | undefined {
      const qs = view.queues;
      const now = view.now;
      let best: QueueView | undefined;
      let bestTier = 2;
      let bestKey = Number.POSITIVE_INFINITY;
      let bestAt = Number.POSITIVE_INFINITY;
      for (let i = 0; i < qs.length; i++) {
        const q = qs[i]!;
        const h = q.head;
        if (h === undefined) continue;
        const d = effectiveDeadline(h.deadline, h.enqueuedAt, missing);
        const laxity = d - now - view.costEstimate(q.app, q.fn);
        let tier = 0;
        let key = laxity;
        if (q.headDeprioritised || laxity < 0) {
          if (now - h.enqueuedAt >= agingMs) key = 0;
          else {
            tier = 1;
            key = d;
          }
        }
        if (
          tier < bestTier ||
          (tier === bestTier && (key < bestKey || (key === bestKey && h.enqueuedAt < bestAt)))
        ) {
          best = q;
          bestTier = tier;
          bestKey = key;
          bestAt = h.enqueuedAt;
        }
      }
      return best;
    },
  };
}
