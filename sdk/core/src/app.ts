// The public API to define an app: stateful functions (virtual actors addressed by function name and string
// key), typed state cells, ingresses from existing topics, egresses to topics, and per-app options. These are
// plain data; `resolveApp` (options.ts) validates them in one place and the runtime executes them.
import type { KeySerde } from './keys.ts';
import type { Logger } from './logging.ts';
import type { Mergeable } from './mergeable.ts';
import type { Serde } from './serde.ts';
import type { RecordHeaders } from './transport.ts';

/**
 * A single value per actor. Call its methods on the accessor (`ctx.state.n.get()`): they are methods of one
 * object per state and message, not functions bound to it, so a destructured `get` has no state to read.
 */
export interface ValueState<T> {
  /** The current value, or `undefined` when never set (or cleared). */
  get(): T | undefined;
  set(value: T): void;
  clear(): void;
}

/**
 * A key-value map per actor. Only changed entries are written to the changelog. Call its methods on the
 * accessor (`ctx.state.seen.get(k)`), as for `ValueState`.
 */
export interface MapState<V> {
  get(key: string): V | undefined;
  has(key: string): boolean;
  set(key: string, value: V): void;
  delete(key: string): void;
  /** Entries in no particular order. */
  entries(): [string, V][];
}

/**
 * A mergeable value per actor (`state.mergeable(m)`): its partial values combine with `m.combine`, so the
 * ordinary messages of a hot key of a leasable function can run at several lessees at once.
 *
 * In an ordinary (not critical) message of a leasable function, `get()` sees only this copy's partial value
 * (what this lessee, or the lessor, merged since its copy started from `identity()`), not the key's total, and
 * only `merge` may be called: `set` and `clear` throw there, wherever the message runs (also at the lessor
 * and also when the key is not leased at the moment), so the result never depends on where it ran. `set` and
 * `clear` are for critical messages, which run at the lessor with the fully merged value; in a function that
 * is not leasable every message sees the full value and all four methods may be called.
 *
 * @example
 * // ordinary message: add to the partial count
 * ctx.state.clicks.merge(1);
 * // critical message (e.g. 'report'): the total of every partial, then start over
 * ctx.emit('totals', ctx.key, ctx.state.clicks.get());
 * ctx.state.clicks.clear();
 */
export interface MergeableState<V> {
  /** The current local value; `identity()` when never written (or cleared). Treat it as read-only. */
  get(): V;
  /** value = combine(value, delta). Allowed in every message. */
  merge(delta: V): void;
  /** Replaces the value. Throws in ordinary messages of a leasable function; use it in critical ones. */
  set(value: V): void;
  /** Resets the value to `identity()`. Throws in ordinary messages of a leasable function. */
  clear(): void;
}

/** The kinds of state cell: exclusive `value` and `map` (touched only at the lessor) and `mergeable`. */
export type StateKind = 'value' | 'map' | 'mergeable';

/**
 * Declares a state cell: its kind, serde and, for mergeable cells, its combiner. Create with `state.value()`,
 * `state.map()` or `state.mergeable(m)`.
 */
export interface StateSpec<K extends StateKind = StateKind, T = unknown> {
  readonly kind: K;
  readonly serde: Serde<T> | undefined;
  /** How partial values combine; set (and required) exactly when `kind` is 'mergeable'. */
  readonly merge?: Mergeable<T>;
}

/** Accessors handed to a handler for its declared state. */
export type StateAccessors<S extends Record<string, StateSpec>> = {
  readonly [N in keyof S]: S[N] extends StateSpec<'value', infer T>
    ? ValueState<T>
    : S[N] extends StateSpec<'map', infer V>
      ? MapState<V>
      : S[N] extends StateSpec<'mergeable', infer M>
        ? MergeableState<M>
        : never;
};

/** State cell constructors. */
export const state = {
  /** One value per actor; JSON unless a serde is given. */
  value<T>(options: { serde?: Serde<T> } = {}): StateSpec<'value', T> {
    return { kind: 'value', serde: options.serde };
  },
  /** A string-keyed map per actor; JSON values unless a serde is given. */
  map<V>(options: { serde?: Serde<V> } = {}): StateSpec<'map', V> {
    return { kind: 'map', serde: options.serde };
  },
  /**
   * One mergeable value per actor, combined with `m` (see `merge` for the built-ins); JSON unless a serde is
   * given, and `m`'s values must survive that serde. The only kind of cell a leasable function may declare.
   *
   * @example
   * state: { total: state.mergeable(merge.sum()) }   // ctx.state.total.merge(amount)
   */
  mergeable<V>(m: Mergeable<V>, options: { serde?: Serde<V> } = {}): StateSpec<'mergeable', V> {
    return { kind: 'mergeable', serde: options.serde, merge: m };
  },
} as const;

/** Where the message being handled came from. */
export interface MessageOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Record timestamp (ms since epoch). */
  readonly timestamp: number;
  readonly headers: RecordHeaders;
}

/** Options of `send`. */
export interface SendOptions {
  /**
   * Deliver once the sender's event-time watermark reaches this event time (ms since epoch): an event-time
   * timer, durable like `delayMs` ones. The message's record timestamp is this time. Needs
   * `options.eventTime` on the app. Not together with `delayMs`.
   */
  readonly atEventTime?: number;
  /** Deliver after this many ms (a durable timer kept in the sender's state; fires at least this late). */
  readonly delayMs?: number;
  /**
   * The message is critical at its target: it runs at the key's lessor, after all partial state of the key is
   * merged and before any later message of the key (as if the target's `critical` predicate returned true).
   * With `delayMs`, it is critical when delivered. No effect on a target that is not leasable. Default false.
   */
  readonly critical?: boolean;
}

/**
 * What a handler can do. Valid only during the handler call (an async handler's until its promise settles):
 * `send`, `emit` and state writes after that throw.
 */
export interface Context<S extends Record<string, StateSpec> = Record<string, StateSpec>> {
  readonly app: string;
  /** This function's name. */
  readonly fn: string;
  /**
   * This actor's key as text, decoded by the function's `keySerde` ('' for a record without a key). The actor
   * itself is the exact key bytes (`keyBytes`): keys that decode to the same text (bytes that are not UTF-8,
   * a null key and an empty one) are still different actors. Records without a key are not routed by key, so a
   * function reading them directly has one null-key actor per input partition.
   */
  readonly key: string;
  /** The record key's exact bytes; null for a record without a key. */
  readonly keyBytes: Buffer | null;
  readonly state: StateAccessors<S>;
  /**
   * Now, from the worker's clock (the test clock in the test driver): when the scheduler started this message, or
   * the run of cheap messages of its partition it started together (at most about `scheduler.runBudgetMs` earlier).
   */
  readonly now: number;
  /**
   * The message's event time, ms since epoch: the function's `eventTime(message, origin)` when it declares one,
   * else the record timestamp. Records this message sends or emits carry it as their timestamp when the app
   * uses event time (`options.eventTime`).
   */
  readonly eventTime: number;
  /**
   * The event-time watermark of this actor's input partition: no record with an earlier event time is expected
   * any more (one that comes anyway is late). `-Infinity` until every input that may send here has reported,
   * and always without `options.eventTime`. At a lessee, the lessor's watermark when it forwarded the message.
   */
  readonly watermark: number;
  readonly origin: MessageOrigin;
  readonly log: Logger;
  /**
   * Sends a message to function `fn` of this app, actor `key` (written with `fn`'s `keySerde`; `ctx.key` itself,
   * to a function with the same key serde, keeps the record's exact key bytes). Committed with this step
   * (exactly once).
   */
  send(fn: string, key: string, message: unknown, options?: SendOptions): void;
  /**
   * Writes a record to egress `egress`, with `key` written by the egress's `keySerde` (by default `ctx.key`
   * itself keeps the record's exact key bytes and other text is UTF-8; null: no key). Committed with this step.
   */
  emit(egress: string, key: string | null, value: unknown): void;
}

/** A stateful function: one virtual actor per key. */
export interface FunctionDefinition<
  In = unknown,
  S extends Record<string, StateSpec> = Record<string, StateSpec>,
> {
  /** Message serde. Default JSON. */
  readonly message?: Serde<In>;
  /**
   * How the keys of this function's records look to its handler (`ctx.key`) and how a key sent to it becomes
   * bytes: `keys.string()` (UTF-8, the default), `keys.int64()` (decimal text of Java's LongSerializer
   * layout), `keys.bytes()` (hex text), `keys.json()`, or any `Serde<string>`. Whatever it is, the actor is
   * the exact key bytes: different keys never share state (see `Context.key`).
   */
  readonly keySerde?: KeySerde;
  /** Declared state cells. */
  readonly state?: S;
  /** Partitions of the input topic (and its changelog). Default: the app's `defaultPartitions`. */
  readonly partitions?: number;
  /**
   * The event time of a message, ms since epoch (e.g. a field of it). Default: the record timestamp (which,
   * with `options.eventTime`, is the event time of the message that sent it).
   */
  eventTime?(message: In, origin: MessageOrigin): number;
  /**
   * The functions this one sends to with `ctx.send` (itself included if it does). Optional, except in apps
   * with `options.eventTime`: watermarks flow along these edges, a function that sends without declaring the
   * target fails that message, and the graph must have no cycle (sending to itself is allowed).
   */
  readonly sends?: readonly string[];
  /**
   * Ordinary messages of a hot key may run at lessees in parallel, each against a partial copy of the key's
   * state that is merged back into the lessor's at barriers; critical messages (see `critical`) run at the
   * lessor on the fully merged state. Requires every declared state cell to be `state.mergeable(...)`
   * (a stateless function may be leasable too). Ordinary messages of one key may then overlap and run in any
   * order. Default false: every message of a key runs at its owner, one at a time, in order.
   */
  readonly leasable?: boolean;
  /**
   * Marks messages critical: they run at the lessor, after all partial state of the key is merged and before
   * any later message of the key, so they see the key's full state and may `set`/`clear` mergeable cells. A
   * message is also critical when sent with `{ critical: true }`. Must be pure and cheap (it may run before the
   * message is routed). Default: only messages sent with `critical: true`. No effect unless `leasable`.
   *
   * @example
   * critical: (m: Event) => m.type === 'close-window',
   */
  critical?(message: In, key: string): boolean;
  /** Handles one message. May be async; messages of one key never overlap (see `leasable` for the exception). */
  handler(ctx: Context<S>, message: In): void | Promise<void>;
}

/** Helps TypeScript infer a function's message and state types. */
export function fn<In = unknown, S extends Record<string, StateSpec> = Record<string, never>>(
  definition: FunctionDefinition<In, S>,
): FunctionDefinition<In, S> {
  return definition;
}

/** Records from an existing topic, routed to a function. */
export interface IngressDefinition<T = unknown> {
  /** The existing topic to read. */
  readonly topic: string;
  /** The function that receives each record's value. */
  readonly to: string;
  /** Value serde. Default JSON. */
  readonly serde?: Serde<T>;
  /**
   * How this topic's record keys are decoded: for a direct ingress, what the target function's handler sees
   * (it must then equal the function's `keySerde`, which it defaults to); for a re-keying ingress, the
   * `recordKey` given to `key`. Default: the target function's `keySerde` (UTF-8 unless set).
   */
  readonly keySerde?: KeySerde;
  /**
   * The actor key for a record. Default: the record key itself (its exact bytes; records without a key go to
   * the null-key actor, see `Context.key`). With the default, the target function reads the topic directly
   * (no extra hop) and must have as many partitions as the topic; with a custom key, records are re-keyed onto
   * the function's own topic first (the key returned is written with the target function's `keySerde`).
   */
  key?(value: T, recordKey: string | null): string;
}

/** Records to an external topic. */
export interface EgressDefinition<T = unknown> {
  readonly topic: string;
  /** Value serde. Default JSON. */
  readonly serde?: Serde<T>;
  /**
   * How a key given to `emit` becomes bytes. Default: `ctx.key` itself keeps the record's exact key bytes
   * (whatever the function's key serde), any other text is written as UTF-8.
   */
  readonly keySerde?: KeySerde;
  /** Partitions when the worker creates the topic. Default: the app's `defaultPartitions`. */
  readonly partitions?: number;
  /**
   * Write Dirigo's scheduling headers (`dirigo-ingest`, `dirigo-deadline`, `dirigo-priority`) on the records of
   * this egress. Default false: the records carry only the headers they carry on (`traceparent`, and the input's
   * own headers per `propagateHeaders`), as a Kafka Streams sink does; three headers less per record, which the
   * client encodes at a real cost (a JSON passthrough ran 0.70 of the raw loop without them against 0.57 with
   * them, a bytes one 0.95 against 0.60: docs/operations.md, the throughput bench). true: end-to-end latency can
   * be read from the records, and a Dirigo app reading the topic keeps their deadlines. Records between the
   * functions of an app always carry them.
   */
  readonly schedulingHeaders?: boolean;
}

/** Processing guarantee. `exactly_once`: one Kafka transaction per read-process-write step. */
export type ProcessingGuarantee = 'exactly_once' | 'at_least_once';

/**
 * What happens to a record that cannot be decoded or whose handler throws:
 * `dead-letter` writes it to the app's dead-letter topic (headers carry the error and origin) and goes on;
 * `stop` stops the app (not the worker) with an error naming the record.
 */
export type ErrorPolicy = 'dead-letter' | 'stop';

/** Scheduling classes, highest first. */
export type PriorityClass = 'critical' | 'high' | 'normal' | 'batch';

/** Per-app options. Every field has a default; see `resolveApp`. */
export interface AppOptions {
  /** Topic prefix. Default 'dirigo'. */
  readonly namespace?: string;
  /** End-to-end latency target in ms. Default 1000. */
  readonly latencyTargetMs?: number;
  /** Default 'normal'. */
  readonly priority?: PriorityClass;
  /** Default 'exactly_once'. */
  readonly guarantee?: ProcessingGuarantee;
  /** Default 'dead-letter'. */
  readonly onError?: ErrorPolicy;
  /** Dead-letter topic. Default `<namespace>.<app>.dlq`. */
  readonly deadLetterTopic?: string;
  /** Partitions of function topics that do not declare their own. Default 4. */
  readonly defaultPartitions?: number;
  /** Replication factor of the topics the worker creates. Default: min(3, brokers). */
  readonly replicationFactor?: number;
  /** Different keys of one partition that may run at once when handlers are async. Default 16. */
  readonly maxConcurrentKeys?: number;
  /**
   * A message whose (async) handler has not finished after this long fails like a throwing handler: its writes
   * and outputs are rolled back, it follows `onError` (dead letter with stage `timeout`, or stop), and its key
   * goes on; anything the handler does afterwards throws. 0 disables. Default 30000. (A synchronous handler
   * that never returns blocks its worker: it cannot be interrupted.)
   */
  readonly handlerTimeoutMs?: number;
  /** A handler still running after this long is logged (once) and counted. Default 5000. */
  readonly slowHandlerMs?: number;
  /**
   * Largest dead letter written, in bytes (value, key and headers): a failed record whose dead letter would be
   * bigger is written with its value cut and a `dirigo-truncated` header holding the original size. Keep it
   * under the dead-letter topic's `max.message.bytes`. Default 900000.
   */
  readonly deadLetterMaxBytes?: number;
  /**
   * Records a handler sends or emits carry the headers of the record it handles (all but `dirigo-*` ones), so
   * user headers such as a tenant id cross every hop. False: only the W3C trace context (`traceparent`,
   * `tracestate`) is carried. Default true.
   */
  readonly propagateHeaders?: boolean;
  /** State store: in memory (default) or persistent on disk under `stateDir`. */
  readonly store?: 'memory' | 'persistent';
  /** Directory of persistent stores. Default `./.dirigo-state`. */
  readonly stateDir?: string;
  /** Leasing of hot keys of leasable functions (see `FunctionDefinition.leasable`). */
  readonly leasing?: LeasingOptions;
  /**
   * Event time and watermarks (needed by event-time timers and windows). With it, every record a message sends
   * or emits carries the message's event time as its timestamp, and every input partition of the app keeps a
   * watermark carried across hops. Default: off (records carry the time they are produced).
   */
  readonly eventTime?: EventTimeOptions;
}

/**
 * Watermarks: each ingress partition's watermark is the highest event time read from it minus
 * `maxOutOfOrdernessMs`; each function partition's is the lowest of the watermarks of every input that can send
 * to it (ingress partitions and every partition of the app's functions), carried across hops by watermark
 * records. An input with nothing new for `idleTimeoutMs` is idle and does not hold the others back.
 */
export interface EventTimeOptions {
  /** How far out of order records of one ingress partition may come. Default 0. */
  readonly maxOutOfOrdernessMs?: number;
  /** An input silent this long (processing time) stops holding watermarks back until it speaks. Default 10000. */
  readonly idleTimeoutMs?: number;
  /** A partition sends its watermark downstream at most this often when it moves. Default 200. */
  readonly watermarkIntervalMs?: number;
}

/**
 * How an app's hot keys lease work to other workers. Lessees are lease slots: partitions of the app's lease
 * topic `<namespace>.<app>.__lease`, shared by all workers through the consumer group
 * `<namespace>.<app>.__lessees`; a lessee's partial state is kept in `<namespace>.<app>.__lease.changelog`.
 */
export interface LeasingOptions {
  /** Partitions of the lease topic: at most this many workers can be lessees of the app. Default 8. */
  readonly slots?: number;
  /** Lease slots one key may use at once. Default 4. */
  readonly maxLessees?: number;
  /** A lease with nothing forwarded for this long is revoked (its partials merged back). Default 2000 ms. */
  readonly idleRevokeMs?: number;
  /**
   * Local work per step of a leasable function's partition, in ms (estimated from the handler's observed
   * cost): a fetched batch is run as several steps of at most this much work each. Forwards to lessees leave
   * with their step's commit, so this bounds how long a hot key waits before its first lessee starts (the
   * scale-out time), at the price of one transaction per step. A step still holds at least as much work as
   * a commit takes (commits cost at most half the time) and at least 32 records. Default 100 (50 until
   * 2026-12-04: the hotkey bench's lessees ran later with it, see docs/operations.md).
   */
  readonly stepBudgetMs?: number;
}

/** An application: a DAG of stateful functions. */
export interface AppDefinition {
  /** Name: letters, digits, '-' and '_' ; part of every topic and group name. */
  readonly name: string;
  readonly functions: Readonly<Record<string, FunctionDefinition>>;
  readonly ingresses?: readonly IngressDefinition[];
  readonly egresses?: Readonly<Record<string, EgressDefinition>>;
  readonly options?: AppOptions;
}

/** Defines an app (identity function that keeps types; validation happens in `resolveApp`). */
export function defineApp<A extends AppDefinition>(app: A): A {
  return app;
}
