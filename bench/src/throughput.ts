// Throughput benchmark: records/s of a raw kafkajs consume-then-produce loop (the baseline) and of SDK apps on
// the same broker, same input, same run: a stateless passthrough, a keyed count with changelog at-least-once,
// and the same count exactly-once. Each SDK scenario is then probed at a modest paced rate for end-to-end p99
// latency (output timestamp minus input timestamp). Numbers are only meaningful as ratios to `raw`.
import { type AppDefinition, defineApp, fn, type Logger, type OutgoingRecord, state } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { Worker } from '@dirigo/runtime';
import { Kafka, logLevel } from 'kafkajs';

export interface ThroughputOptions {
  readonly brokers: string;
  readonly records: number;
  readonly partitions: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly probeRecords: number;
  readonly logger: Logger;
}

export interface ScenarioResult {
  recordsPerSec: number;
  seconds: number;
  p99Ms?: number;
  p50Ms?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitCommitted(
  transport: KafkajsTransport,
  group: string,
  topic: string,
  target: Map<number, number>,
): Promise<void> {
  const admin = await transport.admin();
  for (;;) {
    const committed = await admin.fetchCommittedOffsets(group, topic);
    let done = true;
    for (const [p, high] of target) {
      if ((committed.find((c) => c.partition === p)?.offset ?? -1) < high) done = false;
    }
    if (done) return;
    await sleep(50);
  }
}

async function highWatermarks(transport: KafkajsTransport, topic: string): Promise<Map<number, number>> {
  const admin = await transport.admin();
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
}

/** The baseline: kafkajs eachBatch -> sendBatch of the same records -> commit, no framework. */
async function raw(
  o: ThroughputOptions,
  transport: KafkajsTransport,
  input: string,
  id: string,
): Promise<ScenarioResult> {
  const out = `bench-${id}-raw-out`;
  const admin = await transport.admin();
  await admin.createTopics([{ name: out, partitions: o.partitions }]);
  const kafka = new Kafka({
    brokers: o.brokers.split(','),
    clientId: 'bench-raw',
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `bench-${id}-raw`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: input, fromBeginning: true });
  const target = await highWatermarks(transport, input);
  const start = performance.now();
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      await producer.sendBatch({
        topicMessages: [
          { topic: out, messages: batch.messages.map((m) => ({ key: m.key, value: m.value })) },
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
  await waitCommitted(transport, `bench-${id}-raw`, input, target);
  const seconds = (performance.now() - start) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  return { recordsPerSec: Math.round(count(target) / seconds), seconds };
}

const count = (target: Map<number, number>) => [...target.values()].reduce((a, b) => a + b, 0);

function passthroughApp(ns: string, input: string, out: string) {
  return defineApp({
    name: 'passthrough',
    options: { namespace: ns, guarantee: 'at_least_once' },
    ingresses: [{ topic: input, to: 'pass' }],
    egresses: { out: { topic: out } },
    functions: {
      pass: fn({
        handler(ctx, m: unknown) {
          ctx.emit('out', ctx.key, m);
        },
      }),
    },
  });
}

function countApp(ns: string, input: string, out: string, guarantee: 'at_least_once' | 'exactly_once') {
  return defineApp({
    name: 'count',
    options: { namespace: ns, guarantee },
    ingresses: [{ topic: input, to: 'count' }],
    egresses: { out: { topic: out } },
    functions: {
      count: fn({
        state: { n: state.value<number>() },
        handler(ctx, _m: unknown) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, n);
        },
      }),
    },
  });
}

/** Runs one SDK app over the whole input, then probes latency with paced records. */
async function sdk(
  o: ThroughputOptions,
  transport: KafkajsTransport,
  input: string,
  out: string,
  app: AppDefinition,
  group: string,
): Promise<ScenarioResult> {
  const admin = await transport.admin();
  await admin.createTopics([{ name: out, partitions: o.partitions }]);
  const target = await highWatermarks(transport, input);
  const worker = new Worker({
    transport,
    apps: [app],
    logger: o.logger,
    concurrency: o.partitions,
    workerId: `bench-${app.name}`,
  });
  const start = performance.now();
  await worker.start();
  await waitCommitted(transport, group, input, target);
  const seconds = (performance.now() - start) / 1000;
  const latency = await probe(o, transport, input, out);
  await worker.stop();
  return { recordsPerSec: Math.round(count(target) / seconds), seconds, ...latency };
}

/** Produces `probeRecords` at about 1000/s and measures output time minus input time for each. */
async function probe(o: ThroughputOptions, transport: KafkajsTransport, input: string, out: string) {
  const seen: number[] = [];
  const from = await highWatermarks(transport, out);
  const producer = transport.producer({ clientId: 'bench-probe' });
  await producer.connect();
  const perBatch = 20;
  for (let i = 0; i < o.probeRecords; i += perBatch) {
    const records: OutgoingRecord[] = [];
    for (let j = 0; j < perBatch; j++) {
      records.push({
        topic: input,
        key: Buffer.from(`probe${(i + j) % o.keys}`),
        value: Buffer.from('{"probe":true}'),
        timestamp: Date.now(),
      });
    }
    await producer.send(records);
    await sleep(20);
  }
  await producer.disconnect();
  await sleep(1000);
  await transport.readToEnd(
    [...from].map(([partition, offset]) => ({ topic: out, partition, fromOffset: offset })),
    (records) => {
      for (const r of records) {
        const ingest = Number(r.headers['dirigo-ingest']?.toString());
        if (Number.isFinite(ingest)) seen.push(r.timestamp - ingest);
      }
    },
  );
  seen.sort((a, b) => a - b);
  const q = (p: number) => seen[Math.min(seen.length - 1, Math.floor(p * seen.length))] ?? Number.NaN;
  return { p50Ms: q(0.5), p99Ms: q(0.99) };
}

export async function runThroughput(o: ThroughputOptions): Promise<Record<string, ScenarioResult>> {
  const transport = new KafkajsTransport({
    brokers: o.brokers.split(','),
    clientId: 'bench',
    logger: o.logger,
  });
  const id = Date.now().toString(36);
  const input = `bench-${id}-in`;
  const admin = await transport.admin();
  await admin.createTopics([{ name: input, partitions: o.partitions }]);
  const producer = transport.producer({ clientId: 'bench-seed' });
  await producer.connect();
  const pad = 'x'.repeat(Math.max(0, o.valueBytes - 30));
  for (let i = 0; i < o.records; i += 5000) {
    const batch: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(o.records, i + 5000); j++) {
      batch.push({
        topic: input,
        key: Buffer.from(`k${j % o.keys}`),
        value: Buffer.from(`{"seq":${j},"pad":"${pad}"}`),
      });
    }
    await producer.send(batch);
  }
  await producer.disconnect();
  o.logger.info({ input, records: o.records }, 'bench: input seeded');
  const results: Record<string, ScenarioResult> = {};
  try {
    results.raw = await raw(o, transport, input, id);
    o.logger.info(results.raw, 'bench: raw');
    const ns = `bench-${id}`;
    results.passthrough = await sdk(
      o,
      transport,
      input,
      `${ns}-pt-out`,
      passthroughApp(ns, input, `${ns}-pt-out`),
      `${ns}.passthrough.pass`,
    );
    o.logger.info(results.passthrough, 'bench: passthrough');
    const nsA = `${ns}-alo`;
    results.countAtLeastOnce = await sdk(
      o,
      transport,
      input,
      `${nsA}-out`,
      countApp(nsA, input, `${nsA}-out`, 'at_least_once'),
      `${nsA}.count.count`,
    );
    o.logger.info(results.countAtLeastOnce, 'bench: countAtLeastOnce');
    const nsE = `${ns}-eos`;
    results.countExactlyOnce = await sdk(
      o,
      transport,
      input,
      `${nsE}-out`,
      countApp(nsE, input, `${nsE}-out`, 'exactly_once'),
      `${nsE}.count.count`,
    );
    o.logger.info(results.countExactlyOnce, 'bench: countExactlyOnce');
  } finally {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`bench-${id}`));
    await admin.deleteTopics(topics).catch(() => {});
    await transport.close();
  }
  return results;
}
