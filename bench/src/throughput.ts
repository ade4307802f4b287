// Throughput benchmark, per Kafka client (kafkajs and @platformatic/kafka): records/s of the fastest plain
// consume-then-produce loop of the client alone (the baseline, `raw`) and of SDK apps on the same client, same
// broker, same input, same run: a stateless passthrough, a keyed count with changelog at-least-once, and the same
// count exactly-once. Scenarios alternate between the clients so that machine noise hits both alike. Each SDK
// scenario is then probed at a modest paced rate for end-to-end p99 latency (output timestamp minus input
// timestamp). Every scenario is timed from its first fetched batch to its last commit. Numbers are only
// meaningful as ratios to the same client's `raw`.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppDefinition, Logger, OutgoingRecord, Transport } from '@dirigo/core';
import { Worker, type WorkerOptions } from '@dirigo/runtime';
import { countApp, passthroughApp, passthroughBytesApp } from './apps.ts';
import { tapBatches } from './batch-tap.ts';
import { profiled } from './profile.ts';
import { type RawLoopOptions, RunClock, runRawLoop } from './raw-loop.ts';
import { benchTransport, type TransportName } from './transports.ts';
import { runPlatformaticFetchLoop, runPlatformaticStreamLoop } from './raw-loop-platformatic.ts';

const here = dirname(fileURLToPath(import.meta.url));

export type { TransportName };

export interface ThroughputOptions {
  readonly brokers: string;
  readonly records: number;
  readonly partitions: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly probeRecords: number;
  /** Which scenarios to run (default all); `raw` always runs, it is the baseline. */
  readonly scenarios?: readonly string[];
  /** The clients to measure (default both). */
  readonly transports?: readonly TransportName[];
  /** Write a CPU profile of every in-process loop and SDK scenario here (see profile.ts). */
  readonly profileDir?: string;
  /**
   * Rounds (default 1): each runs the raw loops, then every scenario, on the same input; each figure reported is
   * its median round's, and `ratioToRaw` the median of the rounds' ratios (a scenario's records/s over the raw
   * loop's of the same round, minutes apart at most), so a noisy minute moves neither much.
   */
  readonly rounds?: number;
  /**
   * Seed the input with the scheduling headers a Dirigo hop writes (`dirigo-ingest`, `dirigo-deadline`,
   * `dirigo-priority`; the records of one seeding millisecond share their values), so that every loop and scenario
   * reads what a function inside an app reads from its upstream function. Default: no headers (an ingress).
   */
  readonly hopHeaders?: boolean;
  readonly logger: Logger;
}

/** The baseline of one client: the fastest of its plain loops, each loop's figure in `loops`. */
export interface RawResult extends ScenarioResult {
  readonly loop: string;
  readonly loops: Record<string, ScenarioResult>;
  /**
   * The fastest loop again, decoding every value as JSON and encoding it back (the JSON passthrough's serde
   * work, nothing else): the ceiling of a JSON passthrough on this client.
   */
  readonly json?: ScenarioResult;
}

export interface TransportResults {
  raw: RawResult;
  /**
   * The stateless passthrough doing the raw loop's work: values handed on as bytes (bytes serdes), outputs without
   * scheduling headers (the default egress). The criterion (at least 0.9x `raw`) is on this one. Until
   * 2026-12-06 this key was the JSON passthrough (now `passthroughJson`) and this app was `passthroughLean`.
   */
  passthrough?: ScenarioResult;
  /** The same with the scheduling headers on the outputs (`schedulingHeaders: true`); `passthroughBytes` until 2026-12-06. */
  passthroughHeaders?: ScenarioResult;
  /**
   * The passthrough with JSON serdes (every value decoded and encoded again), outputs without scheduling headers:
   * to be read against `raw.json`, the raw loop doing the same JSON work. `passthrough` until 2026-12-06.
   */
  passthroughJson?: ScenarioResult;
  /** The JSON passthrough with the scheduling headers on the outputs; `passthroughHeaders` until 2026-12-06. */
  passthroughJsonHeaders?: ScenarioResult;
  countAtLeastOnce?: ScenarioResult;
  /** The count at-least-once with values undecoded (bytes serdes, no latency probe), as the peers bench runs it. */
  countKeys?: ScenarioResult;
  /** Exactly-once v2 where the transport supports it (platformatic), v1 elsewhere. */
  countExactlyOnce?: ScenarioResult;
  /** The same count on exactly-once v1 (a producer per partition), for transports whose default is v2. */
  countExactlyOnceV1?: ScenarioResult;
  /** The exactly-once count with each step waiting for its commit (`pipelineSteps: false`; the default pipelines). */
  countExactlyOnceSerial?: ScenarioResult;
}

export interface ScenarioResult {
  recordsPerSec: number;
  seconds: number;
  /** With several rounds: every round's records/s, in order (the figures above are the median round's). */
  roundsRecordsPerSec?: number[];
  /** With several rounds: the median over the rounds of records/s over the same round's raw loop. */
  ratioToRaw?: number;
  /**
   * CPU seconds of the bench's process (every thread: JavaScript, GC, I/O) per million records over the timed
   * run: the per-record cost without the wall clock's noise (the broker shares the machine). The stock kafkajs
   * loop's is its own child process's.
   */
  cpuSecondsPerMillion?: number;
  /**
   * The share of the timed run the bench's main thread was busy (event-loop utilization), and its busy seconds per
   * million records: a loop whose main thread is full (about 1) is bound by that work, whatever the process's CPU
   * figure (which counts GC helper and I/O threads too) says.
   */
  mainThreadBusy?: number;
  mainThreadSecondsPerMillion?: number;
  p99Ms?: number;
  p50Ms?: number;
  /** Exactly-once: transactions committed per second, and steps per transaction, over the timed run. */
  transactionsPerSec?: number;
  stepsPerTransaction?: number;
  /** Exactly-once: 'v1' or 'v2'. */
  exactlyOnce?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitCommitted(
  transport: Transport,
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
    // Often: the scenario's time ends at the first poll after its last commit.
    await sleep(10);
  }
}

async function highWatermarks(transport: Transport, topic: string): Promise<Map<number, number>> {
  const admin = await transport.admin();
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
}

/**
 * The baseline of one client, its plain loops one after the other on the same input, fastest first reported:
 * - kafkajs: stock kafkajs in a child process (`stock`), and the same loop in this process, where
 *   @dirigo/kafkajs's fix of kafkajs's quadratic per-partition grouping applies (`withGroupingFix`, the fix the
 *   transport uses);
 * - platformatic: the client's Fetch loop (`fetch`, the path the transport uses) and its MessagesStream (`stream`).
 */
async function raw(
  o: ThroughputOptions,
  name: TransportName,
  transport: Transport,
  input: string,
  id: string,
) {
  const loops: [string, (options: RawLoopOptions) => Promise<ScenarioResult>][] =
    name === 'kafkajs'
      ? [
          ['stock', runChild],
          ['withGroupingFix', runRawLoop],
        ]
      : [
          ['fetch', runPlatformaticFetchLoop],
          ['stream', runPlatformaticStreamLoop],
        ];
  const admin = await transport.admin();
  /** Runs one loop on its own output topic and group (`json`: with the JSON round trip per value). */
  const runLoop = async (
    loop: string,
    run: (options: RawLoopOptions) => Promise<ScenarioResult>,
    json: boolean,
  ): Promise<ScenarioResult> => {
    const suffix = json ? `${loop}-json` : loop;
    const out = `bench-${id}-raw-${name}-${suffix}-out`;
    await admin.createTopics([{ name: out, partitions: o.partitions }]);
    const options = {
      brokers: o.brokers,
      input,
      out,
      group: `bench-${id}-raw-${name}-${suffix}`,
      concurrency: o.partitions,
      ...(json ? { json } : {}),
    };
    // The stock kafkajs loop runs in a child process: not profiled.
    return run === runChild
      ? run(options)
      : profiled(o.profileDir, `${name}-raw-${suffix}`, () => run(options));
  };
  const results: Record<string, ScenarioResult> = {};
  for (const [loop, run] of loops) results[loop] = await runLoop(loop, run, false);
  const [loop, best] = Object.entries(results).sort((a, b) => b[1].recordsPerSec - a[1].recordsPerSec)[0]!;
  const json = await runLoop(loop, loops.find(([l]) => l === loop)![1], true);
  return { ...best, loop, loops: results, json } satisfies RawResult;
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

/**
 * Wraps a transport so that the time of the first batch delivered to `group` is known: both the baseline and
 * the SDK scenarios are timed from their first fetched batch to their last commit (joining the group, creating
 * topics and opening partitions are start-up, not throughput).
 */
function firstBatchClock(transport: Transport, group: string): { transport: Transport; clock: RunClock } {
  const clock = new RunClock();
  return { transport: tapBatches(transport, group, () => clock.begin()), clock };
}

/** Worker options a scenario sets (the exactly-once protocol, pipelined steps); the rest are the defaults. */
type WorkerChoice = Pick<WorkerOptions, 'exactlyOnceV2' | 'pipelineSteps'>;

/** Runs one SDK app over the whole input, then probes latency with paced records. */
async function sdk(
  o: ThroughputOptions,
  transport: Transport,
  input: string,
  out: string,
  app: AppDefinition,
  group: string,
  profileName: string,
  choice: WorkerChoice = {},
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
    ...choice,
  });
  await profiled(o.profileDir, profileName, async () => {
    await worker.start();
    await waitCommitted(transport, group, input, target);
  });
  const timing = timed.clock.result(count(target));
  const seconds = timing.seconds;
  const stats = worker.appStats().get(app.name);
  const eos = app.options?.guarantee === 'exactly_once' && stats !== undefined && stats.transactions > 0;
  const transactions = eos
    ? {
        transactionsPerSec: Math.round(stats.transactions / seconds),
        stepsPerTransaction: Math.round((stats.steps / stats.transactions) * 100) / 100,
        exactlyOnce: (choice.exactlyOnceV2 ?? transport.exactlyOnceV2 === true) ? 'v2' : 'v1',
      }
    : {};
  const latency = await probe(o, transport, input, out);
  await worker.stop();
  return { ...timing, ...latency, ...transactions };
}

/** The send time a probe record carries in its value, handed on by the app's output (`{"probe":<ms>,...}`), or NaN. */
function probeTime(value: Buffer): number {
  if (value.length > 64 || value[0] !== 0x7b) return Number.NaN;
  try {
    return Number((JSON.parse(value.toString()) as { probe?: unknown }).probe);
  } catch {
    return Number.NaN;
  }
}

/** Produces `probeRecords` at about 1000/s and measures output time minus input time for each. */
async function probe(o: ThroughputOptions, transport: Transport, input: string, out: string) {
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
        value: Buffer.from(`{"probe":${Date.now()}}`),
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
        // The apps hand the probe's send time on in the output's value (the passthroughs the value itself).
        const sent = r.value === null ? Number.NaN : probeTime(r.value);
        if (Number.isFinite(sent)) seen.push(r.timestamp - sent);
      }
    },
  );
  seen.sort((a, b) => a - b);
  // An app that does not hand the probe on (countKeys) has no latency figures.
  if (seen.length === 0) return {};
  const q = (p: number) => seen[Math.min(seen.length - 1, Math.floor(p * seen.length))]!;
  return { p50Ms: q(0.5), p99Ms: q(0.99) };
}

const newTransport = (name: TransportName, o: ThroughputOptions, clientId: string): Transport =>
  benchTransport(name, o.brokers, clientId, o.logger);

/** The SDK scenarios, in the order they run (`--scenarios` takes a subset; `raw` always runs). */
export const THROUGHPUT_SCENARIOS = [
  'passthrough',
  'passthroughHeaders',
  'passthroughJson',
  'passthroughJsonHeaders',
  'countAtLeastOnce',
  'countKeys',
  'countExactlyOnce',
  'countExactlyOnceV1',
  'countExactlyOnceSerial',
] as const satisfies readonly (keyof Omit<TransportResults, 'raw'>)[];
type Scenario = (typeof THROUGHPUT_SCENARIOS)[number];

/** Scenario names given up on 2026-12-06, with what they are called now. */
const RENAMED_SCENARIOS: Readonly<Record<string, string>> = {
  passthroughLean: 'passthrough',
  passthroughBytes: 'passthroughHeaders',
};

/**
 * The error for a `--scenarios` list naming something that is not a scenario, or `undefined` when all are. (The
 * names `passthrough` and `passthroughHeaders` stayed but changed meaning on 2026-12-06: they are the bytes apps now.)
 */
export function scenariosError(names: readonly string[]): string | undefined {
  for (const n of names) {
    if ((THROUGHPUT_SCENARIOS as readonly string[]).includes(n)) continue;
    const now = RENAMED_SCENARIOS[n];
    return now === undefined
      ? `--scenarios: unknown scenario "${n}"; the scenarios are ${THROUGHPUT_SCENARIOS.join(', ')}`
      : `--scenarios: "${n}" is called "${now}" since 2026-12-06; the scenarios are ${THROUGHPUT_SCENARIOS.join(', ')}`;
  }
  return undefined;
}

/** Every scenario of every client on one input; scenarios alternate between the clients. */
export async function runThroughput(o: ThroughputOptions): Promise<Record<string, TransportResults>> {
  const names = o.transports ?? (['kafkajs', 'platformatic'] as const);
  const transports = new Map(names.map((n) => [n, newTransport(n, o, `bench-${n}`)] as const));
  const seeder = transports.get(names[0]!)!;
  const id = Date.now().toString(36);
  const input = `bench-${id}-in`;
  const admin = await seeder.admin();
  await admin.createTopics([{ name: input, partitions: o.partitions }]);
  const producer = seeder.producer({ clientId: 'bench-seed' });
  await producer.connect();
  const pad = 'x'.repeat(Math.max(0, o.valueBytes - 30));
  const priority = Buffer.from('normal');
  for (let i = 0; i < o.records; i += 5000) {
    const batch: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(o.records, i + 5000); j++) {
      const now = Date.now();
      batch.push({
        topic: input,
        key: Buffer.from(`k${j % o.keys}`),
        value: Buffer.from(`{"seq":${j},"pad":"${pad}"}`),
        ...(o.hopHeaders === true
          ? {
              headers: {
                'dirigo-ingest': Buffer.from(String(now)),
                'dirigo-deadline': Buffer.from(String(now + 500)),
                'dirigo-priority': priority,
              },
            }
          : {}),
      });
    }
    await producer.send(batch);
  }
  await producer.disconnect();
  o.logger.info({ input, records: o.records }, 'bench: input seeded');
  const want = (scenario: string) => o.scenarios === undefined || o.scenarios.includes(scenario);
  const rounds: Record<string, TransportResults>[] = [];
  try {
    for (let round = 0; round < (o.rounds ?? 1); round++) {
      rounds.push(await oneRound(round === 0 ? id : `${id}-r${round}`));
    }
  } finally {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`bench-${id}`));
    await admin.deleteTopics(topics).catch(() => {});
    for (const t of transports.values()) await t.close();
  }
  return rounds.length === 1 ? rounds[0]! : medianRound(rounds);

  /** The raw loops and every scenario once, their topics and groups named after `id`. */
  async function oneRound(id: string): Promise<Record<string, TransportResults>> {
    const results: Record<string, TransportResults> = {};
    for (const [name, transport] of transports) {
      results[name] = { raw: await raw(o, name, transport, input, id) };
      o.logger.info(results[name]!.raw, `bench: ${name} raw`);
    }
    // Every scenario's group, app and worker choice, keyed by name: the compiler holds this to THROUGHPUT_SCENARIOS.
    const scenarios: Record<Scenario, [string, (ns: string, out: string) => AppDefinition, WorkerChoice?]> = {
      passthrough: ['passthrough.pass', (ns, out) => passthroughBytesApp(ns, input, out, true)],
      passthroughHeaders: ['passthrough.pass', (ns, out) => passthroughBytesApp(ns, input, out)],
      passthroughJson: ['passthrough.pass', (ns, out) => passthroughApp(ns, input, out)],
      passthroughJsonHeaders: ['passthrough.pass', (ns, out) => passthroughApp(ns, input, out, true)],
      countAtLeastOnce: ['count.count', (ns, out) => countApp(ns, input, out, 'at_least_once')],
      countKeys: ['count.count', (ns, out) => countApp(ns, input, out, 'at_least_once', undefined, 'bytes')],
      countExactlyOnce: ['count.count', (ns, out) => countApp(ns, input, out, 'exactly_once')],
      countExactlyOnceV1: [
        'count.count',
        (ns, out) => countApp(ns, input, out, 'exactly_once'),
        { exactlyOnceV2: false },
      ],
      countExactlyOnceSerial: [
        'count.count',
        (ns, out) => countApp(ns, input, out, 'exactly_once'),
        { pipelineSteps: false },
      ],
    };

    for (const scenario of THROUGHPUT_SCENARIOS) {
      if (!want(scenario)) continue;
      const [group, app, choice] = scenarios[scenario];
      for (const [name, transport] of transports) {
        // The v1 comparison only where the default is v2.
        if (choice?.exactlyOnceV2 === false && transport.exactlyOnceV2 !== true) continue;
        const ns = `bench-${id}-${name}-${scenario}`;
        const out = `${ns}-out`;
        results[name]![scenario] = await sdk(
          o,
          transport,
          input,
          out,
          app(ns, out),
          `${ns}.${group}`,
          `${name}-${scenario}`,
          choice,
        );
        o.logger.info(results[name]![scenario], `bench: ${name} ${scenario}`);
      }
    }
    return results;
  }
}

/**
 * Several rounds as one result: per client and scenario, the median round's figures (by records/s; the lower
 * middle of an even count), every round's records/s, and the median of the rounds' ratios to their raw loop.
 */
export function medianRound(
  rounds: readonly Record<string, TransportResults>[],
): Record<string, TransportResults> {
  const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const out: Record<string, TransportResults> = {};
  for (const name of Object.keys(rounds[0]!)) {
    const merged: Record<string, ScenarioResult> = {};
    for (const key of Object.keys(rounds[0]![name]!)) {
      const each = rounds.map((r) => (r[name] as unknown as Record<string, ScenarioResult>)[key]!);
      const rates = each.map((e) => e.recordsPerSec);
      const mid = median(rates);
      const ratios = rounds.map((r, i) => rates[i]! / r[name]!.raw.recordsPerSec);
      merged[key] = {
        ...each.find((e) => e.recordsPerSec === mid)!,
        roundsRecordsPerSec: rates,
        ratioToRaw: Math.round(median(ratios) * 1000) / 1000,
      };
    }
    out[name] = merged as unknown as TransportResults;
  }
  return out;
}
