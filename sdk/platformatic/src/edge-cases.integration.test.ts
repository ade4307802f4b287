// Behaviour of the platformatic transport the contract suite does not reach, on a real broker:
// - rebalance callback ordering under load: no batch while onRevoked/onAssigned run, none for unowned
//   partitions, and partitions kept across a rebalance are not revoked;
// - a long eachBatch keeps the member in the group (the client heartbeats on its own timers);
// - a partition in its re-delivery backoff is delivered again when a rebalance hands it back;
// - a fenced zombie's sends reject with FencedError;
// - what @platformatic/kafka 2.12.1 gets wrong on its own (so that a fix upstream is noticed): its read_committed
//   filter lets aborted records through, and a second producer with the same transactional id is refused instead
//   of fencing the first one; a transaction whose beginning failed stays its current one. The transport works
//   around all three (records.ts, producer.ts); its encoder writes wrong timestamps for records 2^31 ms or more
//   apart in one batch (the transport encodes Produce requests itself, produce-request.ts);
// - record batches compressed with every codec, by their producer or by the broker, read by the transport's own
//   decoder (records.ts).
import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import {
  type Consumer,
  FencedError,
  type IncomingRecord,
  type OutgoingRecord,
  PartitionsRevokedError,
  type TopicPartition,
} from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { Consumer as PConsumer, Producer as PProducer } from '@platformatic/kafka';
import { afterEach, describe, expect, it } from 'vitest';
import { PlatformaticTransport, type PlatformaticTransportOptions } from './index.ts';
import { testBrokers, testLogger } from './test-broker.ts';

const brokers = testBrokers();
const logger = testLogger();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const name = (prefix: string) =>
  `dirigo-plt-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const buf = (s: string) => Buffer.from(s);
const str = (b: Buffer | null) => (b === null ? null : b.toString());

/**
 * Makes the client's next FindCoordinator for its transactional id fail, as when the transaction coordinator's
 * node has just died (the client looks the coordinator up again after a network error). Reaches the client's
 * method by its symbol's description: the package does not export its symbols.
 */
function failNextFindCoordinator(client: object): void {
  const description = 'plt.kafka.producer.transactions.findCoordinator';
  let symbol: symbol | undefined;
  for (
    let p = Object.getPrototypeOf(client);
    p !== null && symbol === undefined;
    p = Object.getPrototypeOf(p)
  )
    symbol = Object.getOwnPropertySymbols(p).find((s) => s.description === description);
  if (symbol === undefined) throw new Error(`the client has no method '${description}' any more`);
  const own = client as Record<symbol, unknown>;
  own[symbol] = (callback: (error: Error) => void) => {
    delete own[symbol];
    callback(new Error('coordinator not available (injected)'));
  };
}

const transports: PlatformaticTransport[] = [];
const topics: string[] = [];
function transport(options: Partial<PlatformaticTransportOptions> = {}): PlatformaticTransport {
  const t = new PlatformaticTransport({ brokers: brokers!, logger, ...options });
  transports.push(t);
  return t;
}
afterEach(async () => {
  const admin = await transport().admin();
  await admin.deleteTopics(topics.splice(0)).catch(() => undefined);
  await admin.close();
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

async function createTopic(prefix: string, partitions: number): Promise<string> {
  const topic = name(prefix);
  topics.push(topic);
  const admin = await transport().admin();
  await admin.createTopics([{ name: topic, partitions }]);
  await admin.close();
  return topic;
}

async function readAll(
  t: PlatformaticTransport,
  topic: string,
  partitions: number,
): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  await t.readToEnd(
    Array.from({ length: partitions }, (_, partition) => ({ topic, partition, fromOffset: 0 })),
    (rs) => {
      records.push(...rs);
    },
  );
  return records;
}

/** Records with timestamps up to 40 days apart, for one partition: one send makes one record batch. */
const DAY = 86_400_000;
const spreadTimestamps = (now: number): number[] => [now - 40 * DAY, now, now - 30 * DAY, now - 25 * DAY + 7];

describe('platformatic transport edge cases', () => {
  it('never delivers a batch while onRevoked/onAssigned run, nor for partitions not owned', async () => {
    const t = transport();
    const topic = await createTopic('rebalance', 4);
    const groupId = name('group');
    const producer = t.producer();
    await producer.connect();
    let sent = 0;
    let producing = true;
    const production = (async () => {
      while (producing) {
        const batch: OutgoingRecord[] = [];
        for (let i = 0; i < 8; i++) batch.push({ topic, key: buf(`k${sent}`), value: buf(`${sent++}`) });
        await producer.send(batch);
        await sleep(20);
      }
    })();

    const seen = new Set<string>();
    const member = (label: string) => {
      const violations: string[] = [];
      const revocations: TopicPartition[][] = [];
      let owned = new Set<string>();
      let inCallback = false;
      let delivering = 0;
      let consumer: Consumer;
      const handlers = {
        onAssigned: async (ps: readonly TopicPartition[]) => {
          if (delivering > 0) violations.push(`${label}: onAssigned while a batch is delivered`);
          inCallback = true;
          owned = new Set(ps.map((p) => `${p.partition}`));
          await sleep(200);
          inCallback = false;
        },
        onRevoked: async (ps: readonly TopicPartition[]) => {
          if (delivering > 0) violations.push(`${label}: onRevoked while a batch is delivered`);
          revocations.push([...ps]);
          inCallback = true;
          await sleep(300);
          for (const p of ps) owned.delete(`${p.partition}`);
          inCallback = false;
        },
        eachBatch: async (b: { partition: number; records: readonly IncomingRecord[] }) => {
          if (inCallback) violations.push(`${label}: batch during a rebalance callback`);
          if (!owned.has(`${b.partition}`))
            violations.push(`${label}: batch of unowned partition ${b.partition}`);
          delivering++;
          await sleep(30);
          delivering--;
          for (const r of b.records) seen.add(str(r.value)!);
          try {
            await consumer.commitOffsets([
              { topic, partition: b.partition, offset: b.records.at(-1)!.offset + 1 },
            ]);
          } catch (error) {
            if (!(error instanceof PartitionsRevokedError)) throw error;
          }
        },
      };
      return {
        violations,
        revocations,
        start: async () => {
          consumer = t.consumer({
            groupId,
            sessionTimeoutMs: 10_000,
            heartbeatIntervalMs: 500,
            maxWaitMs: 100,
          });
          await consumer.connect();
          await consumer.subscribe([topic]);
          await consumer.run(handlers);
          return consumer;
        },
      };
    };

    const a = member('A');
    const b = member('B');
    const ca = await a.start();
    await waitFor(() => ca.assignment().length === 4, 30_000, 'A not assigned');
    await sleep(500);
    const cb = await b.start();
    await waitFor(
      () =>
        ca.assignment().length > 0 &&
        cb.assignment().length > 0 &&
        ca.assignment().length + cb.assignment().length === 4,
      30_000,
      'partitions not split',
    );
    const keptByA = ca.assignment().map((tp) => tp.partition);
    await sleep(1_000);
    await cb.disconnect();
    await waitFor(() => ca.assignment().length === 4, 30_000, 'A did not get everything back');
    producing = false;
    await production;
    await waitFor(() => seen.size === sent, 30_000, `not every record was consumed (${seen.size}/${sent})`);
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
    // A gave B's partitions away once and never revoked the ones it kept; B revoked its own when leaving.
    expect(a.revocations).toHaveLength(1);
    expect(a.revocations[0]!.map((tp) => tp.partition).filter((p) => keptByA.includes(p))).toEqual([]);
    expect(b.revocations).toHaveLength(1);
    await ca.disconnect();
  }, 120_000);

  it('keeps the member in the group during an eachBatch longer than the session timeout', async () => {
    const t = transport();
    const topic = await createTopic('long-batch', 1);
    const c = t.consumer({ groupId: name('group'), sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 });
    const revoked: TopicPartition[][] = [];
    const values: string[] = [];
    await c.connect();
    await c.subscribe([topic]);
    await c.run({
      onRevoked: (ps) => {
        revoked.push([...ps]);
      },
      eachBatch: async (b) => {
        if (values.length === 0) await sleep(9_000);
        for (const r of b.records) values.push(str(r.value)!);
        await c.commitOffsets([{ topic, partition: 0, offset: b.records.at(-1)!.offset + 1 }]);
      },
    });
    await waitFor(() => c.assignment().length === 1, 30_000, 'not assigned');
    const p = t.producer();
    await p.connect();
    await p.send([{ topic, key: null, value: buf('first') }]);
    await sleep(200);
    await p.send([{ topic, key: null, value: buf('second') }]);
    await waitFor(() => values.includes('second'), 30_000, 'second record not consumed');
    expect(revoked).toEqual([]);
    expect(values).toEqual(['first', 'second']);
    await c.disconnect();
  }, 60_000);

  it('delivers a partition again when a rebalance hands it back during its re-delivery backoff', async () => {
    const t = transport({ redeliveryBackoffMs: 120_000 });
    const topic = await createTopic('backoff-rebalance', 2);
    const groupId = name('group');
    const p = t.producer();
    await p.connect();
    await p.send([
      { topic, partition: 0, key: null, value: buf('p0') },
      { topic, partition: 1, key: null, value: buf('p1') },
    ]);
    const values: string[] = [];
    let rejected = 0;
    const a = t.consumer({ groupId, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, maxWaitMs: 100 });
    await a.connect();
    await a.subscribe([topic]);
    await a.run({
      eachBatch: async (b) => {
        if (b.partition === 0 && rejected === 0) {
          rejected++;
          throw new Error('first batch of partition 0 fails');
        }
        for (const r of b.records) values.push(str(r.value)!);
        await a.commitOffsets([{ topic, partition: b.partition, offset: b.records.at(-1)!.offset + 1 }]);
      },
    });
    await waitFor(() => rejected === 1 && values.includes('p1'), 30_000, 'partition 0 not rejected once');
    await sleep(500); // partition 0 is now held for its (long) backoff
    const b = t.consumer({ groupId, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, maxWaitMs: 100 });
    await b.connect();
    await b.subscribe([topic]);
    await b.run({ eachBatch: async () => {} });
    await waitFor(() => b.assignment().length > 0, 30_000, 'second member not assigned');
    await b.disconnect();
    await waitFor(() => a.assignment().length === 2, 30_000, 'partitions not handed back');
    await waitFor(() => values.includes('p0'), 20_000, 'partition 0 never delivered after the rebalance');
    expect(values.filter((v) => v === 'p0')).toEqual(['p0']);
  }, 120_000);

  it('joins in the background, also with a session timeout above the rebalance timeout', async () => {
    // The client refuses such a consumer in its constructor; the broker does not mind.
    const t = transport({ rebalanceTimeoutMs: 5_000 });
    const topic = await createTopic('timeouts', 1);
    const c = t.consumer({ groupId: name('group'), sessionTimeoutMs: 8_000, heartbeatIntervalMs: 500 });
    await c.connect();
    await c.subscribe([topic]);
    const assigned: TopicPartition[][] = [];
    await c.run({ eachBatch: async () => {}, onAssigned: (ps) => void assigned.push([...ps]) });
    await waitFor(() => assigned.length === 1, 30_000, 'not assigned');
    expect(assigned[0]).toEqual([{ topic, partition: 0 }]);
    await c.disconnect();
  }, 60_000);

  it('rejects sends of a fenced zombie with FencedError', async () => {
    const t = transport();
    const topic = await createTopic('zombie', 1);
    const transactionalId = name('tx');
    const zombie = t.producer({ transactionalId });
    await zombie.connect();
    const tx = await zombie.beginTransaction();
    await tx.send([{ topic, key: null, value: buf('zombie-1') }]);
    const successor = t.producer({ transactionalId });
    await successor.connect();
    await expect(tx.send([{ topic, key: null, value: buf('zombie-2') }])).rejects.toBeInstanceOf(FencedError);
    await expect(tx.commit()).rejects.toBeInstanceOf(FencedError);
    await expect(zombie.beginTransaction()).rejects.toBeInstanceOf(FencedError);
    const next = await successor.beginTransaction();
    await next.send([{ topic, key: null, value: buf('successor') }]);
    await next.sendOffsets(name('group'), [{ topic, partition: 0, offset: 1 }]);
    await next.commit();
    expect((await readAll(t, topic, 1)).map((r) => str(r.value))).toEqual(['successor']);
  }, 60_000);

  it('begins a transaction after one whose beginning failed (no transaction coordinator)', async () => {
    const t = transport();
    const topic = await createTopic('begin-failed', 1);
    const producer = t.producer({ transactionalId: name('tx') });
    await producer.connect();
    failNextFindCoordinator((producer as unknown as { client: object }).client);
    await expect(producer.beginTransaction()).rejects.toThrow(/coordinator not available/);
    const tx = await producer.beginTransaction();
    await tx.send([{ topic, key: null, value: buf('after') }]);
    await tx.commit();
    expect((await readAll(t, topic, 1)).map((r) => str(r.value))).toEqual(['after']);
  }, 60_000);

  it('keeps the timestamps of records 2^31 ms and more apart in one send, with either encoder choice', async () => {
    const stamps = spreadTimestamps(Date.now());
    const records = (tag: string): OutgoingRecord[] =>
      stamps.map((timestamp, i) => ({ topic, partition: 0, key: null, value: buf(`${tag}${i}`), timestamp }));
    const t = transport();
    const topic = await createTopic('timestamps', 1);
    const producer = t.producer();
    await producer.connect();
    await producer.send(records('a'));
    await producer.disconnect();
    // The client's encoder, chosen as an escape hatch, writes the same records (and its wrong timestamps).
    const viaClient = transport({ produceEncoder: 'client' }).producer();
    await viaClient.connect();
    await viaClient.send(records('b'));
    await viaClient.disconnect();
    const read = await readAll(t, topic, 1);
    expect(read.map((r) => str(r.value))).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
    expect(read.slice(0, 4).map((r) => r.timestamp)).toEqual(stamps);
    expect(read.slice(4).map((r) => r.timestamp)).not.toEqual(stamps);
  }, 60_000);

  it('reads record batches compressed by their producer with every codec, and by the broker', async () => {
    const t = transport();
    const records = (tag: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        key: i % 5 === 0 ? null : buf(`${tag}-k${i}`),
        value: buf(`${tag}-v${i}-${'x'.repeat(i * 7)}`),
        headers: { h: buf(`${tag}${i}`) },
      }));
    // Compressed by the producer: one send per codec, kept as written (the topic's compression.type is 'producer').
    const byProducer = await createTopic('codecs', 1);
    const codecs = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
    const raw = new PProducer({
      clientId: 'codecs',
      bootstrapBrokers: brokers!.split(','),
      idempotent: true,
    });
    try {
      for (const compression of codecs) {
        await raw.send({
          messages: records(compression, 40).map((r) => ({
            topic: byProducer,
            partition: 0,
            key: r.key ?? undefined,
            value: r.value,
            headers: new Map([[buf('h'), r.headers.h]]),
          })),
          compression,
        });
      }
    } finally {
      await raw.close();
    }
    // Compressed by the broker: the topic's compression.type recompresses what the transport sends uncompressed.
    const byBroker = name('broker-zstd');
    topics.push(byBroker);
    const admin = await t.admin();
    await admin.createTopics([{ name: byBroker, partitions: 1, config: { 'compression.type': 'zstd' } }]);
    const producer = t.producer();
    await producer.connect();
    await producer.send(records('broker', 60).map((r) => ({ topic: byBroker, partition: 0, ...r })));
    await producer.disconnect();

    const expected = (tags: readonly string[], n: number) =>
      tags
        .flatMap((tag) => records(tag, n))
        .map((r, offset) => ({
          offset,
          key: str(r.key),
          value: str(r.value),
          h: str(r.headers.h),
        }));
    const seen = (rs: IncomingRecord[]) =>
      rs.map((r) => ({
        offset: r.offset,
        key: str(r.key),
        value: str(r.value),
        h: str(r.headers.h ?? null),
      }));
    expect(seen(await readAll(t, byProducer, 1))).toEqual(expected(codecs, 40));
    expect(seen(await readAll(t, byBroker, 1))).toEqual(expected(['broker'], 60));
  }, 60_000);

  it('sends the sends of one turn in one Produce request, and commits the commits of one turn in one OffsetCommit', async () => {
    const t = transport();
    const topic = await createTopic('coalesce', 3);
    const missing = name('missing');
    // The client's requests, by API key (Produce 0, OffsetCommit 8), counted while `counting`.
    const requests = new Map<number, number>();
    let counting = false;
    const count = (d: unknown) => {
      const key = (d as { apiKey?: number }).apiKey;
      if (counting && key !== undefined) requests.set(key, (requests.get(key) ?? 0) + 1);
    };
    const start = channel('tracing:plt:kafka:connections:api:start');
    start.subscribe(count);
    try {
      const p = t.producer();
      await p.connect();
      const records = (partition: number, n: number): OutgoingRecord[] =>
        Array.from({ length: n }, (_, i) => ({
          topic,
          partition,
          key: null,
          value: buf(`${partition}-${i}`),
        }));
      counting = true;
      await Promise.all([p.send(records(0, 3)), p.send(records(1, 2)), p.send(records(2, 4))]);
      counting = false;
      expect(requests.get(0)).toBe(1);
      // A send naming a topic that does not exist fails alone; the others of its turn are written.
      const [bad, good] = await Promise.allSettled([
        p.send([{ topic: missing, key: null, value: buf('x') }]),
        p.send(records(0, 1)),
      ]);
      expect(bad.status).toBe('rejected');
      expect(String((bad as PromiseRejectedResult).reason)).toContain(missing);
      expect(good.status).toBe('fulfilled');
      const read = await readAll(t, topic, 3);
      const byPartition = (n: number) => read.filter((r) => r.partition === n).map((r) => str(r.value));
      expect(byPartition(0)).toEqual(['0-0', '0-1', '0-2', '0-0']);
      expect(byPartition(1)).toEqual(['1-0', '1-1']);
      expect(byPartition(2)).toEqual(['2-0', '2-1', '2-2', '2-3']);

      const groupId = name('group');
      const c = t.consumer({ groupId, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, maxWaitMs: 100 });
      await c.connect();
      await c.subscribe([topic]);
      await c.run({ eachBatch: async () => {} });
      await waitFor(() => c.assignment().length === 3, 30_000, 'not assigned');
      requests.clear();
      counting = true;
      await Promise.all([0, 1, 2].map((partition) => c.commitOffsets([{ topic, partition, offset: 2 }])));
      counting = false;
      expect(requests.get(8)).toBe(1);
      const admin = await t.admin();
      const committed = await admin.fetchCommittedOffsets(groupId, topic);
      await admin.close();
      expect(committed.map((o) => [o.partition, o.offset]).sort()).toEqual([
        [0, 2],
        [1, 2],
        [2, 2],
      ]);
      await c.disconnect();
    } finally {
      start.unsubscribe(count);
    }
  }, 60_000);

  /**
   * A topic of two partitions: `batches` record batches of about 50 KB on partition 0, read one per fetch (at most
   * 64 KiB), partition 1 empty (caught up); and a consumer of it with a 3 s long poll, not yet connected.
   */
  async function busyAndIdle(topicName: string, batches: number, concurrency = 1) {
    const t = transport();
    const topic = await createTopic(topicName, 2);
    const p = t.producer();
    await p.connect();
    for (let s = 0; s < batches; s++) {
      await p.send(
        Array.from({ length: 50 }, (_, i) => ({
          topic,
          partition: 0,
          key: null,
          value: Buffer.alloc(1000, i),
        })),
      );
    }
    const c = t.consumer({
      groupId: name('group'),
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 500,
      maxWaitMs: 3_000,
      maxBytesPerPartition: 64 * 1024,
      concurrency,
    });
    return { topic, p, c };
  }

  it('does not hold a busy partition back behind a long poll of a caught-up one', async () => {
    // 40 batches on partition 0; partition 1 stays empty.
    const { topic, c } = await busyAndIdle('quiet', 40);
    let records = 0;
    const starts: number[] = [];
    await c.connect();
    await c.subscribe([topic]);
    await c.run({
      eachBatch: async (b) => {
        if (b.partition !== 0) return;
        starts.push(Date.now());
        records += b.records.length;
        await sleep(20);
      },
    });
    await waitFor(() => records >= 2000, 60_000, 'partition 0 not read to its end');
    await c.disconnect();
    // Before: every fetch of partition 0 waited behind a 3 s long poll of partition 1 alone (40 batches: 2 minutes).
    const gaps = starts.slice(1).map((at, i) => at - starts[i]!);
    expect(starts.length).toBeGreaterThan(20);
    expect(Math.max(...gaps)).toBeLessThan(1_500);
  }, 90_000);

  it('delivers a record on a caught-up partition promptly while another partition is busy', async () => {
    // 8 batches on partition 0, handled in 1.5 s each: partition 0 is busy (a batch delivered, another waiting) for
    // about 12 s and fetched every 1.5 s. Partition 1 is caught up: in between, it is fetched on its own.
    const { topic, p, c } = await busyAndIdle('quiet-probe', 8, 2);
    let busyBatches = 0;
    const seen = new Map<string, number>();
    await c.connect();
    await c.subscribe([topic]);
    await c.run({
      eachBatch: async (b) => {
        if (b.partition === 1) {
          for (const r of b.records) seen.set(r.value!.toString(), Date.now());
          return;
        }
        busyBatches++;
        await sleep(1_500);
      },
    });
    await waitFor(() => busyBatches >= 1, 30_000, 'partition 0 not busy');
    const sent = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      await p.send([{ topic, partition: 1, key: null, value: Buffer.from(`probe-${i}`) }]);
      sent.set(`probe-${i}`, Date.now());
    }
    await waitFor(() => seen.size >= 6, 30_000, 'probes on partition 1 not delivered');
    const stillBusy = busyBatches < 8;
    await c.disconnect();
    await p.disconnect();
    // Before: the caught-up partition was quiet for maxWaitMs (3 s) at a time while partition 0 was busy, fetched
    // only along with partition 0 every 1.5 s, so a probe waited up to 1.5 s.
    const delays = [...sent].map(([v, at]) => seen.get(v)! - at);
    expect(stillBusy).toBe(true);
    expect(Math.max(...delays)).toBeLessThan(500);
  }, 90_000);

  it('refuses an unknown produce encoder, naming the option or the environment variable', () => {
    expect(() => transport({ produceEncoder: 'fast' as never })).toThrow(
      /produceEncoder.*'fast'.*'dirigo' or 'client'/,
    );
    const before = process.env.DIRIGO_PRODUCE_ENCODER;
    process.env.DIRIGO_PRODUCE_ENCODER = 'Client';
    try {
      expect(() => transport()).toThrow(/DIRIGO_PRODUCE_ENCODER.*'Client'/);
    } finally {
      if (before === undefined) delete process.env.DIRIGO_PRODUCE_ENCODER;
      else process.env.DIRIGO_PRODUCE_ENCODER = before;
    }
  });
});

describe('@platformatic/kafka 2.12.1 alone (the bugs this transport works around)', () => {
  const bootstrapBrokers = brokers!.split(',');

  it('lets records of a producer that aborted twice reach read_committed fetches', async () => {
    const topic = await createTopic('raw-aborted', 1);
    const producer = new PProducer({
      clientId: 'raw',
      bootstrapBrokers,
      idempotent: true,
      transactionalId: name('tx'),
    });
    const consumer = new PConsumer({ clientId: 'raw', groupId: name('unused'), bootstrapBrokers });
    try {
      for (const round of [0, 1]) {
        const tx = await producer.beginTransaction();
        await tx.send({ messages: [{ topic, partition: 0, value: buf(`aborted-${round}`) }] });
        await tx.abort();
      }
      const metadata = await consumer.metadata({ topics: [topic] });
      const answer = await consumer.fetch({
        node: metadata.topics.get(topic)!.partitions[0]!.leader,
        topics: [
          {
            topicId: metadata.topics.get(topic)!.id,
            partitions: [
              {
                partition: 0,
                fetchOffset: 0n,
                partitionMaxBytes: 1 << 20,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              },
            ],
          },
        ],
        maxWaitTime: 100,
        isolationLevel: 1, // READ_COMMITTED
      });
      const delivered = (answer.responses[0]?.partitions[0]?.records ?? [])
        .filter((b) => (b.attributes & (1 << 5)) === 0)
        .flatMap((b) => b.records.map((r) => str(r.value)));
      // The first aborted transaction is not filtered (the client keeps one range per producer).
      expect(delivered).toEqual(['aborted-0']);
      // This transport hides both.
      expect(await readAll(transport(), topic, 1)).toEqual([]);
    } finally {
      await producer.close();
      await consumer.close();
    }
  }, 60_000);

  it('drops committed records after a transaction aborted without records on the partition', async () => {
    // A transaction that added the partition but wrote nothing to it (its producer died between
    // AddPartitionsToTxn and Produce, and the next owner's InitProducerId aborted it) leaves an ABORT marker that
    // the broker does not list among the aborted transactions. The client's filter hides every record of the
    // producer from its last listed aborted transaction to its last ABORT marker: here the committed `c`.
    const topic = await createTopic('raw-dataless-abort', 1);
    const transactionalId = name('tx');
    const producer = new PProducer({ clientId: 'raw', bootstrapBrokers, idempotent: true, transactionalId });
    const consumer = new PConsumer({ clientId: 'raw', groupId: name('unused'), bootstrapBrokers });
    try {
      const round = async (value: string, end: 'commit' | 'abort') => {
        const tx = await producer.beginTransaction();
        await tx.send({ messages: [{ topic, partition: 0, value: buf(value) }] });
        await (end === 'commit' ? tx.commit() : tx.abort());
      };
      await round('a', 'commit');
      await round('b', 'abort');
      await round('c', 'commit');
      const metadata = await consumer.metadata({ topics: [topic] });
      const dataless = await producer.beginTransaction();
      await dataless.addPartitions(metadata, [{ topic, partition: 0, value: buf('never sent') }]);
      await dataless.abort();
      // The coordinator writes the ABORT marker after EndTxn has answered: fetch until the partition's last stable
      // offset is past it, else the client's filter has no marker to misread yet.
      const fetchAll = () =>
        consumer.fetch({
          node: metadata.topics.get(topic)!.partitions[0]!.leader,
          topics: [
            {
              topicId: metadata.topics.get(topic)!.id,
              partitions: [
                {
                  partition: 0,
                  fetchOffset: 0n,
                  partitionMaxBytes: 1 << 20,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                },
              ],
            },
          ],
          maxWaitTime: 100,
          isolationLevel: 1, // READ_COMMITTED
        });
      // a, COMMIT, b, ABORT, c, COMMIT, then the dataless transaction's ABORT at offset 6.
      let answer = await fetchAll();
      await waitFor(
        async () => {
          answer = await fetchAll();
          return (answer.responses[0]?.partitions[0]?.lastStableOffset ?? 0n) >= 7n;
        },
        10_000,
        "the dataless transaction's ABORT marker was not written",
      );
      const delivered = (answer.responses[0]?.partitions[0]?.records ?? [])
        .filter((b) => (b.attributes & (1 << 5)) === 0)
        .flatMap((b) => b.records.map((r) => str(r.value)));
      expect(delivered).toEqual(['a']);
      // Both transports read every committed record.
      for (const t of [transport(), new KafkajsTransport({ brokers: brokers!, logger })]) {
        expect((await readAll(t as PlatformaticTransport, topic, 1)).map((r) => str(r.value))).toEqual([
          'a',
          'c',
        ]);
        const c = t.consumer({ groupId: name('reader'), heartbeatIntervalMs: 500, maxWaitMs: 100 });
        const values: (string | null)[] = [];
        await c.connect();
        await c.subscribe([topic]);
        await c.run({ eachBatch: async (b) => void values.push(...b.records.map((r) => str(r.value))) });
        await waitFor(() => values.length >= 2, 30_000, `${t.name}: committed records not delivered`);
        await sleep(300);
        expect(values).toEqual(['a', 'c']);
        await c.disconnect();
        await t.close();
      }
    } finally {
      await producer.close();
      await consumer.close();
    }
  }, 60_000);

  it('keeps a transaction whose beginning failed as its current one: every later one is refused', async () => {
    const producer = new PProducer({
      clientId: 'raw',
      bootstrapBrokers,
      idempotent: true,
      transactionalId: name('tx'),
    });
    try {
      await (await producer.beginTransaction()).cancel();
      failNextFindCoordinator(producer);
      await expect(producer.beginTransaction()).rejects.toThrow(/coordinator not available/);
      await expect(producer.beginTransaction()).rejects.toThrow(/There is already an active transaction/);
    } finally {
      await producer.close();
    }
  }, 60_000);

  it('writes wrong timestamps for records 2^31 ms and more apart in one batch', async () => {
    const topic = await createTopic('timestamps-alone', 1);
    const stamps = spreadTimestamps(Date.now());
    const producer = new PProducer({ clientId: 'raw', bootstrapBrokers, idempotent: true });
    try {
      await producer.send({
        messages: stamps.map((t, i) => ({ topic, partition: 0, value: buf(`v${i}`), timestamp: BigInt(t) })),
      });
    } finally {
      await producer.close();
    }
    const read = await readAll(transport(), topic, 1);
    expect(read.map((r) => str(r.value))).toEqual(['v0', 'v1', 'v2', 'v3']);
    // The first record is the batch's base timestamp; the others are off by what the 31-bit shift adds.
    expect(read[0]!.timestamp).toBe(stamps[0]);
    expect(read.map((r) => r.timestamp)).not.toEqual(stamps);
  }, 60_000);

  it('refuses a second producer of a transactional id instead of fencing the first', async () => {
    const transactionalId = name('tx');
    const first = new PProducer({ clientId: 'raw', bootstrapBrokers, idempotent: true, transactionalId });
    const second = new PProducer({ clientId: 'raw', bootstrapBrokers, idempotent: true, transactionalId });
    try {
      await (await first.beginTransaction()).cancel();
      // InitProducerId goes out with producer id 0 and epoch 0 instead of -1/-1.
      await expect(second.beginTransaction()).rejects.toMatchObject({
        errors: [expect.objectContaining({ apiId: 'PRODUCER_FENCED' })],
      });
      // This transport's producers take the id over.
      const t = transport();
      const successor = t.producer({ transactionalId });
      await successor.connect();
      await (await successor.beginTransaction()).abort();
    } finally {
      await first.close();
      await second.close();
    }
  }, 60_000);
});
