// What every step of one function on this worker shares: the resolved app and function, the partition
// counts of the topics it writes to, the clock and logger. Routers (re-keying ingresses) are functions too,
// with a synthetic definition.
import type { Logger, RecordHeaders, ResolvedApp, ResolvedFunction, ResolvedIngress } from '@dirigo/core';
import type { Clock } from '../clock.ts';
import type { Dispatcher } from '../scheduler/dispatcher.ts';
import type { Tracing } from '../trace/tracing.ts';
import type { HandlerWatchdog } from './watchdog.ts';

export interface FunctionEnv {
  readonly app: ResolvedApp;
  readonly fn: ResolvedFunction;
  /** False for routers: no state, no timers, no changelog. */
  readonly hasChangelog: boolean;
  /** Store-key prefix of this function's cells here: at its lessor, or in a lease slot (state/cell-key.ts). */
  readonly cellPrefix: string;
  /** Store-key heads of the function's states here, in `fn.states` order (`storeHead(cellPrefix, state)`). */
  readonly cellHeads: readonly string[];
  /** This worker. */
  readonly workerId: string;
  /** The handlers run at a lessee (a lease slot), against partial state. */
  readonly lessee?: boolean;
  /** The worker's watch over running handlers (time limits, slow-handler logs). */
  readonly watchdog?: HandlerWatchdog;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Partition count of every topic of the app: function inputs, ingress topics, egresses (and more). */
  readonly partitions: ReadonlyMap<string, number>;
  /** `dirigo-priority` header value of this app, shared by every record it writes. */
  readonly priorityHeader: Buffer;
  /**
   * The scheduling headers last built (see `metaHeaders`): for an ingress record (`at`: its timestamp) and for a
   * record of a later hop (`hop`: its ingest and deadline values; `hopFrom`: the incoming headers object it was
   * made for). Frozen, shared by the records they serve.
   */
  readonly metaCache: {
    at: number;
    headers: RecordHeaders | undefined;
    hop?: RecordHeaders;
    hopFrom?: RecordHeaders;
  };
  /** The worker's data-plane scheduler; without one, a step runs its records in offset order. */
  readonly dispatcher?: Dispatcher;
  /** Spans per step and per handler (OpenTelemetry); absent: none. */
  readonly tracing?: Tracing;
}

/** A synthetic function that re-keys an ingress topic onto its target function's topic. */
export function routerFunction(ingress: ResolvedIngress): ResolvedFunction {
  const key = ingress.key;
  const target = ingress.to;
  return {
    name: `ingress-${ingress.topic}`,
    topic: ingress.topic,
    external: true,
    changelogTopic: '',
    group: ingress.group,
    partitions: undefined,
    serde: ingress.serde,
    keySerde: ingress.keySerde,
    states: [],
    stateful: false,
    leasable: false,
    critical: undefined,
    eventTime: undefined,
    sends: [target],
    definition: {
      handler(ctx, message) {
        // Without a key function the record's key (its exact bytes, null included) is the actor.
        ctx.send(
          target,
          key === undefined ? ctx.key : key(message, ctx.keyBytes === null ? null : ctx.key),
          message,
        );
      },
    },
  };
}

/** Partition count of `topic`, or an error naming it (a bug: the worker ensures every topic first). */
export function partitionsOf(env: FunctionEnv, topic: string): number {
  const n = env.partitions.get(topic);
  if (n === undefined)
    throw new Error(`internal: partition count of '${topic}' unknown to app '${env.app.name}'`);
  return n;
}
