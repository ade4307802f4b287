// What the NEXMark query apps share: their options (topics, window, grace, namespace, event time), the defaults,
// and the checks. Every query reads the topics `writeNexmark` writes with `{ persons, auctions, bids }` (bare
// JSON values, keyed by person id, auction id, and the bid's auction id) and uses event time: the events'
// `dateTime` (also the record timestamp the writer sets).
import {
  type AppOptions,
  ConfigError,
  type EventTimeOptions,
  type LeasingOptions,
  type MessageOrigin,
} from '@dirigo/core';

/** Topics of a query app; each query reads only some of the inputs. */
export interface QueryTopics {
  readonly persons: string;
  readonly auctions: string;
  readonly bids: string;
  /** The egress topic of the results. */
  readonly results: string;
}

/** Options shared by every query factory; all optional. */
export interface QueryOptions {
  /** App name (default per query, e.g. 'nexmark-q7'). */
  readonly name?: string;
  /** App namespace (topic and group prefix). Default 'dirigo'. */
  readonly namespace?: string;
  /** Input and result topics (default: `DEFAULT_TOPICS`, results `<name>-results`). */
  readonly topics?: Partial<QueryTopics>;
  /** Window size, ms of event time. Default 10 000 (Beam's NEXMark window). */
  readonly windowMs?: number;
  /** How long after its end a window still takes records (event time), at every windowed stage. Default 1000. */
  readonly graceMs?: number;
  /** The app's event-time options (default `DEFAULT_EVENT_TIME`). */
  readonly eventTime?: EventTimeOptions;
  /** The app's leasing options (hot auctions, the single key of Q7). */
  readonly leasing?: LeasingOptions;
  /** The app's latency target. Default 1000 ms. */
  readonly latencyTargetMs?: number;
}

/** The topics `writeNexmark` is usually given. */
export const DEFAULT_TOPICS = Object.freeze({
  persons: 'nexmark-persons',
  auctions: 'nexmark-auctions',
  bids: 'nexmark-bids',
});

/** Event-time options of the query apps unless given: in-order partitions (the generator's), 10 s idle. */
export const DEFAULT_EVENT_TIME: EventTimeOptions = Object.freeze({
  maxOutOfOrdernessMs: 0,
  idleTimeoutMs: 10_000,
  watermarkIntervalMs: 200,
});

/** Options with defaults filled. */
export interface ResolvedQueryOptions {
  readonly name: string;
  readonly topics: QueryTopics;
  readonly windowMs: number;
  readonly graceMs: number;
  readonly app: AppOptions;
}

const positiveInt = (field: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new ConfigError(field, `${String(v)} is not a positive integer (ms)`);
  return v;
};

/** Fills the defaults of `o` for the query named `name`; throws `ConfigError` naming a wrong field. */
export function resolveQueryOptions(name: string, o: QueryOptions = {}): ResolvedQueryOptions {
  const appName = o.name ?? name;
  const grace = o.graceMs ?? 1_000;
  if (!Number.isSafeInteger(grace) || grace < 0)
    throw new ConfigError('graceMs', `${String(grace)} is not a non-negative integer (ms)`);
  return {
    name: appName,
    topics: { ...DEFAULT_TOPICS, results: `${appName}-results`, ...o.topics },
    windowMs: positiveInt('windowMs', o.windowMs ?? 10_000),
    graceMs: grace,
    app: {
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
      latencyTargetMs: o.latencyTargetMs ?? 1_000,
      eventTime: o.eventTime ?? DEFAULT_EVENT_TIME,
      ...(o.leasing === undefined ? {} : { leasing: o.leasing }),
    },
  };
}

/** The event time of a NEXMark value (`dateTime`), or the record timestamp when it has none. */
export const dateTimeOf = (m: { readonly dateTime?: number }, origin: MessageOrigin): number =>
  typeof m.dateTime === 'number' ? m.dateTime : origin.timestamp;
