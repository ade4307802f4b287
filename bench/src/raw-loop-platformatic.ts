// The baselines of the throughput benchmark on @platformatic/kafka: plain consume-then-produce loops of the
// client alone, no framework, in two styles, so that the faster one is the baseline:
// - `fetch`: Fetch requests as the Dirigo transport makes them (`fetchRound` of @dirigo/platformatic: the client's
//   Fetch request, answers decoded by the transport's own record decoder): fetch every assigned partition, send
//   all their records to `out` in one send, commit the positions, repeat;
// - `stream`: the client's MessagesStream (its idiomatic consumer), records buffered while a send and a commit
//   of the previous ones are in flight.
// Both join the group, produce idempotently (acks=all) and commit after producing, like the kafkajs loop.
// Produce requests are encoded as the transport encodes them (`producerClassFor(produceEncoderOf())`: the
// transport's encoder, or the client's with `DIRIGO_PRODUCE_ENCODER=client`), so the baseline has its fixes; with the
// transport's encoder, each send also reaches the client as one message per partition (`packRecordChunks`, the
// records' partitions chosen as the transport chooses them: murmur2 of the key, else round-robin), as the
// transport's sends do.
import {
  Admin,
  ConnectionPool,
  ListOffsetTimestamps,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessageToProduce,
  Consumer as PConsumer,
} from '@platformatic/kafka';
import type { OutgoingRecord } from '@dirigo/core';
import {
  fetchRound,
  Partitioner,
  packRecordChunks,
  produceEncoderOf,
  producerClassFor,
} from '@dirigo/platformatic';
import { jsonRoundTrip, RunClock, type RawLoopOptions, type TimedResult } from './raw-loop.ts';

export type RawLoopResult = TimedResult;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function endOffsets(admin: Admin, topic: string): Promise<bigint[]> {
  const metadata = await admin.metadata({ topics: [topic] });
  const count = metadata.topics.get(topic)!.partitionsCount;
  const [answer] = await admin.listOffsets({
    topics: [
      {
        name: topic,
        partitions: Array.from({ length: count }, (_, partitionIndex) => ({
          partitionIndex,
          timestamp: ListOffsetTimestamps.LATEST,
        })),
      },
    ],
  });
  const ends: bigint[] = [];
  for (const p of answer!.partitions) ends[p.partitionIndex] = p.offset;
  return ends;
}

async function waitCommitted(admin: Admin, group: string, topic: string, ends: bigint[]): Promise<void> {
  for (;;) {
    const [g] = await admin.listConsumerGroupOffsets({
      groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: ends.map((_, i) => i) }] }],
    });
    const committed = g?.topics.find((t) => t.name === topic)?.partitions ?? [];
    if (
      ends.every((end, i) => (committed.find((p) => p.partitionIndex === i)?.committedOffset ?? -1n) >= end)
    )
      return;
    await sleep(50);
  }
}

/**
 * What a send hands the client: with the transport's encoder, the records packed per partition as the transport
 * packs them (`packRecordChunks`: partitions chosen as the transport does, murmur2 of the key, else round-robin;
 * no client message per record); else the client's messages, its partitioner choosing.
 */
function sender(admin: Admin, topic: string): (records: OutgoingRecord[]) => Promise<MessageToProduce[][]> {
  if (produceEncoderOf() !== 'dirigo') {
    return async (records) => [
      records.map((r) => ({ topic: r.topic, key: r.key ?? undefined, value: r.value ?? undefined })),
    ];
  }
  const partitioner = new Partitioner();
  let count: number | undefined;
  return async (records) => {
    count ??= (await admin.metadata({ topics: [topic] })).topics.get(topic)!.partitionsCount;
    return packRecordChunks(records, () => count!, partitioner);
  };
}

function clients(o: RawLoopOptions) {
  const bootstrapBrokers = o.brokers.split(',');
  const clientId = 'bench-raw-plt';
  return {
    admin: new Admin({ clientId, bootstrapBrokers }),
    producer: new (producerClassFor(produceEncoderOf()))({
      clientId,
      bootstrapBrokers,
      idempotent: true,
    }),
    consumer: new PConsumer({ clientId, groupId: o.group, bootstrapBrokers, autocommit: false }),
  };
}

/**
 * An output record in the shape the runtime's `emit` makes (the same fields in the same order; partition,
 * headers and timestamp unset), so that the produce path the loops share with the SDK scenarios (chunker,
 * encoder) sees one record shape in the bench's process, as it does in a worker.
 */
function outgoing(topic: string, key: Buffer | null, value: Buffer | null): OutgoingRecord {
  return { topic, partition: undefined, key, value, headers: undefined, timestamp: undefined };
}

/**
 * `fetch` style: fetch all assigned partitions, one send of all their records, one commit. One broker: every
 * partition is fetched from the leader of the first (the bench's local broker).
 */
export async function runPlatformaticFetchLoop(o: RawLoopOptions): Promise<RawLoopResult> {
  const { admin, producer, consumer } = clients(o);
  const pack = sender(admin, o.out);
  const ends = await endOffsets(admin, o.input);
  const total = ends.reduce((s, e) => s + Number(e), 0);
  consumer.topics.track(o.input);
  await consumer.joinGroup({});
  const positions = ends.map(() => 0);
  const pool = new ConnectionPool('bench-raw-plt-fetch');
  const clock = new RunClock();
  let done = false;
  while (!done) {
    const partitions = consumer.assignments?.find((a) => a.topic === o.input)?.partitions ?? [];
    const answers = await fetchRound(
      consumer,
      pool,
      partitions.map((partition) => ({
        topic: o.input,
        partition,
        offset: positions[partition]!,
        maxBytes: 512 * 1024,
      })),
      { isolation: 'read_committed', maxWaitMs: 100, maxBytes: 50 * 1024 * 1024 },
    );
    const records: OutgoingRecord[] = [];
    const offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] = [];
    for (const p of answers) {
      if (p.error !== undefined) throw p.error;
      if (p.next === undefined) continue;
      for (const r of p.records)
        records.push(outgoing(o.out, r.key, o.json ? jsonRoundTrip(r.value) : r.value));
      positions[p.partition] = p.next;
      offsets.push({ topic: o.input, partition: p.partition, offset: BigInt(p.next), leaderEpoch: -1 });
    }
    if (records.length > 0) {
      clock.begin();
      for (const messages of await pack(records)) await producer.send({ messages });
    }
    if (offsets.length > 0) await consumer.commit({ offsets });
    done = ends.every((end, i) => positions[i]! >= Number(end));
  }
  await waitCommitted(admin, o.group, o.input, ends);
  const result = clock.result(total);
  await Promise.all([consumer.close(true), producer.close(), admin.close(), pool.close()]);
  return result;
}

/** `stream` style: the client's MessagesStream; records buffered while the previous send and commit run. */
export async function runPlatformaticStreamLoop(o: RawLoopOptions): Promise<RawLoopResult> {
  const { admin, producer, consumer } = clients(o);
  const pack = sender(admin, o.out);
  const ends = await endOffsets(admin, o.input);
  const total = ends.reduce((s, e) => s + Number(e), 0);
  const stream = await consumer.consume({
    topics: [o.input],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
    maxWaitTime: 100,
    maxBytesPerPartition: 512 * 1024,
  });
  const clock = new RunClock();
  let buffer: OutgoingRecord[] = [];
  let positions = new Map<number, bigint>();
  let flushing: Promise<void> | null = null;
  let failed: unknown;
  const flush = async (): Promise<void> => {
    while (buffer.length > 0) {
      const records = buffer;
      const offsets = [...positions].map(([partition, offset]) => ({
        topic: o.input,
        partition,
        offset,
        leaderEpoch: -1,
      }));
      buffer = [];
      positions = new Map();
      for (const messages of await pack(records)) await producer.send({ messages });
      await consumer.commit({ offsets });
      if (stream.isPaused()) stream.resume();
    }
  };
  const kick = (): void => {
    if (flushing !== null) return;
    flushing = flush()
      .catch((e: unknown) => {
        failed = e;
      })
      .finally(() => {
        flushing = null;
        if (buffer.length > 0) kick();
      });
  };
  stream.on('data', (m) => {
    clock.begin();
    buffer.push(outgoing(o.out, m.key, o.json ? jsonRoundTrip(m.value)! : m.value));
    positions.set(m.partition, m.offset + 1n);
    if (buffer.length >= 20_000) stream.pause();
    kick();
  });
  await waitCommitted(admin, o.group, o.input, ends);
  const result = clock.result(total);
  if (failed !== undefined) throw failed;
  await stream.close();
  await Promise.all([consumer.close(true), producer.close(), admin.close()]);
  return result;
}
