// Throughput benchmark: records/s of a raw kafkajs consume-then-produce loop (the baseline) and of SDK apps on
// the same broker, same input, same run: a stateless passthrough, a keyed count with changelog at-least-once,
// and the same count exactly-once. Each SDK scenario is then probed at a modest paced rate for end-to-end p99
// latency (output timestamp minus input timestamp). Every scenario is timed from its first fetched batch to its
// last commit. Numbers are only meaningful as ratios to `raw`.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AppDefinition,
  defineApp,
  fn,
  type Logger,
  type OutgoingRecord,
  state,
  type Transport,
} from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { Worker } from '@dirigo/runtime';
import { type RawLoopOptions, runRawLoop } from './raw-loop.ts';

const here = dirname(fileURLToPath(import.meta.url));

export interface ThroughputOptions {
  readonly brokers: string;
  readonly records: number;
  readonly partitions: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly probeRecords: number;
  /** Which scenarios to run (default all); `raw` always runs, it is the baseline. */
  readonly scenarios?: readonly string[];
  readonly logger: Logger;
}

export interface RawResult extends ScenarioResult {
  readonly withGroupingFix: ScenarioResult;
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

/**
 * The baseline, twice: stock kafkajs in a child process (`raw`, the figure ratios are taken against), and the
 * same loop in this process, where @dirigo/kafkajs's fix of kafkajs's quadratic per-partition grouping applies
 * (`raw.withGroupingFix`).
 */
async function raw(
  o: ThroughputOptions,
  transport: KafkajsTransport,
  input: string,
  id: string,
): Promise<RawResult> {
  const admin = await transport.admin();
  const outs = [`bench-${id}-raw-out`, `bench-${id}-rawfix-out`];
  await admin.createTopics(outs.map((name) => ({ name, partitions: o.partitions })));
  const options = (out: string, group: string): RawLoopOptions => ({
    brokers: o.brokers,
    input,
    out,
    group,
    concurrency: o.partitions,
  });
  const stock = await runChild(options(outs[0]!, `bench-${id}-raw`));
  const fixed = await runRawLoop(options(outs[1]!, `bench-${id}-rawfix`));
  return { ...stock, withGroupingFix: fixed };
}

function runChild(options: RawLoopOptions): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'raw-loop-main.ts'), JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as ScenarioResult);
      else reject(new Error(`raw kafkajs loop exited with ${code}: ${out}`));
    });
  });
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

/**
 * Wraps a transport so that the time of the first batch delivered to `group` is known: both the baseline and
 * the SDK scenarios are timed from their first fetched batch to their last commit (joining the group, creating
 * topics and opening partitions are start-up, not throughput).
 */
function firstBatchClock(transport: Transport, group: string): { transport: Transport; start(): number } {
  let first = 0;
  const wrapped: Transport = {
    name: transport.name,
    admin: () => transport.admin(),
    producer: (options) => transport.producer(options),
    readToEnd: (partitions, onRecords) => transport.readToEnd(partitions, onRecords),
    close: () => transport.close(),
    consumer: (options) => {
      const consumer = transport.consumer(options);
      if (options.groupId !== group) return consumer;
      const run = consumer.run.bind(consumer);
      consumer.run = (handlers) =>
        run({
          ...handlers,
          eachBatch: (batch) => {
            if (first === 0) first = performance.now();
            return handlers.eachBatch(batch);
          },
        });
      return consumer;
    },
  };
  return { transport: wrapped, start: () => first };
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
  const timed = firstBatchClock(transport, group);
  const worker = new Worker({
    transport: timed.transport,
    apps: [app],
    logger: o.logger,
    concurrency: o.partitions,
    workerId: `bench-${app.name}`,
  });
  await worker.start();
  await waitCommitted(transport, group, input, target);
  const seconds = (performance.now() - timed.start()) / 1000;
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
    const want = (name: string) => o.scenarios === undefined || o.scenarios.includes(name);
    if (want('passthrough'))
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
    if (want('countAtLeastOnce'))
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
    if (want('countExactlyOnce'))
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
