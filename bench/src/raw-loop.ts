// The baseline of the throughput benchmark: a plain kafkajs consume-then-produce loop (eachBatch -> one
// sendBatch of the same records -> commit), no framework. It imports nothing but kafkajs, so run as its own
// process (raw-loop-main.ts) it measures stock kafkajs 2.2.4; run inside a process that loaded
// @dirigo/kafkajs it measures kafkajs with that package's grouping fix.
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

export interface RawLoopOptions {
  readonly brokers: string;
  readonly input: string;
  readonly out: string;
  readonly group: string;
  readonly concurrency: number;
  /**
   * Decode every value as JSON and encode it back before producing it (what the JSON passthrough's serde does
   * per record): the loop is then the ceiling of a JSON passthrough on this client.
   */
  readonly json?: boolean;
}

/** The value as a JSON passthrough writes it: decoded and encoded again. */
export const jsonRoundTrip = (value: Buffer | null): Buffer | null =>
  value === null ? null : Buffer.from(JSON.stringify(JSON.parse(value.toString('utf8'))));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Consumes `input` to its current end, re-producing every record to `out`; timed from the first batch. */
export async function runRawLoop(o: RawLoopOptions): Promise<{ recordsPerSec: number; seconds: number }> {
  const kafka = new Kafka({
    brokers: o.brokers.split(','),
    clientId: 'bench-raw',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const target = (await admin.fetchTopicOffsets(o.input)).map((p) => ({
    partition: p.partition,
    high: Number(p.high),
  }));
  const total = target.reduce((s, p) => s + p.high, 0);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  // Half the broker's 1 MiB message limit per partition fetch, so a fetched batch re-sent as one record batch
  // fits (kafkajs does not split sends; the SDK's transport does).
  const consumer = kafka.consumer({
    groupId: o.group,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 512 * 1024,
  });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: o.input, fromBeginning: true });
  let start = 0;
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: o.concurrency,
    eachBatch: async ({ batch }) => {
      if (start === 0) start = performance.now();
      await producer.sendBatch({
        topicMessages: [
          {
            topic: o.out,
            messages: batch.messages.map((m) => ({
              key: m.key,
              value: o.json ? jsonRoundTrip(m.value) : m.value,
            })),
          },
        ],
      });
      const last = batch.messages[batch.messages.length - 1];
      if (last) {
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) },
        ]);
      }
    },
  });
  for (;;) {
    const [committed] = await admin.fetchOffsets({ groupId: o.group, topics: [o.input] });
    const done = target.every(
      (t) => Number(committed?.partitions.find((p) => p.partition === t.partition)?.offset ?? -1) >= t.high,
    );
    if (done) break;
    await sleep(50);
  }
  const seconds = (performance.now() - start) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  await admin.disconnect();
  return { recordsPerSec: Math.round(total / seconds), seconds };
}
