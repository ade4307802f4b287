// The scheduling API of one worker's data plane (DESIGN.md "Message path on one worker"): what the dispatcher
// tells a policy (views of the queues and of the worker) and the hooks a policy implements (arrival, dispatch,
// send, completion, tick), after the Dirigo prototype's enqueue / getNextMessage / prepareSend / postApply.
import type { PriorityClass } from '@dirigo/core';

/**
 * One message waiting to run, as the scheduler sees it. The caller builds it from the record's headers
 * (`dirigo-ingest`, `dirigo-deadline`, `dirigo-priority`) and the function it is addressed to.
 */
export interface ScheduledMessage {
  /** App the message belongs to. */
  readonly app: string;
  /** Function that will handle it. */
  readonly fn: string;
  /** Actor key (the record key as text; '' for null). Messages of one key in one queue run in order. */
  readonly key: string;
  /** Id of its partition queue, e.g. `<group>/<partition>`. */
  readonly queue: string;
  /** Priority class of the app. */
  readonly priority: PriorityClass;
  /** Ingest time, ms since epoch: when the original record entered the app. */
  readonly ingest: number;
  /** Absolute deadline, ms since epoch (ingest + the app's latency target). */
  readonly deadline: number;
  /**
   * When it was enqueued, ms since epoch. Stamped by `Dispatcher.submit` (any value given is overwritten).
   * Initialise it with a time such as the fetch time, not 0: V8 then stores the field as a double from the
   * start, while stamping a time into a field created as a small integer changes every object's hidden class
   * (measured: +0.4 s per million messages).
   */
  enqueuedAt: number;
  /**
   * A critical message of a dual-mode actor (it must run at the lessor, alone). Critical messages bypass the
   * arrival hook: they are always admitted, never deferred, deprioritised or forwarded.
   */
  readonly critical?: boolean;
  /**
   * An ordinary message of a leasable function: a `{ forward }` arrival decision can send it to a lessee (the
   * key is leased to another worker, which runs it against partial state). Other messages always run here.
   */
  readonly leasable?: boolean;
}

/**
 * One partition queue, as shown to a policy. Views are live objects owned by the dispatcher: read them during
 * the hook call, never keep them (a queue that empties may be dropped and a new view made later).
 */
export interface QueueView {
  /** The queue id (`ScheduledMessage.queue`). */
  readonly id: string;
  /** App, function and priority class of the queue (taken from its first message). */
  readonly app: string;
  readonly fn: string;
  readonly priority: PriorityClass;
  /** Messages queued (not yet started), eligible or not. */
  readonly length: number;
  /** Messages of this queue running now (async handlers). */
  readonly inFlight: number;
  /**
   * The message that would run next if this queue is picked: the first queued message whose key is not in
   * flight, that no earlier queued message of the same key precedes, and that is not deferred; a message
   * that is not deprioritised is preferred to a deprioritised one (keys still keep their order). Undefined
   * when nothing in the queue may run now (keys busy, `maxConcurrentKeys` reached, or everything deferred).
   */
  readonly head: ScheduledMessage | undefined;
  /** True when `head` was deprioritised by the arrival hook (no other eligible message was left). */
  readonly headDeprioritised: boolean;
  /** `enqueuedAt` of the oldest queued message (eligible or not); NaN when empty. */
  readonly oldestEnqueuedAt: number;
  /** Deadline of the oldest queued message; NaN when empty. */
  readonly firstDeadline: number;
  /** Deadline of the newest queued message; NaN when empty. */
  readonly lastDeadline: number;
  /**
   * Estimated cost in ms of the queued messages that are not deprioritised: their number times the cost
   * estimate of the queue's function.
   */
  readonly queuedCostMs: number;
  /**
   * Input records of this partition behind the queued ones, not submitted yet: the rest of the fetched batch
   * and what the partition held beyond it when fetched (its lag). 0 when unknown.
   */
  readonly backlog: number;
}

/** Load reported by another worker (from the control topic). */
export interface PeerLoad {
  /** Worker id, or lease slot id of a lessee. */
  readonly id: string;
  /** Messages queued there. */
  readonly queued: number;
  /** Input records behind its queued ones (fetched or not), when it reports them. */
  readonly backlog?: number;
  /** Its utilisation, 0..1. */
  readonly utilisation: number;
  /** When the report was made, ms since epoch. */
  readonly at: number;
  /** Lease slots it owns, per app (it is the lessee of leases granted to them). */
  readonly slots?: Readonly<Record<string, readonly number[]>>;
}

/** The worker as shown to a policy. A live object: read it during the hook call, never keep it. */
export interface WorkerView {
  /** Now, ms since epoch (the injected clock, read once per decision). */
  readonly now: number;
  /** Messages running now (async handlers) across all queues. */
  readonly inFlight: number;
  /** Queues that have at least one queued message. */
  readonly queues: readonly QueueView[];
  /** Busy time / wall time over a recent window (default 10 s), 0..1. */
  readonly utilisation: number;
  /**
   * Estimated cost of one message of `app`/`fn` in ms: an EWMA of observed costs (time from dispatch to
   * completion), or the dispatcher's `defaultCostMs` before the first observation.
   */
  costEstimate(app: string, fn: string): number;
  /** Load reports of other workers; empty until the worker fills it from the control topic. */
  readonly peers: readonly PeerLoad[];
  /**
   * The leases this worker holds as lessor (hot keys of leasable functions with their lessees and mode). Built
   * on each call from the lessors' tables: call it when you need it, not per message.
   */
  leases(): readonly LeaseInfo[];
}

/** A lease as shown to a policy. */
export interface LeaseInfo {
  readonly app: string;
  readonly fn: string;
  readonly key: string;
  readonly partition: number;
  /** Lease epoch: bumped by every grant after the key had no lessee. */
  readonly epoch: number;
  /** Lease slots (lessees) receiving its forwarded messages. */
  readonly slots: readonly number[];
  /** The key's mode at the lessor. */
  readonly mode: 'RUNNABLE' | 'BLOCKED' | 'CRITICAL';
  /** Partial replies still awaited. */
  readonly waiting: number;
}

/**
 * The arrival hook's answer:
 * - 'admit': queue it, eligible now;
 * - 'defer': queue it but keep it (and later messages of its key) ineligible until the next `tick()`;
 * - 'deprioritise': queue it behind the eligible messages that are not deprioritised (key order is kept);
 * - `{ forward }`: hand it to a lessee (`forward`: a worker id, or '' for any): for a `leasable` message the
 *   key is leased to a lease slot of another worker, which runs it against partial state; when that is
 *   impossible (not leasable, the key is blocked, no other worker owns a lease slot) `fallback` applies
 *   (default 'admit').
 */
export type ArrivalDecision =
  | 'admit'
  | 'defer'
  | 'deprioritise'
  | { readonly forward: string; readonly fallback?: 'admit' | 'deprioritise' };

/** The send hook's answer: pass the outgoing message now, or hold it until the next tick. */
export type SendDecision = 'pass' | 'hold';

/** Where an outgoing message goes. */
export interface SendTarget {
  readonly app: string;
  readonly fn: string;
  readonly topic: string;
}

/** What the dispatcher measured for one completed message. Reused between calls: copy what you keep. */
export interface CompletionInfo {
  /** Time from dispatch to completion, ms (for async handlers this includes awaited I/O). */
  readonly costMs: number;
  /** End-to-end latency at completion: now - ingest, ms. */
  readonly latencyMs: number;
  /** Time spent queued on this worker: dispatch - enqueuedAt, ms. */
  readonly queueingMs: number;
  /** Completed by its deadline. */
  readonly metDeadline: boolean;
}

/**
 * A scheduling policy. Only `pickNext` is required. Hooks are called synchronously by the dispatcher; an
 * exception is caught, logged (once per hook per minute) and replaced by the FIFO decision.
 *
 * Starvation: the dispatcher is work-conserving (if `pickNext` returns undefined or an ineligible queue while
 * some queue has an eligible head, the oldest head runs), deferred messages and held sends are released at
 * the next tick, and each built-in policy bounds how long a queued message can wait (see its docs). A custom
 * policy should document its own bound.
 */
export interface SchedulingPolicy {
  /** Registry name, for logs and metrics. */
  readonly name: string;
  /** Called once when the dispatcher is created. */
  init?(view: WorkerView): void;
  /** Arrival: decides what happens to a message being queued. Default 'admit'. */
  onArrival?(msg: ScheduledMessage, view: WorkerView): ArrivalDecision;
  /** Dispatch: which queue's `head` runs next. Only queues with a `head` may be returned. */
  pickNext(view: WorkerView): QueueView | undefined;
  /**
   * Every send of a running message: 'pass' (default) or 'hold'. A held message is delayed by the caller
   * until the next tick and then sent without asking again.
   */
  onSend?(msg: ScheduledMessage, target: SendTarget, view: WorkerView): SendDecision;
  /** After the handler finished (not called for messages whose `run` threw). */
  onComplete?(msg: ScheduledMessage, info: CompletionInfo, view: WorkerView): void;
  /** Periodic (the worker's tick). */
  onTick?(view: WorkerView): void;
  /** When the dispatcher closes. */
  close?(): void;
}

/** Options given to a policy factory (from the worker's `scheduler.options`). */
export type PolicyOptions = Readonly<Record<string, unknown>>;

/** Makes a policy from its options; throws ConfigError naming `scheduler.options.<field>` on a bad option. */
export type PolicyFactory = (options: PolicyOptions) => SchedulingPolicy;
