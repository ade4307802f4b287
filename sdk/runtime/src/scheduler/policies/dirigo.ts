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
   * Expected delay before a forwarded message starts at a lessee, in ms (the rest of the lessor's step and its
   * commit, the lessee's fetch): a message is forwarded only when the lessee is predicted to finish it sooner,
   * this included. Default 25.
   */
  readonly forwardDelayMs?: number;
  /**
   * Only a hot key is leased: one with at least this many messages that would miss their deadline here within
   * the current second (counted per app, function and key). Leasing a cold key costs a grant, a revoke and a
   * merge for little gain. Default 8.
   */
  readonly hotKeyMessages?: number;
  /**
   * Once a key's message was forwarded, for this long (ms since its last forward) its messages are forwarded
   * whenever a peer would finish them sooner, not only once they would miss their deadline here: the lessor's
   * queue then stays short instead of growing to the deadline before anything leaves, and what is forwarded still
   * has the time the forwarded path takes. Default 1000.
   */
  readonly leasedWindowMs?: number;
}

/**
 * `dirigo`:
 * - arrival: a `leasable` message of a hot key (see `hotKeyMessages`) is forwarded, `{ forward: peer }` with
 *   fallback 'admit', when its partition is falling behind here and a peer would finish it sooner. Falling
 *   behind: now + the cost of the queued messages with earlier deadlines + its own cost + the cost of the
 *   partition's input behind it (`QueueView.backlog`: the rest of the fetched batch and the partition's lag)
 *   is later than its deadline (minus `marginMs`). Sooner: now + `forwardDelayMs` + the peer's backlog + its
 *   cost is earlier than that. The peer is the one with the smaller backlog of two (power of two choices);
 *   without load reports, '' (any lessee). A peer's backlog is estimated in ms of work: its last load report's
 *   queue and input backlog (a lessee's unfetched lease-topic records included), plus the cost of every
 *   message forwarded to it since, drained at one ms per ms (it works on them).
 *   So a hot partition's work is split between the lessor and its lessees by predicted finish: the lessor
 *   keeps working, an input that lags behind is shared rather than forwarded wholesale, and an overloaded peer
 *   gets nothing. Once a key's message was forwarded, for `leasedWindowMs` after each forward its messages go
 *   wherever they are predicted to finish sooner even when they would make their deadline here (a leased key
 *   keeps its lessor's queue short). Every other message is admitted.
 * - dispatch: earliest deadline first (ties: oldest `enqueuedAt`), like `edf`.
 * Leases end by themselves: once the policy has not wanted to forward a key for the app's
 * `leasing.idleRevokeMs`, the lessor revokes the lease and merges the partials back.
 *
 * Starvation bound: that of `edf`.
 *
 * @example createPolicy('dirigo', { marginMs: 20 })
 */
export function dirigoPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, [
    'missingDeadlineMs',
    'marginMs',
    'forwardDelayMs',
    'hotKeyMessages',
    'leasedWindowMs',
  ]);
  const missing = positiveNumber(options, 'missingDeadlineMs', 1000);
  const margin = options.marginMs === undefined ? 0 : positiveNumber(options, 'marginMs', 0);
  const forwardDelay = positiveNumber(options, 'forwardDelayMs', 25);
  const hotKeyMessages = positiveNumber(options, 'hotKeyMessages', 8);
  const leasedWindow = positiveNumber(options, 'leasedWindowMs', 1000);
  /** Messages per (app, fn, key) that would have missed their deadline here, in the current second. */
  let late = new Map<string, number>();
  let lateWindow = Number.NEGATIVE_INFINITY;
  /** Per (app, fn, key): when one of its messages was last forwarded (dropped once past the window). */
  const forwardedAt = new Map<string, number>();
  /** Starts a new second of late counts (and forgets keys not forwarded within the window) when one has passed. */
  const roll = (now: number): void => {
    if (now - lateWindow < 1000) return;
    late = new Map();
    lateWindow = now;
    for (const [k, at] of forwardedAt) if (now - at >= leasedWindow) forwardedAt.delete(k);
  };
  const hot = (id: string): boolean => {
    const n = (late.get(id) ?? 0) + 1;
    late.set(id, n);
    return n >= hotKeyMessages;
  };
  let turn = 0;
  /** Per peer: estimated backlog in ms of work as of `at`, and the report it last took in. */
  const backlogs = new Map<string, { work: number; at: number; report: number }>();

  /** A peer's estimated backlog now, in ms of work (`cost`: of one message of the function at hand). */
  const backlog = (p: PeerLoad, now: number, cost: number): { work: number; at: number; report: number } => {
    let b = backlogs.get(p.id);
    if (b === undefined) {
      b = { work: 0, at: now, report: Number.NaN };
      backlogs.set(p.id, b);
    }
    b.work = Math.max(0, b.work - (now - b.at));
    b.at = now;
    if (b.report !== p.at) {
      // A new report: its queue, drained since it was made; what was forwarded but not fetched there yet
      // is still in the estimate when that is larger.
      b.report = p.at;
      b.work = Math.max(b.work, (p.queued + (p.backlog ?? 0)) * cost - Math.max(0, now - p.at));
    }
    return b;
  };

  return {
    name: 'dirigo',
    onArrival(msg: ScheduledMessage, view: WorkerView): ArrivalDecision {
      if (msg.leasable !== true) return 'admit';
      const cost = view.costEstimate(msg.app, msg.fn);
      const d = effectiveDeadline(msg.deadline, msg.enqueuedAt, missing) - margin;
      const now = view.now;
      let here = now + cost;
      let behind = 0;
      const qs = view.queues;
      for (let i = 0; i < qs.length; i++) {
        const q = qs[i]!;
        here += costAhead(q, d);
        if (q.id === msg.queue) behind = q.backlog * cost;
      }
      // The work this worker has for the partition: what runs before the message, and the input behind it
      // (fetched or not). When that cannot be done by the deadline, the partition is falling behind.
      const local = here + behind;
      roll(now);
      // The key's id only when it can matter: a key is looked up as leased only while some key is.
      if (local <= d && forwardedAt.size === 0) return 'admit';
      const id = `${msg.app}\u0000${msg.fn}\u0000${msg.key}`;
      const leased = now - (forwardedAt.get(id) ?? Number.NEGATIVE_INFINITY) < leasedWindow;
      if (!leased && (local <= d || !hot(id))) return 'admit';
      const peers = view.peers;
      if (peers.length === 0) {
        // No load reports to compare with: only what would be late here leaves.
        if (local <= d) return 'admit';
        forwardedAt.set(id, now);
        return { forward: '', fallback: 'admit' };
      }
      const [i, j] = twoChoices(peers.length, turn++);
      const a = backlog(peers[i]!, now, cost);
      const b = i === j ? a : backlog(peers[j]!, now, cost);
      const first = a.work <= b.work;
      const pb = first ? a : b;
      if (now + forwardDelay + pb.work + cost >= local) return 'admit';
      pb.work += cost;
      forwardedAt.set(id, now);
      return { forward: peers[first ? i : j]!.id, fallback: 'admit' };
    },
    pickNext: (view: WorkerView): QueueView | undefined => pickEarliestDeadline(view, missing),
  };
}
