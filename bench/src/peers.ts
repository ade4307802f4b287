// Peers benchmark: Dirigo and Apache Kafka Streams 4.2 doing the same work on the same broker, same input, same
// run, one thread each: a keyed count (state in memory, changelogged, every update sent downstream) at-least-once
// and exactly-once, the same count with the state in a persistent store (Dirigo: LMDB; Kafka Streams: RocksDB),
// and a stateless passthrough. Each side is a process of its own (a Dirigo worker,
// bench/src/peers/dirigo-peer.ts; a Kafka Streams app, bench/peers/kafka-streams, built here with Maven and cached
// under .cache/peers), so its CPU time is read from /proc. Every run reads the whole input: `warmupRecords` first,
// not measured (JIT warm-up, group join, state creation), then `records`, timed from the moment the group's
// committed offsets pass the warm-up records on every partition to the moment they reach the end.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Admin, type Logger, type OutgoingRecord, partitionFor, type Transport } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { PlatformaticTransport } from '@dirigo/platformatic';
import type { TransportName } from './throughput.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const peerSources = join(repoRoot, 'bench', 'peers', 'kafka-streams');

export interface PeersOptions {
  readonly brokers: string;
  /** Records measured per run (after the warm-up records). */
  readonly records: number;
  readonly warmupRecords: number;
  readonly partitions: number;
  readonly keys: number;
  readonly valueBytes: number;
  /** The Dirigo side's Kafka client. */
  readonly transport: TransportName;
  /** Bound of one run, ms. */
  readonly runTimeoutMs: number;
  readonly logger: Logger;
}

export interface SideResult {
  recordsPerSec: number;
  cpuSecondsPerMillion: number;
  /** Measured interval. */
  seconds: number;
  /** From the process start until the warm-up records were committed. */
  warmupSeconds: number;
}

export type Scenario = 'alo' | 'eos' | 'aloPersistent' | 'eosPersistent' | 'passthrough';
const SCENARIOS: readonly Scenario[] = ['alo', 'eos', 'aloPersistent', 'eosPersistent', 'passthrough'];
type Side = 'dirigo' | 'kafkaStreams';

export interface PeersResult {
  records: number;
  warmupRecords: number;
  partitions: number;
  transport: TransportName;
  dirigo: Record<Scenario, SideResult>;
  kafkaStreams: Record<Scenario, SideResult>;
  /** Dirigo's records/s over Kafka Streams'. */
  ratio: Record<Scenario, number>;
  /** Dirigo's CPU-seconds per million records over Kafka Streams'. */
  cpuRatio: Record<Scenario, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds the Kafka Streams peer with Maven once per version of its sources; returns its class path. */
export function buildStreamsPeer(logger: Logger): string {
  const files = [join(peerSources, 'pom.xml'), ...javaFiles(join(peerSources, 'src', 'main', 'java'))].sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(readFileSync(f));
  const dir = join(repoRoot, '.cache', 'peers', 'kafka-streams', hash.digest('hex').slice(0, 12), 'build');
  const jar = join(dir, 'kafka-streams-peer-0.1.0.jar');
  if (!existsSync(jar)) {
    logger.warn(
      { dir },
      'bench: building the Kafka Streams peer with Maven (once per version of its sources)',
    );
    // Maven's output goes to stderr: stdout carries the benchmark's result.
    execFileSync(
      'mvn',
      ['-q', '-B', '-f', join(peerSources, 'pom.xml'), 'package', `-Dpeer.build.dir=${dir}`],
      {
        stdio: ['ignore', 2, 2],
      },
    );
  }
  return `${jar}:${join(dir, 'lib', '*')}`;
}

function javaFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...javaFiles(p));
    else if (e.name.endsWith('.java')) out.push(p);
  }
  return out;
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function newTransport(name: TransportName, brokers: string, logger: Logger): Transport {
  const list = brokers.split(',');
  return name === 'kafkajs'
    ? new KafkajsTransport({ brokers: list, clientId: 'bench-peers', logger })
    : new PlatformaticTransport({ brokers: list, clientId: 'bench-peers', logger });
}

/** Waits until the group has committed at least `target` on every partition; false after `deadline`. */
async function committedPast(
  admin: Admin,
  group: string,
  topic: string,
  target: readonly number[],
  deadline: number,
  child: ChildProcess,
): Promise<boolean> {
  for (;;) {
    const committed = await admin.fetchCommittedOffsets(group, topic).catch(() => []);
    if (target.every((t, p) => (committed.find((c) => c.partition === p)?.offset ?? -1) >= t)) return true;
    if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) return false;
    await sleep(50);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

export async function runPeers(o: PeersOptions): Promise<PeersResult> {
  const classPath = buildStreamsPeer(o.logger);
  const transport = newTransport(o.transport, o.brokers, o.logger);
  const admin = await transport.admin();
  const id = `peers-${Date.now().toString(36)}`;
  const input = `${id}-in`;
  const logDir = join(repoRoot, '.cache', 'peers', 'logs', id);
  mkdirSync(logDir, { recursive: true });
  try {
    await admin.createTopics([{ name: input, partitions: o.partitions }]);
    const warm = await seed(o, transport, input);
    const end = (await admin.fetchTopicOffsets(input))
      .sort((a, b) => a.partition - b.partition)
      .map((p) => p.high);
    process.stderr.write(
      `bench: peers input ${input}: ${o.warmupRecords} warm-up + ${o.records} measured records; logs in ${logDir}\n`,
    );
    const run = async (side: Side, scenario: Scenario): Promise<SideResult> => {
      const name = `${id}-${side === 'dirigo' ? 'd' : 'ks'}-${scenario}`;
      const out = `${name}-out`;
      await admin.createTopics([{ name: out, partitions: o.partitions }]);
      const persistent = scenario === 'aloPersistent' || scenario === 'eosPersistent';
      const exactlyOnce = scenario === 'eos' || scenario === 'eosPersistent';
      const mode = scenario === 'passthrough' ? 'passthrough' : persistent ? 'count-persistent' : 'count';
      // A fresh store directory per run (removed with the run's logs' parent: .cache/peers/state/<run>).
      const stateDir = join(repoRoot, '.cache', 'peers', 'state', id, `${side}-${scenario}`);
      const log = openSync(join(logDir, `${side}-${scenario}.log`), 'a');
      let child: ChildProcess;
      let group: string;
      if (side === 'kafkaStreams') {
        group = name;
        const guarantee = exactlyOnce ? 'exactly_once_v2' : 'at_least_once';
        child = spawn(
          'java',
          [
            '-Xmx512m',
            '-cp',
            classPath,
            'dirigo.peers.StreamsPeer',
            mode,
            guarantee,
            o.brokers,
            name,
            input,
            out,
            stateDir,
          ],
          { stdio: ['ignore', log, log] },
        );
      } else {
        group = mode === 'passthrough' ? `${name}.passthrough.pass` : `${name}.count.count`;
        mkdirSync(stateDir, { recursive: true });
        child = spawn(process.execPath, ['--conditions=source', join(here, 'peers', 'dirigo-peer.ts')], {
          stdio: ['ignore', log, log],
          env: {
            ...process.env,
            PEER_BROKERS: o.brokers,
            PEER_TRANSPORT: o.transport,
            PEER_NS: name,
            PEER_INPUT: input,
            PEER_OUTPUT: out,
            PEER_MODE: mode,
            PEER_GUARANTEE: exactlyOnce ? 'exactly_once' : 'at_least_once',
            PEER_PARTITIONS: String(o.partitions),
            PEER_STATE_DIR: stateDir,
          },
        });
      }
      closeSync(log);
      const started = Date.now();
      try {
        const deadline = started + o.runTimeoutMs;
        if (!(await committedPast(admin, group, input, warm, deadline, child))) {
          throw new Error(`${side} ${scenario}: warm-up records not committed in time (log: ${logDir})`);
        }
        const t0 = performance.now();
        const cpu0 = cpuSeconds(child.pid!);
        const warmupSeconds = (Date.now() - started) / 1000;
        if (!(await committedPast(admin, group, input, end, deadline, child))) {
          throw new Error(`${side} ${scenario}: input not committed in time (log: ${logDir})`);
        }
        const seconds = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds(child.pid!) - cpu0;
        const result = {
          recordsPerSec: Math.round(o.records / seconds),
          cpuSecondsPerMillion: Number(((cpu / o.records) * 1e6).toFixed(2)),
          seconds: Number(seconds.toFixed(2)),
          warmupSeconds: Number(warmupSeconds.toFixed(2)),
        };
        process.stderr.write(`bench: peers ${side} ${scenario}: ${JSON.stringify(result)}\n`);
        return result;
      } finally {
        await stop(child);
      }
    };
    const dirigo = {} as Record<Scenario, SideResult>;
    const kafkaStreams = {} as Record<Scenario, SideResult>;
    // Alternate which side goes first, so that drift of the machine's load hits both alike.
    for (const [scenario, first] of [
      ['alo', 'kafkaStreams'],
      ['eos', 'dirigo'],
      ['aloPersistent', 'kafkaStreams'],
      ['eosPersistent', 'dirigo'],
      ['passthrough', 'kafkaStreams'],
    ] as const) {
      for (const side of first === 'dirigo'
        ? (['dirigo', 'kafkaStreams'] as const)
        : (['kafkaStreams', 'dirigo'] as const)) {
        (side === 'dirigo' ? dirigo : kafkaStreams)[scenario] = await run(side, scenario);
      }
    }
    const ratioOf = (f: (r: SideResult) => number) =>
      Object.fromEntries(
        SCENARIOS.map((s) => [s, Number((f(dirigo[s]) / f(kafkaStreams[s])).toFixed(3))]),
      ) as Record<Scenario, number>;
    return {
      records: o.records,
      warmupRecords: o.warmupRecords,
      partitions: o.partitions,
      transport: o.transport,
      dirigo,
      kafkaStreams,
      ratio: ratioOf((r) => r.recordsPerSec),
      cpuRatio: ratioOf((r) => r.cpuSecondsPerMillion),
    };
  } finally {
    rmSync(join(repoRoot, '.cache', 'peers', 'state', id), { recursive: true, force: true });
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(id));
    await admin.deleteTopics(topics).catch(() => {});
    await admin.close();
    await transport.close();
  }
}

/** Seeds the input; returns, per partition, the offset where the warm-up records end. */
async function seed(o: PeersOptions, transport: Transport, input: string): Promise<number[]> {
  const warm = Array.from({ length: o.partitions }, () => 0);
  const producer = transport.producer({ clientId: 'bench-peers-seed' });
  await producer.connect();
  const pad = 'x'.repeat(Math.max(0, o.valueBytes - 30));
  const total = o.warmupRecords + o.records;
  for (let i = 0; i < total; i += 5000) {
    const batch: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(total, i + 5000); j++) {
      const key = Buffer.from(`k${j % o.keys}`);
      if (j < o.warmupRecords) warm[partitionFor(key, o.partitions)]!++;
      batch.push({ topic: input, key, value: Buffer.from(`{"seq":${j},"pad":"${pad}"}`) });
    }
    await producer.send(batch);
  }
  await producer.disconnect();
  return warm;
}
