// The `dirigo` policy: earliest deadline first, with the laxity check of the Dirigo prototype on arrival, and
// leasing: an ordinary message of a leasable function that cannot meet its deadline here is forwarded to a
// lessee on another worker (the less loaded of two peers, "power of two choices"), so a hot key scales out
// beyond its partition within one step; when the queue drains, the lease goes idle and the lessor revokes it.
import type {
  ArrivalDecision,
  PolicyOptions,
  QueueView,
  ScheduledMessage,
  SchedulingPolicy,
  WorkerView,
} from '../types.ts';
import { costAhead } from './laxity.ts';
import { checkKnown, effectiveDeadline, pickEarliestDeadline, positiveNumber, twoChoices } from './shared.ts';

/** Options of the `dirigo` policy. */
export interface DirigoPolicyOptions {
  /** Deadline assumed for a message whose deadline is not finite: enqueuedAt + this. Default 1000. */
  readonly missingDeadlineMs?: number;
  /**
   * Forward when the predicted finish is later than the deadline minus this margin, in ms: a positive margin
   * scales out before deadlines are at risk. Default 0.
   */
  readonly marginMs?: number;
}

/**
 * `dirigo`:
 * - arrival: a `leasable` message whose predicted finish here (now + cost of the queued messages with earlier
 *   deadlines + its own cost) is later than its deadline (minus `marginMs`) is forwarded: `{ forward: peer }`
 *   with the less loaded of two peers from the load reports (or '' for any lessee), fallback 'admit'. Every
 *   other message is admitted.
 * - dispatch: earliest deadline first (ties: oldest `enqueuedAt`), like `edf`.
 * Leases end by themselves: once nothing is forwarded for the app's `leasing.idleRevokeMs`, the lessor revokes
 * the lease and merges the partials back.
 *
 * Starvation bound: that of `edf`.
 *
 * @example createPolicy('dirigo', { marginMs: 20 })
 */
export function dirigoPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, ['missingDeadlineMs', 'marginMs']);
  const missing = positiveNumber(options, 'missingDeadlineMs', 1000);
  const margin = options.marginMs === undefined ? 0 : positiveNumber(options, 'marginMs', 0);
  let turn = 0;

  /** The less loaded of two peers (by queued messages); '' when there is none. */
  const peer = (view: WorkerView): string => {
    const peers = view.peers;
    if (peers.length === 0) return '';
    const [i, j] = twoChoices(peers.length, turn++);
    const a = peers[i]!;
    const b = peers[j]!;
    return (a.queued <= b.queued ? a : b).id;
  };

  return {
    name: 'dirigo',
    onArrival(msg: ScheduledMessage, view: WorkerView): ArrivalDecision {
      if (msg.leasable !== true) return 'admit';
      const cost = view.costEstimate(msg.app, msg.fn);
      const d = effectiveDeadline(msg.deadline, msg.enqueuedAt, missing) - margin;
      let finish = view.now + cost;
      if (finish <= d) {
        const qs = view.queues;
        for (let i = 0; i < qs.length && finish <= d; i++) finish += costAhead(qs[i]!, d);
      }
      return finish > d ? { forward: peer(view), fallback: 'admit' } : 'admit';
    },
    pickNext: (view: WorkerView): QueueView | undefined => pickEarliestDeadline(view, missing),
  };
}
