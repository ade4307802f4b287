// The Kafka writer: topics, keys, values and timestamps of what it sends (in-memory Kafka and a recording
// producer), batching, stopping rules, real-time pacing, and option checks.
import {
  ConfigError,
  type IncomingRecord,
  type OutgoingRecord,
  type Producer,
  type Transaction,
} from '@dirigo/core';
import { MemoryKafka, MemoryTransport } from '@dirigo/testkit';
import { describe, expect, it } from 'vitest';
import {
  type Auction,
  type Bid,
  eventKey,
  eventTime,
  type NexmarkEvent,
  NexmarkGenerator,
  type Person,
  writeNexmark,
} from './index.ts';

/** A producer that records every send and when it happened. */
class RecordingProducer implements Producer {
  readonly sends: { at: number; records: readonly OutgoingRecord[] }[] = [];
  async connect(): Promise<void> {}
  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.sends.push({ at: performance.now(), records });
  }
  async beginTransaction(): Promise<Transaction> {
    throw new Error('not transactional');
  }
  async disconnect(): Promise<void> {}
  get records(): OutgoingRecord[] {
    return this.sends.flatMap((s) => s.records);
  }
}

const TOPICS = { persons: 'nx-persons', auctions: 'nx-auctions', bids: 'nx-bids' };

async function readAll(transport: MemoryTransport, topic: string, partitions: number) {
  const records: IncomingRecord[] = [];
  await transport.readToEnd(
    Array.from({ length: partitions }, (_, partition) => ({ topic, partition, fromOffset: 0 })),
    (rs) => {
      records.push(...rs);
    },
  );
  return records;
}

describe('writeNexmark', () => {
  it('writes persons, auctions and bids to their topics, keyed by id and auction, stamped with event time', async () => {
    const transport = new MemoryTransport(new MemoryKafka());
    const admin = await transport.admin();
    await admin.createTopics(Object.values(TOPICS).map((name) => ({ name, partitions: 3 })));
    const producer = transport.producer();
    await producer.connect();
    const expected = new NexmarkGenerator({ seed: 9 }).take(2_000);

    const result = await writeNexmark(producer, {
      topics: TOPICS,
      generator: new NexmarkGenerator({ seed: 9 }),
      events: 2_000,
    });
    expect(result).toMatchObject({ persons: 40, auctions: 120, bids: 1_840, events: 2_000 });
    expect(result.wallMs).toBeGreaterThanOrEqual(0);

    const persons = await readAll(transport, TOPICS.persons, 3);
    const auctions = await readAll(transport, TOPICS.auctions, 3);
    const bids = await readAll(transport, TOPICS.bids, 3);
    const check = <T>(
      records: IncomingRecord[],
      events: T[],
      key: (v: T) => number,
      time: (v: T) => number,
    ) => {
      expect(records).toHaveLength(events.length);
      const got = new Map(records.map((r) => [r.value!.toString('utf8'), r]));
      for (const v of events) {
        const r = got.get(JSON.stringify(v));
        expect(r, JSON.stringify(v)).toBeDefined();
        expect(r!.key!.toString('utf8')).toBe(String(key(v)));
        expect(r!.timestamp).toBe(time(v));
      }
    };
    const of = <K extends NexmarkEvent['type']>(type: K) =>
      expected.filter((e) => e.type === type).map((e) => (e as Record<string, unknown>)[type]);
    check(
      persons,
      of('person') as Person[],
      (p) => p.id,
      (p) => p.dateTime,
    );
    check(
      auctions,
      of('auction') as Auction[],
      (a) => a.id,
      (a) => a.dateTime,
    );
    check(
      bids,
      of('bid') as Bid[],
      (b) => b.auction,
      (b) => b.dateTime,
    );
    // Same key, same partition: all bids of an auction are in one partition, in event order.
    const partitionOf = new Map<string, number>();
    for (const r of bids) {
      const key = r.key!.toString('utf8');
      expect(partitionOf.get(key) ?? r.partition).toBe(r.partition);
      partitionOf.set(key, r.partition);
    }
  });

  it('writes tagged events to one topic with { all }, in batches of at most `batch` records, in order', async () => {
    const producer = new RecordingProducer();
    const expected = new NexmarkGenerator().take(1_234);
    const result = await writeNexmark(producer, {
      topics: { all: 'nexmark' },
      generator: new NexmarkGenerator(),
      events: 1_234,
      batch: 100,
    });
    expect(result.events).toBe(1_234);
    expect(producer.sends.map((s) => s.records.length)).toEqual([...Array(12).fill(100), 34]);
    const records = producer.records;
    expect(records.map((r) => r.topic)).toEqual(Array(1_234).fill('nexmark'));
    expect(records.map((r) => JSON.parse(r.value!.toString('utf8')))).toEqual(expected);
    expect(records.map((r) => r.key!.toString('utf8'))).toEqual(expected.map(eventKey));
    expect(records.map((r) => r.timestamp)).toEqual(expected.map(eventTime));
  });

  it('stops at durationMs of event time, continues from where the generator is, sends 500 per batch by default', async () => {
    const producer = new RecordingProducer();
    const generator = new NexmarkGenerator({ rate: { shape: 'constant', perSec: 2_000 } });
    const first = await writeNexmark(producer, { topics: TOPICS, generator, durationMs: 1_000 });
    expect(first.events).toBe(2_000); // event times 0 .. 999.5 ms
    expect(producer.sends.map((s) => s.records.length)).toEqual([500, 500, 500, 500]);
    const second = await writeNexmark(producer, { topics: TOPICS, generator, events: 10, durationMs: 1_000 });
    expect(second.events).toBe(10);
    expect(generator.position).toBe(2_010);
    expect(producer.records.at(-1)?.timestamp).toBe(generator.eventTimeOf(2_009));
  });

  it('in real-time mode sends events when their event time comes', async () => {
    const producer = new RecordingProducer();
    const generator = new NexmarkGenerator({ rate: { shape: 'constant', perSec: 1_000 } });
    const start = performance.now();
    const result = await writeNexmark(producer, {
      topics: TOPICS,
      generator,
      durationMs: 300,
      realTime: true,
    });
    expect(result.events).toBe(300);
    expect(result.wallMs).toBeGreaterThanOrEqual(250);
    expect(producer.sends.length).toBeGreaterThan(10);
    // No record goes out before its time (relative to the first event's).
    const t0 = generator.eventTimeOf(0);
    for (const s of producer.sends)
      for (const r of s.records) expect(s.at - start).toBeGreaterThanOrEqual(r.timestamp! - t0 - 2);
    // The last send happens near the end, not at the start.
    expect(producer.sends.at(-1)!.at - start).toBeGreaterThanOrEqual(250);
  });

  it('in real-time mode follows a square wave: dense halves and sparse halves', async () => {
    const producer = new RecordingProducer();
    const generator = new NexmarkGenerator({ rate: { shape: 'square', low: 0, high: 2_000, periodMs: 200 } });
    const start = performance.now();
    const result = await writeNexmark(producer, {
      topics: TOPICS,
      generator,
      durationMs: 400,
      realTime: true,
    });
    expect(result.events).toBe(400); // 200 per high half of 100 ms, nothing in the low halves
    const inLowHalves = producer.sends.filter((s) => {
      const t = (s.at - start) % 200;
      return t > 140 && t < 195; // a send due at the end of a high half may come a little late
    });
    expect(inLowHalves).toEqual([]);
    expect(result.wallMs).toBeGreaterThanOrEqual(250); // the second high half starts at 200 ms
  });

  it('stops early on an aborted signal', async () => {
    const producer = new RecordingProducer();
    const controller = new AbortController();
    const generator = new NexmarkGenerator({ rate: { shape: 'constant', perSec: 100 } });
    setTimeout(() => controller.abort(), 100);
    const result = await writeNexmark(producer, {
      topics: TOPICS,
      generator,
      durationMs: 60_000,
      realTime: true,
      signal: controller.signal,
    });
    expect(result.events).toBeGreaterThan(0);
    expect(result.events).toBeLessThan(100);
    expect(result.wallMs).toBeLessThan(10_000);
  });

  it('rejects wrong options with a ConfigError naming the field', async () => {
    const producer = new RecordingProducer();
    const generator = new NexmarkGenerator();
    const field = async (o: Record<string, unknown>) => {
      try {
        await writeNexmark(producer, { topics: TOPICS, generator, events: 1, ...o } as never);
      } catch (e) {
        if (e instanceof ConfigError) return e.field;
        throw e;
      }
      return 'none';
    };
    expect(await field({ events: undefined })).toBe('events');
    expect(await field({ events: -1 })).toBe('events');
    expect(await field({ durationMs: Number.NaN })).toBe('durationMs');
    expect(await field({ batch: 0 })).toBe('batch');
    expect(await field({ topics: { persons: 'p', auctions: 'a' } })).toBe('topics.bids');
    expect(await field({ topics: { all: '' } })).toBe('topics.all');
    expect(producer.sends).toHaveLength(0);
  });
});
