// The dispatcher: one per worker. Steps submit their messages into partition queues; the dispatch loop asks
// the scheduling policy which queue's eligible head runs next, runs it, and measures queueing delay, cost and
// end-to-end latency against the deadline. Per-key order is enforced here, whatever the policy decides.
import { silentLogger } from '@dirigo/core';
import { type Clock, systemClock } from '../clock.ts';
import { Accounting } from './accounting.ts';
import {
  DispatcherClosedError,
  type DispatcherOptions,
  type DispatcherStats,
  type SubmitOptions,
} from './dispatcher-options.ts';
import { type AppMetricsSink, noopSchedulerMetrics, type SchedulerMetrics } from './metrics.ts';
import { PolicyGuard } from './policy-guard.ts';
import {
  type AppLoad,
  Batch,
  type CostStats,
  DEFERRED,
  DEPRIORITISED,
  PartitionQueue,
  type StepOutlet,
  TAKEN,
} from './queue.ts';
import { StepMessages } from './step-messages.ts';
import type { LeaseInfo, PeerLoad, ScheduledMessage, SendDecision, SendTarget, WorkerView } from './types.ts';

const isThenable = (v: unknown): v is PromiseLike<void> =>
  v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';

type MutableView = WorkerView & { now: number; peers: readonly PeerLoad[] };

/**
 * Runs the messages of all queues of a worker in the order a `SchedulingPolicy` chooses.
 *
 * Ordering invariant: messages with the same key in the same queue run one at a time and in queue order;
 * different keys of one queue overlap only with async handlers, up to `maxConcurrentKeys` per queue, and at
 * most `maxInFlight` messages run at once overall. Sync handlers complete inline (no promise per message);
 * the loop yields to the event loop (setImmediate) every `yieldEvery` runs or `yieldAfterMs`, so batches of
 * other apps fetched meanwhile can be submitted and overtake a backlog. Dispatching starts in a microtask
 * after `submit`, so steps submitted together are all visible to the policy's first decision.
 *
 * @example
 * const d = new Dispatcher({ policy: createPolicy('edf'), clock, logger });
 * await d.submit(messages, { run: (i) => handle(records[i]) });
 */
export class Dispatcher {
  private readonly guard: PolicyGuard;
  private readonly clock: Clock;
  private readonly acct: Accounting;
  private readonly maxInFlight: number;
  private readonly maxInFlightPerApp: number;
  private readonly loads = new Map<string, AppLoad>();
  private readonly yieldEvery: number;
  private readonly yieldAfterMs: number;
  private readonly scanLimit: number;
  private readonly runLength: number;
  private readonly runBudgetMs: number;
  /**
   * The messages being accounted by `complete`, as their steps and indexes (reused): a run's synchronously
   * completed ones, or (slot 0) an async message that finished (runs are synchronous: the slots are free then).
   */
  private readonly runIndexes: number[] = [];
  private readonly runBatches: (Batch | undefined)[] = [];

  private readonly queues = new Map<string, PartitionQueue>();
  /** Queues with queued messages: `view.queues`. */
  private readonly active: PartitionQueue[] = [];
  private readonly dirty: PartitionQueue[] = [];
  private readonly scratch = new Set<string>();
  private deferredBatches: Batch[] = [];
  private deferredIndexes: number[] = [];
  private readonly view: MutableView;
  private readonly metrics: SchedulerMetrics;

  private inFlight = 0;
  private pumping = false;
  private microtaskPending = false;
  private immediatePending = false;
  private yielding = false;
  private sliceRuns = 0;
  private sliceStart = 0;
  /** The clock's time when the message being run synchronously started; NaN outside such a run. */
  private runStart = Number.NaN;
  /** `runningAt` of the current run, once made. */
  private runAt: { readonly now: number } | undefined;
  private closed = false;
  private leaseSource: () => readonly LeaseInfo[] = () => [];
  private readonly counters = { forwarded: 0, forwardFallbacks: 0, deferred: 0, deprioritised: 0, held: 0 };

  constructor(options: DispatcherOptions) {
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics ?? noopSchedulerMetrics;
    const logger = (options.logger ?? silentLogger()).child({ scheduler: options.policy.name });
    this.guard = new PolicyGuard(options.policy, logger, this.metrics, this.clock);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 64);
    this.maxInFlightPerApp = Math.max(
      1,
      Math.min(this.maxInFlight, options.maxInFlightPerApp ?? this.maxInFlight),
    );
    this.yieldEvery = Math.max(1, options.yieldEvery ?? 1024);
    this.yieldAfterMs = options.yieldAfterMs ?? 5;
    this.scanLimit = Math.max(1, options.scanLimit ?? 64);
    this.runLength = Math.max(1, Math.floor(options.runLength ?? 32));
    this.runBudgetMs = Math.max(0, options.runBudgetMs ?? 0.25);
    const now = this.clock.now();
    this.acct = new Accounting(
      this.metrics,
      now,
      options.utilisationWindowMs ?? 10_000,
      options.defaultCostMs ?? 1,
      options.costAlpha ?? 0.2,
    );
    const self = this;
    this.view = {
      now,
      queues: this.active,
      peers: [],
      get inFlight() {
        return self.inFlight;
      },
      get utilisation() {
        return self.utilisation();
      },
      costEstimate: (app, fn) => this.acct.costEstimate(app, fn),
      leases: () => this.leaseSource(),
    };
    this.guard.init(this.view);
  }

  /** The policy's name. */
  get policyName(): string {
    return this.guard.policy.name;
  }

  /**
   * Enqueues a step's messages (all of one queue, `messages[0].queue`, in order) and resolves when all of
   * them have run or left. `outlet.run(i)` (or `outlet(i)` when it is a function) runs `messages[i]`; it may
   * return a promise (async handler). A message the arrival hook forwards goes to `outlet.forward(i, to)` during
   * this call and is never queued (when that returns false, or there is no `forward`, the decision's fallback
   * applies). `messages` as `StepMessages` columns (what the step runner gives): the dispatcher makes a message's
   * object only when a policy is shown it; as objects, those are the ones policies see.
   *
   * Errors: `run` is expected to handle handler failures itself (dead-letter). If it throws or rejects (or
   * `forward` throws), the rest of the step is abandoned (its queued messages never run), the messages already
   * running finish, and the promise rejects with the first error. The arrival hook runs per message during this
   * call, after `enqueuedAt` is stamped; critical messages skip it.
   */
  submit(
    messages: readonly ScheduledMessage[] | StepMessages,
    outlet: StepOutlet | StepOutlet['run'],
    options?: SubmitOptions,
  ): Promise<void> {
    if (this.closed) return Promise.reject(new DispatcherClosedError('the dispatcher is closed'));
    const n = messages.length;
    if (n === 0) return Promise.resolve();
    const msgs = messages instanceof StepMessages ? messages : StepMessages.of(messages);
    let q = this.queues.get(msgs.queue);
    if (q === undefined) {
      const app = msgs.appAt(0);
      const fn = msgs.fnAt(0);
      q = new PartitionQueue(
        msgs,
        this.acct.costStats(app, fn),
        this.acct.sinkFor(app, fn),
        this.loadOf(app),
      );
      this.queues.set(q.id, q);
      q.load.queues.add(q);
    }
    const mck = options?.maxConcurrentKeys;
    if (mck !== undefined) q.maxConcurrentKeys = Math.max(1, mck);
    q.backlog = options?.backlog ?? 0;
    const b = new Batch(msgs, typeof outlet === 'function' ? { run: outlet } : outlet, q);
    const promise = new Promise<void>((resolve, reject) => {
      b.resolve = resolve;
      b.reject = reject;
    });
    const now = this.clock.now();
    msgs.stamp(now);
    q.batches.push(b);
    if (!this.guard.hasArrival) {
      b.end = n;
      q.length += n;
      q.sink.arrival('admit', n);
      this.activate(q);
    } else {
      this.arrive(q, b, now);
      if (b.remaining === 0 && !b.failed) this.settle(b); // every message was forwarded
    }
    this.markDirty(q);
    this.schedulePump();
    return promise;
  }

  /** Runs the arrival hook per message, admitting each before asking about the next. */
  private arrive(q: PartitionQueue, b: Batch, now: number): void {
    if (this.dirty.length > 0) this.refreshDirty();
    this.view.now = now;
    const messages = b.messages;
    for (let i = 0; i < messages.length; i++) {
      const d = messages.criticalAt(i) ? 'admit' : this.guard.arrival(messages.at(i), this.view);
      const sink = this.sinkOf(q, b, i);
      if (d === 'admit') {
        sink.arrival('admit', 1);
      } else if (d === 'defer') {
        b.flags[i] = DEFERRED;
        q.deferred++;
        this.deferredBatches.push(b);
        this.deferredIndexes.push(i);
        this.counters.deferred++;
        sink.arrival('defer', 1);
      } else if (d === 'deprioritise') {
        this.deprioritise(q, b, i, sink);
      } else {
        let gone = false;
        try {
          gone = b.outlet.forward?.(i, d.forward) === true;
        } catch (e) {
          b.end = i;
          this.failBatch(q, b, e);
          return;
        }
        if (gone) {
          this.counters.forwarded++;
          sink.arrival('forward', 1);
          b.end = i + 1;
          q.skipArriving(b, i);
          continue;
        }
        // Nobody to forward to: the decision's fallback applies (counted as a forward decision as well).
        this.counters.forwardFallbacks++;
        sink.arrival('forward', 1);
        if (d.fallback === 'deprioritise') this.deprioritise(q, b, i, sink);
      }
      b.end = i + 1;
      q.length++;
      if (q.length === 1) this.activate(q);
    }
  }

  private deprioritise(q: PartitionQueue, b: Batch, i: number, sink: AppMetricsSink): void {
    b.flags[i] = DEPRIORITISED;
    q.deprioritised++;
    this.counters.deprioritised++;
    sink.arrival('deprioritise', 1);
  }

  /** The policy has a send hook (`checkSend` answers other than 'pass'): callers then keep each running message. */
  get hasSendHook(): boolean {
    return this.guard.policy.onSend !== undefined;
  }

  /**
   * Asks the send hook about one outgoing message of the running message `msg`. On 'hold' the caller keeps
   * the outgoing message and sends it after the next `tick()`, without asking again.
   */
  checkSend(msg: ScheduledMessage, target: SendTarget): SendDecision {
    if (this.guard.policy.onSend === undefined) return 'pass';
    if (this.dirty.length > 0) this.refreshDirty();
    this.view.now = this.clock.now();
    const d = this.guard.send(msg, target, this.view);
    if (d === 'hold') {
      this.counters.held++;
      this.acct.sinkFor(msg.app, msg.fn).held();
    }
    return d;
  }

  /**
   * Periodic work (the worker's tick): releases deferred messages, calls the policy's `onTick`, samples the
   * worker into the metrics, and resumes dispatching.
   */
  tick(): void {
    const now = this.clock.now();
    const bs = this.deferredBatches;
    const is = this.deferredIndexes;
    this.deferredBatches = [];
    this.deferredIndexes = [];
    for (let k = 0; k < bs.length; k++) {
      const b = bs[k]!;
      const i = is[k]!;
      const f = b.flags[i]!;
      if ((f & TAKEN) === 0 && (f & DEFERRED) !== 0) {
        b.flags[i] = f & ~DEFERRED;
        b.queue.deferred--;
        this.markDirty(b.queue);
      }
    }
    if (this.dirty.length > 0) this.refreshDirty();
    this.view.now = now;
    this.guard.tick(this.view);
    let queued = 0;
    const queues = [];
    for (const q of this.queues.values()) {
      queued += q.length;
      queues.push({ id: q.id, app: q.app, fn: q.fn, length: q.length, inFlight: q.inFlight });
    }
    const utilisation = this.utilisation(now);
    this.metrics.worker({ at: now, utilisation, inFlight: this.inFlight, queued, queues });
    this.schedulePump();
  }

  /** Where `view.leases()` reads the worker's leases from. */
  setLeaseSource(source: () => readonly LeaseInfo[]): void {
    this.leaseSource = source;
  }

  /** Replaces the load reports of other workers (`view.peers`). */
  setPeers(peers: readonly PeerLoad[]): void {
    this.view.peers = peers;
  }

  /** Cost estimate of `app`/`fn` in ms (EWMA of observed costs, else `defaultCostMs`). */
  costEstimate(app: string, fn: string): number {
    return this.acct.costEstimate(app, fn);
  }

  /** Busy time / wall time over the recent window, 0..1. */
  utilisation(now: number = this.clock.now()): number {
    return this.acct.utilisation(now, this.inFlight);
  }

  /** Live counters. */
  stats(): DispatcherStats {
    let queued = 0;
    let backlog = 0;
    for (const q of this.queues.values()) {
      queued += q.length;
      backlog += q.backlog;
    }
    return {
      queued,
      backlog,
      inFlight: this.inFlight,
      queues: this.queues.size,
      utilisation: this.utilisation(),
      ...this.counters,
      policyErrors: this.guard.errors,
    };
  }

  /**
   * Stops dispatching: queued messages are abandoned (their steps reject with DispatcherClosedError once
   * their running messages finish), later submits reject, and the policy's `close` is called.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const q of [...this.queues.values()]) {
      for (const b of [...q.batches])
        this.failBatch(q, b, new DispatcherClosedError('the dispatcher was closed'));
    }
    this.guard.close();
  }

  /**
   * While the dispatcher runs a message (synchronously, inside `outlet.run`), the clock's time its run started at
   * (see `runLength`): the message's "now", read once for the decision and the run, at most about `runBudgetMs`
   * before the message itself started. NaN at any other time (read the clock then).
   */
  get runningSince(): number {
    return this.runStart;
  }

  /**
   * `runningSince` as an object shared by the messages of the run (made on first use in each run): a context keeps
   * a pointer instead of a number of its own. Undefined outside a run.
   */
  get runningAt(): { readonly now: number } | undefined {
    if (Number.isNaN(this.runStart)) return undefined;
    let at = this.runAt;
    if (at === undefined) {
      at = { now: this.runStart };
      this.runAt = at;
    }
    return at;
  }

  // ---- the dispatch loop ----

  private readonly onMicrotask = (): void => {
    this.microtaskPending = false;
    this.pump();
  };

  /** Ends the slice; resumes dispatching if the loop yielded. */
  private readonly onImmediate = (): void => {
    this.immediatePending = false;
    this.sliceRuns = 0;
    if (this.yielding) {
      this.yielding = false;
      this.pump();
    }
  };

  private schedulePump(): void {
    if (this.microtaskPending || this.pumping || this.yielding) return;
    this.microtaskPending = true;
    queueMicrotask(this.onMicrotask);
  }

  private pump(): void {
    if (this.pumping || this.yielding || this.closed) return;
    this.pumping = true;
    try {
      const clock = this.clock;
      // One clock read per run: the end of a sync run is the start of the next decision.
      let now = clock.now();
      while (this.inFlight < this.maxInFlight && this.active.length > 0) {
        if (this.dirty.length > 0) this.refreshDirty();
        const start = now;
        this.view.now = start;
        const q = this.guard.pick(this.view, this.isEligible) as PartitionQueue | undefined;
        if (q === undefined) break;
        if (!this.immediatePending) {
          // One setImmediate per slice, not per message: it ends the slice and resumes after a yield.
          this.immediatePending = true;
          setImmediate(this.onImmediate);
          this.sliceStart = start;
        }
        now = this.runFrom(q, start);
        if (this.sliceRuns >= this.yieldEvery || now - this.sliceStart >= this.yieldAfterMs) {
          this.yielding = true;
          break;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Runs the head the policy picked in `q` and, while each message completes synchronously, the queue's next
   * eligible messages (a run, see `runLength`); returns the clock's time at its end. The run's messages share
   * its start (their `runningSince`) and end, and its cost is divided among them.
   */
  private runFrom(q: PartitionQueue, start: number): number {
    let b = q.headBatch!;
    let i = q.headIndex;
    // The run's cost is its first message's function's (the run goes on with messages of that function only).
    const stats = this.costOf(q, b, i);
    const app = b.messages.appAt(i);
    const fn = b.messages.fnAt(i);
    const est = stats.estimate;
    const max =
      est > 0 ? Math.min(this.runLength, Math.max(1, Math.floor(this.runBudgetMs / est))) : this.runLength;
    const indexes = this.runIndexes;
    const batches = this.runBatches;
    let k = 0;
    let r: unknown;
    let threw = false;
    let async = false;
    let error: unknown;
    this.markDirty(q);
    this.runStart = start;
    this.runAt = undefined;
    for (;;) {
      q.takeHead();
      if (q.length === 0) this.deactivate(q); // policies called while it runs see only queues with messages
      this.sliceRuns++;
      try {
        r = b.outlet.run(i);
      } catch (e) {
        threw = true;
        error = e;
        break;
      }
      if (isThenable(r)) {
        async = true;
        break;
      }
      indexes[k] = i;
      batches[k] = b;
      k++;
      if (k >= max || this.sliceRuns >= this.yieldEvery || !q.nextInRun(app, fn)) break;
      // Messages that suddenly cost more than the estimate end the run: the clock is read every 8 messages.
      if ((k & 7) === 0 && this.clock.now() - start > this.runBudgetMs) break;
      b = q.headBatch!;
      i = q.headIndex;
    }
    this.runStart = Number.NaN;
    this.runAt = undefined;
    const end = this.clock.now();
    if (k > 0) {
      if (this.inFlight === 0) this.acct.addBusy(start, end);
      const cost = (end - start) / (k + (threw || async ? 1 : 0));
      this.acct.observeCost(stats, cost);
      // Consecutive messages of one step (so one enqueue time; a run keeps to one function) with one ingest time
      // and deadline have the same figures: recorded once.
      for (let j = 0; j < k; ) {
        const b = batches[j]!;
        const ingest = b.messages.ingest;
        const deadline = b.messages.deadline;
        const m = indexes[j]!;
        let e = j + 1;
        while (
          e < k &&
          batches[e] === b &&
          ingest[indexes[e]!] === ingest[m] &&
          deadline[indexes[e]!] === deadline[m]
        )
          e++;
        this.complete(q, b, j, e, start, end, cost);
        j = e;
      }
    }
    if (threw) {
      if (this.inFlight === 0 && k === 0) this.acct.addBusy(start, end);
      this.failed(q, b, error);
    } else if (async) {
      // An async message: it started in this run (after its first k messages), at its start when it came first.
      this.startAsync(q, b, i, k === 0 ? start : end, r as PromiseLike<void>);
    }
    return end;
  }

  /** The cost record of message `i` of `b`'s function: its queue's, unless the message is of another function. */
  private costOf(q: PartitionQueue, b: Batch, i: number): CostStats {
    const app = b.messages.appAt(i);
    const fn = b.messages.fnAt(i);
    return app === q.app && fn === q.fn ? q.cost : this.acct.costStats(app, fn);
  }

  /** The metrics sink of message `i` of `b`'s function: its queue's, unless the message is of another function. */
  private sinkOf(q: PartitionQueue, b: Batch, i: number): AppMetricsSink {
    const app = b.messages.appAt(i);
    const fn = b.messages.fnAt(i);
    return app === q.app && fn === q.fn ? q.sink : this.acct.sinkFor(app, fn);
  }

  /** A policy's answer is valid when it is one of our active queues with an eligible head. */
  private readonly isEligible = (q: unknown): boolean =>
    q instanceof PartitionQueue &&
    q.activeIndex >= 0 &&
    this.active[q.activeIndex] === q &&
    q.headBatch !== undefined;

  /** The in-flight count and cap of `app` (made on first use). */
  private loadOf(app: string): AppLoad {
    let load = this.loads.get(app);
    if (load === undefined) {
      load = { inFlight: 0, cap: this.maxInFlightPerApp, queues: new Set() };
      this.loads.set(app, load);
    }
    return load;
  }

  /** An app reached or left its cap: its queues' heads change. */
  private markApp(load: AppLoad): void {
    for (const q of load.queues) this.markDirty(q);
  }

  private startAsync(q: PartitionQueue, b: Batch, i: number, start: number, p: PromiseLike<void>): void {
    if (this.inFlight === 0) this.acct.activeSince = start;
    this.inFlight++;
    q.inFlight++;
    q.inFlightKeys.add(b.messages.keys[i]!);
    if (++q.load.inFlight === q.load.cap) this.markApp(q.load);
    p.then(
      () => this.finishAsync(q, b, i, start, false, undefined),
      (e: unknown) => this.finishAsync(q, b, i, start, true, e),
    );
  }

  private finishAsync(
    q: PartitionQueue,
    b: Batch,
    i: number,
    start: number,
    threw: boolean,
    error: unknown,
  ): void {
    const end = this.clock.now();
    this.inFlight--;
    q.inFlight--;
    q.inFlightKeys.delete(b.messages.keys[i]!);
    if (q.load.inFlight-- === q.load.cap) this.markApp(q.load);
    if (this.inFlight === 0) this.acct.addBusy(this.acct.activeSince, end);
    this.markDirty(q);
    if (threw) this.failed(q, b, error);
    else {
      const cost = end - start;
      this.acct.observeCost(this.costOf(q, b, i), cost);
      this.runIndexes[0] = i;
      this.runBatches[0] = b;
      this.complete(q, b, 0, 1, start, end, cost);
    }
    this.forgetIfIdle(q);
    this.schedulePump();
  }

  /**
   * Accounts finished messages `from` to `to` (exclusive) of `runIndexes`, all of batch `b` with the same figures:
   * the sink records them at once where it can; the policy's `onComplete` sees each. `cost` is each one's: its own
   * (an async message), or its share of its run's (the caller folded that into the estimate once per run).
   */
  private complete(
    q: PartitionQueue,
    b: Batch,
    from: number,
    to: number,
    start: number,
    end: number,
    cost: number,
  ): void {
    const indexes = this.runIndexes;
    const batches = this.runBatches;
    const first = indexes[from]!;
    const messages = b.messages;
    const count = to - from;
    const queueing = start - messages.enqueuedAt;
    const latency = end - messages.ingest[first]!;
    const met = end <= messages.deadline[first]!;
    const sink = this.sinkOf(q, b, first);
    if (count > 1 && sink.completedMany !== undefined) {
      sink.completedMany(end, queueing, cost, latency, met, count);
    } else {
      for (let j = from; j < to; j++) sink.completed(end, queueing, cost, latency, met);
    }
    this.view.now = end;
    const hook = this.guard.policy.onComplete !== undefined;
    for (let j = from; j < to; j++) {
      if (hook) this.guard.complete(messages.at(indexes[j]!), cost, latency, queueing, met, this.view);
      batches[j] = undefined;
    }
    b.remaining -= count;
    if (b.remaining === 0) this.settle(b);
  }

  private failed(q: PartitionQueue, b: Batch, e: unknown): void {
    q.sink.failed();
    this.failBatch(q, b, e);
    if (--b.remaining === 0) this.settle(b);
  }

  /** Marks the step failed (first error wins) and abandons its queued messages. */
  private failBatch(q: PartitionQueue, b: Batch, e: unknown): void {
    if (b.failed) return;
    b.failed = true;
    b.error = e;
    const n = q.abandon(b);
    if (n > 0) {
      q.sink.abandoned(n);
      b.remaining -= n;
      this.markDirty(q);
      if (q.length === 0) this.deactivate(q);
      if (b.remaining === 0) this.settle(b);
    }
  }

  private settle(b: Batch): void {
    if (b.failed) b.reject(b.error);
    else b.resolve();
    this.forgetIfIdle(b.queue);
  }

  // ---- bookkeeping ----

  private activate(q: PartitionQueue): void {
    if (q.activeIndex >= 0) return;
    q.activeIndex = this.active.length;
    this.active.push(q);
  }

  private deactivate(q: PartitionQueue): void {
    const at = q.activeIndex;
    if (at < 0) return;
    const last = this.active.pop()!;
    if (last !== q) {
      this.active[at] = last;
      last.activeIndex = at;
    }
    q.activeIndex = -1;
  }

  /** Drops a queue with nothing queued or running (a partition that moves away leaves no trace). */
  private forgetIfIdle(q: PartitionQueue): void {
    if (q.length === 0 && q.inFlight === 0 && q.batches.length === 0 && this.queues.get(q.id) === q) {
      this.queues.delete(q.id);
      q.load.queues.delete(q);
    }
  }

  private markDirty(q: PartitionQueue): void {
    if (!q.dirty) {
      q.dirty = true;
      this.dirty.push(q);
    }
  }

  private refreshDirty(): void {
    const d = this.dirty;
    for (let i = 0; i < d.length; i++) {
      const q = d[i]!;
      if (q.dirty) q.refreshHead(this.scratch, this.scanLimit);
    }
    d.length = 0;
  }
}
