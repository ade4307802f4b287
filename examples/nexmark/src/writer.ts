// Writes a NEXMark stream to Kafka through the Producer of @dirigo/core: keyed records (persons and auctions
// by id, bids by auction), JSON values, record timestamp = event time; as fast as possible or paced so that
// each event goes out when its event time comes (then the generator's rate shape is the real load shape).
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, type OutgoingRecord, type Producer } from '@dirigo/core';
import type { NexmarkGenerator } from './generator.ts';
import { eventTime, type NexmarkEvent } from './model.ts';

/**
 * Where events go: one topic per kind (values are the bare `Person` / `Auction` / `Bid`), or one topic for
 * all (values are the whole tagged `NexmarkEvent`, `{ type, person | auction | bid }`).
 */
export type NexmarkTopics =
  | { readonly persons: string; readonly auctions: string; readonly bids: string }
  | { readonly all: string };

/** Options of `writeNexmark`. At least one of `events` and `durationMs` is required. */
export interface WriteNexmarkOptions {
  readonly topics: NexmarkTopics;
  /** Events come from its current position on (a generator can be written in several runs). */
  readonly generator: NexmarkGenerator;
  /** Stop after this many events. */
  readonly events?: number;
  /** Stop before the first event whose event time is this far (ms) past the first written event's. */
  readonly durationMs?: number;
  /**
   * Send each event when its event time comes, event time being mapped to wall time from the start of the
   * call; otherwise send as fast as the producer takes them. Default false.
   */
  readonly realTime?: boolean;
  /** Most records per `producer.send`. Default 500. */
  readonly batch?: number;
  /** Stops the writing early (after the send in progress); the result counts what was sent. */
  readonly signal?: AbortSignal;
}

/** What `writeNexmark` sent. */
export interface WriteNexmarkResult {
  readonly persons: number;
  readonly auctions: number;
  readonly bids: number;
  /** All events sent. */
  readonly events: number;
  /** Wall time the call took, ms. */
  readonly wallMs: number;
}

/** Default most records per send. */
export const DEFAULT_WRITE_BATCH = 500;

/** The Kafka key of an event, as text: person id, auction id, or the auction id of a bid. */
export function eventKey(e: NexmarkEvent): string {
  return String(e.type === 'person' ? e.person.id : e.type === 'auction' ? e.auction.id : e.bid.auction);
}

/** The record of an event: its topic, UTF-8 decimal key, JSON value and event time as the record timestamp. */
export function nexmarkRecord(e: NexmarkEvent, topics: NexmarkTopics): OutgoingRecord {
  let topic: string;
  let value: unknown;
  if ('all' in topics) {
    topic = topics.all;
    value = e;
  } else if (e.type === 'person') {
    topic = topics.persons;
    value = e.person;
  } else if (e.type === 'auction') {
    topic = topics.auctions;
    value = e.auction;
  } else {
    topic = topics.bids;
    value = e.bid;
  }
  return {
    topic,
    key: Buffer.from(eventKey(e), 'utf8'),
    value: Buffer.from(JSON.stringify(value), 'utf8'),
    timestamp: eventTime(e),
  };
}

function checkOptions(o: WriteNexmarkOptions): number {
  const t = o.topics as Record<string, unknown> | undefined;
  const names = t !== undefined && 'all' in t ? ['all'] : ['persons', 'auctions', 'bids'];
  for (const name of names)
    if (typeof t?.[name] !== 'string' || t[name] === '')
      throw new ConfigError(`topics.${name}`, 'must be a topic name (or give { all: topic })');
  if (o.events === undefined && o.durationMs === undefined)
    throw new ConfigError('events', 'give events, durationMs or both (when to stop)');
  if (o.events !== undefined && (!Number.isInteger(o.events) || o.events < 0))
    throw new ConfigError('events', `${String(o.events)} is not a non-negative integer`);
  if (o.durationMs !== undefined && (!Number.isFinite(o.durationMs) || o.durationMs < 0))
    throw new ConfigError('durationMs', `${String(o.durationMs)} is not a non-negative number`);
  const batch = o.batch ?? DEFAULT_WRITE_BATCH;
  if (!Number.isInteger(batch) || batch < 1)
    throw new ConfigError('batch', `${String(batch)} is not a positive integer`);
  return batch;
}

/**
 * Produces events of `generator` to Kafka until `events` are sent or `durationMs` of event time is covered,
 * in sends of up to `batch` records, one send at a time. The producer must be connected and not
 * transactional. In real-time mode each send holds the events due by then, so a rate shape of the generator
 * becomes the load shape (if the producer is slower than the rate, the writer falls behind and catches up
 * with full batches).
 */
export async function writeNexmark(
  producer: Producer,
  options: WriteNexmarkOptions,
): Promise<WriteNexmarkResult> {
  const batch = checkOptions(options);
  const { generator: gen, topics, realTime = false, signal } = options;
  const maxEvents = options.events ?? Number.POSITIVE_INFINITY;
  const durationMs = options.durationMs ?? Number.POSITIVE_INFINITY;
  const counts = { person: 0, auction: 0, bid: 0 };
  const start = performance.now();
  const firstTime = gen.eventTimeOf(gen.position);
  let sent = 0;
  for (;;) {
    if (signal?.aborted) break;
    const records: OutgoingRecord[] = [];
    const now = performance.now() - start;
    let nextDue = Number.NaN; // ms from the start at which the next not-taken event is due, if waiting
    let exhausted = false;
    while (records.length < batch) {
      if (sent + records.length >= maxEvents) {
        exhausted = true;
        break;
      }
      const offset = gen.eventTimeOf(gen.position) - firstTime;
      if (offset >= durationMs) {
        exhausted = true;
        break;
      }
      if (realTime && offset > now) {
        nextDue = offset;
        break;
      }
      const e = gen.next();
      counts[e.type]++;
      records.push(nexmarkRecord(e, topics));
    }
    if (records.length > 0) {
      await producer.send(records);
      sent += records.length;
    }
    if (exhausted) break;
    if (records.length === 0 && !Number.isNaN(nextDue)) {
      const wait = nextDue - (performance.now() - start);
      if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined).catch(() => undefined);
    }
  }
  return {
    persons: counts.person,
    auctions: counts.auction,
    bids: counts.bid,
    events: sent,
    wallMs: performance.now() - start,
  };
}
