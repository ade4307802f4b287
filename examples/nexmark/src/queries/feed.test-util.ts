// Test support for the query apps (not part of the build): generated events fed to the test driver at once
// (each input partition takes them in as few steps as its fetches allow), then one flush event on every input
// partition far enough ahead that every window with data closes, and the test clock moved a few times so that
// watermarks and window closes travel through every stage. The queries are checked against their direct
// computation over the same events, flush included.
import { partitionFor } from '@dirigo/core';
import { createPolicy, registerPolicy, type SchedulingPolicy, unregisterPolicy } from '@dirigo/runtime';
import { TestDriver } from '@dirigo/testkit';
import { NexmarkGenerator } from '../generator.ts';
import { eventTime, type NexmarkEvent, type NexmarkEventType } from '../model.ts';
import { eventKey } from '../writer.ts';

/** Generated test input: `events` at `perSec` events per second of event time. */
export function generate(events: number, perSec: number, seed = 42): NexmarkEvent[] {
  return new NexmarkGenerator({ seed, rate: { shape: 'constant', perSec } }).take(events);
}

/**
 * Event-time options of the test apps: the generator's events are in event-time order on every partition; no
 * input goes idle during a test; watermarks travel at every move of the test clock.
 */
export const TEST_EVENT_TIME = Object.freeze({
  maxOutOfOrdernessMs: 0,
  idleTimeoutMs: 600_000,
  watermarkIntervalMs: 10,
});

export interface FeedOptions {
  /** The topic of each kind of event the app reads (events of other kinds are not fed). */
  readonly topics: Partial<Record<NexmarkEventType, string>>;
  /** Partitions of the ingress topics (the driver's `ingressPartitions`). */
  readonly partitions: number;
  /** The flush events come this long (event time) after the last event: at least a window and its grace. */
  readonly flushAfterMs: number;
}

const FLUSH_BASE = 90_000_000;
const NOBODY = 99_999_999;

/** Ids (from FLUSH_BASE) whose keys land on each partition. */
function flushIds(partitions: number): number[] {
  const ids: number[] = [];
  for (let p = 0; p < partitions; p++) {
    let id = FLUSH_BASE;
    while (partitionFor(Buffer.from(String(id)), partitions) !== p || ids.includes(id)) id++;
    ids.push(id);
  }
  return ids;
}

/** One flush event of each kind the app reads, per partition, at event time `t`. */
function flushAt(t: number, o: FeedOptions): NexmarkEvent[] {
  const out: NexmarkEvent[] = [];
  for (const id of flushIds(o.partitions)) {
    if (o.topics.person !== undefined)
      out.push({
        type: 'person',
        person: {
          id,
          name: 'flush',
          emailAddress: '',
          creditCard: '',
          city: '',
          state: '',
          dateTime: t,
          extra: '',
        },
      });
    if (o.topics.auction !== undefined)
      out.push({
        type: 'auction',
        auction: {
          id,
          itemName: 'flush',
          description: '',
          initialBid: 1,
          reserve: 2,
          dateTime: t,
          expires: t + 1,
          seller: NOBODY,
          category: 10,
          extra: '',
        },
      });
    if (o.topics.bid !== undefined)
      out.push({
        type: 'bid',
        bid: { auction: id, bidder: NOBODY, price: 1, channel: 'flush', url: '', dateTime: t, extra: '' },
      });
  }
  return out;
}

async function pipeEvents(
  driver: TestDriver,
  events: readonly NexmarkEvent[],
  o: FeedOptions,
): Promise<void> {
  for (const [type, topic] of Object.entries(o.topics) as [NexmarkEventType, string][]) {
    const records = events
      .filter((e) => e.type === type)
      .map((e) => ({
        key: eventKey(e),
        value: e.type === 'person' ? e.person : e.type === 'auction' ? e.auction : e.bid,
        timestamp: eventTime(e),
      }));
    if (records.length > 0) await driver.pipe(topic, records, { settle: false });
  }
  await driver.settle();
}

/** Feeds `events` at once, then the flush events; returns the flush events. */
export async function feed(
  driver: TestDriver,
  events: readonly NexmarkEvent[],
  o: FeedOptions,
): Promise<NexmarkEvent[]> {
  await pipeEvents(driver, events, o);
  const flush = flushAt(eventTime(events[events.length - 1]!) + o.flushAfterMs, o);
  await pipeEvents(driver, flush, o);
  // Each move sends the watermarks on one hop (and runs the closes they fire): enough for every stage.
  for (let i = 0; i < 8; i++) await driver.advance(20);
  return flush;
}

/** The event time of the last event. */
export const lastTime = (events: readonly NexmarkEvent[]): number => eventTime(events[events.length - 1]!);

/** Registers a policy that forwards (leases) the messages `hot` picks, FIFO otherwise; returns its remover. */
export function registerForwarding(name: string, hot: (fn: string, key: string) => boolean): () => void {
  registerPolicy(name, (): SchedulingPolicy => {
    const fifo = createPolicy('fifo');
    return {
      name,
      onArrival: (m) => (hot(m.fn, m.key) ? { forward: '' } : 'admit'),
      pickNext: (v) => fifo.pickNext(v),
    };
  });
  return () => unregisterPolicy(name);
}

/** Runs `app` on a fresh driver over `events` (see `feed`); returns what its results topic got, and more. */
export async function runQuery<R>(
  app: Parameters<typeof TestDriver.start>[0],
  resultsTopic: string,
  events: readonly NexmarkEvent[],
  o: FeedOptions,
  driverOptions: Parameters<typeof TestDriver.start>[1] = {},
) {
  const driver = await TestDriver.start(app, {
    ingressPartitions: o.partitions,
    startTime: eventTime(events[0]!),
    ...driverOptions,
  });
  try {
    const flush = await feed(driver, events, o);
    const results = (await driver.output<R>(resultsTopic)).map((r) => r.value);
    return { results, flush, counters: driver.leases().counters };
  } finally {
    await driver.stop();
  }
}
