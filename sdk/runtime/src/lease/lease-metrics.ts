// Counters of leasing on one worker (as lessor and as lessee), since it started. Plain numbers: the hot path
// increments fields; metrics and the health view read them.

export interface LeaseCounters {
  /** Leases granted (a key got its first lessee) and lessees added to a running lease. */
  granted: number;
  slotsAdded: number;
  /** Lessees revoked (their final partial merged back when the reply arrives). */
  revoked: number;
  /** Messages forwarded to lessees. */
  forwarded: number;
  /** Sync rounds started (a critical message met lessees holding partials). */
  syncs: number;
  /** Partial replies merged at lessors. */
  merged: number;
  /** Barriers run: critical messages (with the messages queued behind them) run at the lessor. */
  barriers: number;
  /** Total time keys spent BLOCKED, ms, and how many blocked periods ended. */
  blockedMs: number;
  blockedPeriods: number;
  /** Control messages skipped: stale (old epoch or round, unexpected slot) or not understood. */
  stale: number;
  unknown: number;
  /** As lessee: forwarded messages processed and partial replies sent. */
  lesseeProcessed: number;
  replies: number;
  /** Forwarded messages a slot could not take (no such lease there): dead-lettered with the reason. */
  rejectedForwards: number;
  /**
   * As lessee: forwarded messages whose forwarding time is known (the lease header's `at`), and the sum of their
   * hops, ms: from the lessor's step that forwarded each to the slot's step that received it (the rest of the
   * lessor's step, its commit, the slot's fetch). Wall clocks of two workers: skew between hosts adds to it.
   */
  forwardTransits: number;
  forwardTransitMs: number;
  /** When (ms since epoch, 0: never) this worker first and last forwarded a message, as lessor. */
  firstForwardAt: number;
  lastForwardAt: number;
  /** When it first processed a forwarded message, as lessee. */
  firstLesseeAt: number;
  /** When it last merged a revoked lessee's final partial back, as lessor. */
  lastFinalMergeAt: number;
}

export const newLeaseCounters = (): LeaseCounters => ({
  granted: 0,
  slotsAdded: 0,
  revoked: 0,
  forwarded: 0,
  syncs: 0,
  merged: 0,
  barriers: 0,
  blockedMs: 0,
  blockedPeriods: 0,
  stale: 0,
  unknown: 0,
  lesseeProcessed: 0,
  replies: 0,
  rejectedForwards: 0,
  forwardTransits: 0,
  forwardTransitMs: 0,
  firstForwardAt: 0,
  lastForwardAt: 0,
  firstLesseeAt: 0,
  lastFinalMergeAt: 0,
});

/** Which lease slot a lessor forwards to. */
export interface SlotDirectory {
  /**
   * A slot of `app`'s lease topic not in `taken`, owned by another worker: worker `to` when the scheduling
   * policy named one (and it owns a free slot), otherwise chosen by the workers' load (power of two choices)
   * or, without load reports, any slot this worker does not own. Undefined when there is none.
   */
  pick(app: string, to: string, taken: readonly number[]): number | undefined;
  /** The slot among `slots` that worker `to` owns by its last load report, or undefined. */
  ownedBy(app: string, to: string, slots: readonly number[]): number | undefined;
}
