// The baseline of the throughput benchmark: a plain kafkajs consume-then-produce loop (eachBatch -> one
// sendBatch of the same records -> commit), no framework. It imports nothing but kafkajs, so run as its own
// process (raw-loop-main.ts) it measures stock kafkajs 2.2.4; run inside a process that loaded
// @dirigo/kafkajs it measures kafkajs with that package's grouping fix.
import type { EventLoopUtilization } from 'node:perf_hooks';
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

/** What a timed run reports: records per second, seconds, and this process's CPU seconds per million records. */
export interface TimedResult {
  recordsPerSec: number;
  seconds: number;
  cpuSecondsPerMillion: number;
  /** The share of the run the process's main thread was busy (event-loop utilization), 0..1. */
  mainThreadBusy: number;
  /** The main thread's busy seconds per million records (what bounds a loop whose main thread is full). */
  mainThreadSecondsPerMillion: number;
}

/**
 * The clock of a timed run: wall time, this process's CPU time (user + system, every thread) and its main
 * thread's busy time (event-loop utilization) from `begin()` (the first batch; later calls do nothing) to
 * `result()`.
 */
export class RunClock {
  #wall = 0;
  #cpu: NodeJS.CpuUsage | undefined;
  #loop: EventLoopUtilization | undefined;

  begin(): void {
    if (this.#wall !== 0) return;
    this.#wall = performance.now();
    this.#cpu = process.cpuUsage();
    this.#loop = performance.eventLoopUtilization();
  }

  result(records: number): TimedResult {
    const seconds = (performance.now() - this.#wall) / 1000;
    const cpu = process.cpuUsage(this.#cpu);
    const busy = performance.eventLoopUtilization(this.#loop).utilization;
    return {
      recordsPerSec: Math.round(records / seconds),
      seconds,
      cpuSecondsPerMillion: Math.round(((cpu.user + cpu.system) / records) * 1000) / 1000,
      mainThreadBusy: Math.round(busy * 1000) / 1000,
      mainThreadSecondsPerMillion: Math.round(((busy * seconds) / records) * 1e9) / 1000,
    };
  }
}

/** Consumes `input` to its current end, re-producing every record to `out`; timed from the first batch. */
export async function runRawLoop(o: RawLoopOptions): Promise<TimedResult> {
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
  const clock = new RunClock();
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: o.concurrency,
    eachBatch: async ({ batch }) => {
      clock.begin();
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
  const result = clock.result(total);
  await consumer.disconnect();
  await producer.disconnect();
  await admin.disconnect();
  return result;
}
