// The public API to define an app: stateful functions (virtual actors addressed by function name and string
// key), typed state cells, ingresses from existing topics, egresses to topics, and per-app options. These are
// plain data; `resolveApp` (options.ts) validates them in one place and the runtime executes them.
import type { Logger } from './logging.ts';
import type { Serde } from './serde.ts';
import type { RecordHeaders } from './transport.ts';

/** A single value per actor. */
export interface ValueState<T> {
  /** The current value, or `undefined` when never set (or cleared). */
  get(): T | undefined;
  set(value: T): void;
  clear(): void;
}

/** A key-value map per actor. Only changed entries are written to the changelog. */
export interface MapState<V> {
  get(key: string): V | undefined;
  has(key: string): boolean;
  set(key: string, value: V): void;
  delete(key: string): void;
  /** Entries in no particular order. */
  entries(): [string, V][];
}

/** Declares a state cell: its kind and serde. Create with `state.value()` / `state.map()`. */
export interface StateSpec<K extends 'value' | 'map' = 'value' | 'map', T = unknown> {
  readonly kind: K;
  readonly serde: Serde<T> | undefined;
}

/** Accessors handed to a handler for its declared state. */
export type StateAccessors<S extends Record<string, StateSpec>> = {
  readonly [N in keyof S]: S[N] extends StateSpec<'value', infer T>
    ? ValueState<T>
    : S[N] extends StateSpec<'map', infer V>
      ? MapState<V>
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
  /** Deliver after this many ms (a durable timer kept in the sender's state; fires at least this late). */
  readonly delayMs?: number;
}

/** What a handler can do. Valid only during the handler call. */
export interface Context<S extends Record<string, StateSpec> = Record<string, StateSpec>> {
  readonly app: string;
  /** This function's name. */
  readonly fn: string;
  /** This actor's key. */
  readonly key: string;
  readonly state: StateAccessors<S>;
  /** Now, from the worker's clock (the test clock in the test driver). */
  readonly now: number;
  readonly origin: MessageOrigin;
  readonly log: Logger;
  /** Sends a message to function `fn` of this app, actor `key`. Committed with this step (exactly once). */
  send(fn: string, key: string, message: unknown, options?: SendOptions): void;
  /** Writes a record to egress `egress`. Committed with this step. */
  emit(egress: string, key: string | null, value: unknown): void;
}

/** A stateful function: one virtual actor per key. */
export interface FunctionDefinition<
  In = unknown,
  S extends Record<string, StateSpec> = Record<string, StateSpec>,
> {
  /** Message serde. Default JSON. */
  readonly message?: Serde<In>;
  /** Declared state cells. */
  readonly state?: S;
  /** Partitions of the input topic (and its changelog). Default: the app's `defaultPartitions`. */
  readonly partitions?: number;
  /** Handles one message. May be async; messages of one key never overlap. */
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
   * The actor key for a record. Default: the record key as UTF-8 (records without a key go to actor '').
   * With the default, the target function reads the topic directly (no extra hop) and must have as many
   * partitions as the topic; with a custom key, records are re-keyed onto the function's own topic first.
   */
  key?(value: T, recordKey: string | null): string;
}

/** Records to an external topic. */
export interface EgressDefinition<T = unknown> {
  readonly topic: string;
  /** Value serde. Default JSON. */
  readonly serde?: Serde<T>;
  /** Partitions when the worker creates the topic. Default: the app's `defaultPartitions`. */
  readonly partitions?: number;
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
  /** State store: in memory (default) or persistent on disk under `stateDir`. */
  readonly store?: 'memory' | 'persistent';
  /** Directory of persistent stores. Default `./.dirigo-state`. */
  readonly stateDir?: string;
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
