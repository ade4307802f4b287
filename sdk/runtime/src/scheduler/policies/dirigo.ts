// The `dirigo` policy: earliest deadline first, with the laxity check of the Dirigo prototype on arrival, and
// leasing: an ordinary message of a leasable function that cannot meet its deadline here is forwarded to a
// lessee on another worker (the less loaded of two peers, "power of two choices"), so a hot key scales out
// beyond its partition within one step; when the queue drains, the lease goes idle and the lessor revokes it.
import type {
  ArrivalDecision,
  PeerLoad,
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
  /**
   * Expected delay before a forwarded message starts at a lessee, in ms (the lessor's step commit, the lessee's
   * fetch): a message is forwarded only when the lessee is predicted to finish it sooner, this included.
   * Default 100.
   */
  readonly forwardDelayMs?: number;
}

/**
 * `dirigo`:
 * - arrival: a `leasable` message whose predicted finish here (now + cost of the queued messages with earlier
 *   deadlines + its own cost) is later than its deadline (minus `marginMs`) is forwarded, `{ forward: peer }`
 *   with fallback 'admit', when the peer is predicted to finish it sooner: now + `forwardDelayMs` + (the
 *   peer's reported queue + what this worker forwarded to it since that report + 1) x the message's cost. The
 *   peer is the less loaded of two (power of two choices); without load reports, '' (any lessee). So a hot
 *   key's excess goes to lessees while the lessor stays busy, split by predicted finish: when the input lags
 *   behind (every message is late already), only what a lessee can do sooner leaves, and an overloaded peer
 *   gets nothing. Every other message is admitted.
 * - dispatch: earliest deadline first (ties: oldest `enqueuedAt`), like `edf`.
 * Leases end by themselves: once the policy has not wanted to forward a key for the app's
 * `leasing.idleRevokeMs`, the lessor revokes the lease and merges the partials back.
 *
 * Starvation bound: that of `edf`.
 *
 * @example createPolicy('dirigo', { marginMs: 20 })
 */
export function dirigoPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, ['missingDeadlineMs', 'marginMs', 'forwardDelayMs']);
  const missing = positiveNumber(options, 'missingDeadlineMs', 1000);
  const margin = options.marginMs === undefined ? 0 : positiveNumber(options, 'marginMs', 0);
  const forwardDelay = positiveNumber(options, 'forwardDelayMs', 100);
  let turn = 0;
  /** Per peer: the report time seen, and how many messages were forwarded to it since. */
  const sent = new Map<string, { at: number; n: number }>();

  /** Messages a peer has queued or is about to: its report plus what was forwarded to it since. */
  const backlog = (p: PeerLoad): number => {
    const s = sent.get(p.id);
    return s === undefined || s.at !== p.at ? p.queued : p.queued + s.n;
  };

  /** The less loaded of two peers; undefined when there is none. */
  const peer = (view: WorkerView): PeerLoad | undefined => {
    const peers = view.peers;
    if (peers.length === 0) return undefined;
    const [i, j] = twoChoices(peers.length, turn++);
    const a = peers[i]!;
    const b = peers[j]!;
    return backlog(a) <= backlog(b) ? a : b;
  };

  const count = (p: PeerLoad): void => {
    const s = sent.get(p.id);
    if (s === undefined || s.at !== p.at) sent.set(p.id, { at: p.at, n: 1 });
    else s.n++;
  };

  return {
    name: 'dirigo',
    onArrival(msg: ScheduledMessage, view: WorkerView): ArrivalDecision {
      if (msg.leasable !== true) return 'admit';
      const cost = view.costEstimate(msg.app, msg.fn);
      const d = effectiveDeadline(msg.deadline, msg.enqueuedAt, missing) - margin;
      let here = view.now + cost;
      const qs = view.queues;
      for (let i = 0; i < qs.length; i++) here += costAhead(qs[i]!, d);
      if (here <= d) return 'admit';
      const p = peer(view);
      if (p === undefined) return { forward: '', fallback: 'admit' };
      const there = view.now + forwardDelay + (backlog(p) + 1) * cost;
      if (there >= here) return 'admit';
      count(p);
      return { forward: p.id, fallback: 'admit' };
    },
    pickNext: (view: WorkerView): QueueView | undefined => pickEarliestDeadline(view, missing),
  };
}
