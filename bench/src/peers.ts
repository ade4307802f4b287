// Peers benchmark: Dirigo, Apache Kafka Streams 4.2 and Quix Streams 3.28 (Python) doing the same work on the same
// broker, same input, same run, one thread each: a keyed count (state in memory, changelogged, every update sent
// downstream) at-least-once and exactly-once, the same count with the state in a persistent store (Dirigo: LMDB;
// Kafka Streams and Quix Streams: RocksDB), and a stateless passthrough. Each side is a process of its own (a Dirigo
// worker, bench/src/peers/dirigo-peer.ts; a Kafka Streams app, bench/peers/kafka-streams, built here with Maven; a
// Quix Streams app, bench/peers/quix-streams/peer.py, in a venv built here with pip; both cached under
// .cache/peers), so its CPU time is read from /proc; `sides` picks which of the three run. Every run reads the whole
// input: `warmupRecords` first, not measured (JIT warm-up, group join, state creation), then `records`, timed from
// the moment the group's committed offsets pass the warm-up records on every partition to the moment they reach the
// end.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Admin, type Logger, type OutgoingRecord, partitionFor, type Transport } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { PlatformaticTransport } from '@dirigo/platformatic';
import { processCpuSeconds, type ThreadUse, threadTicks, threadUse } from './proc-cpu.ts';
import type { TransportName } from './throughput.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const peerSources = join(repoRoot, 'bench', 'peers', 'kafka-streams');
const quixSources = join(repoRoot, 'bench', 'peers', 'quix-streams');

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
  /**
   * How the Dirigo side reads values: `bytes` (default) undecoded, as the Kafka Streams and Quix Streams peers do
   * (`Serdes.Bytes()`, `value_deserializer="bytes"`); `json` decoded and encoded as JSON (the only way before
   * 2026-12-03), which is work the other sides do not do.
   */
  readonly dirigoValues?: DirigoValues;
  /** Bound of one run, ms. */
  readonly runTimeoutMs: number;
  /** The sides to run (default: all three); a side not run is absent from the result, and so are its ratios. */
  readonly sides?: readonly Side[];
  /**
   * Runs of every side and scenario (default 1). With more, each figure is the median of the runs and each ratio
   * the median of the runs' ratios (run r of one side over run r of the other, made next to each other), and every
   * run is kept in `samples`.
   */
  readonly repeats?: number;
  readonly logger: Logger;
}

export interface SideResult {
  recordsPerSec: number;
  cpuSecondsPerMillion: number;
  /** Measured interval. */
  seconds: number;
  /** From the process start until the warm-up records were committed. */
  warmupSeconds: number;
  /** Cores the process kept busy on average over the measured interval (all its threads: CPU seconds / seconds). */
  cores: number;
  /**
   * Its busiest thread over the measured interval: a Dirigo worker's JavaScript thread, Kafka Streams' stream thread
   * or a JIT compiler thread. `cores`: the share of the interval it ran; `waiting`: the share it was ready to run but
   * waited for a CPU (absent where the kernel keeps no schedstat). `cores` + `waiting` near 1 is a thread that always
   * had work: the process is bound by that thread and by what else wants the machine's cores. Absent where no
   * thread could be read.
   */
  busiestThread?: { name: string; cores: number; waiting?: number };
  /** With `repeats` > 1: every run, in order (the figures above are their medians). */
  samples?: SideResult[];
}

export type DirigoValues = 'bytes' | 'json';
export type Scenario = 'alo' | 'eos' | 'aloPersistent' | 'eosPersistent' | 'passthrough';
const SCENARIOS: readonly Scenario[] = ['alo', 'eos', 'aloPersistent', 'eosPersistent', 'passthrough'];
export type Side = 'dirigo' | 'kafkaStreams' | 'quixStreams';
/** Also the base order of the runs: each scenario starts one further along it (see runPeers). */
export const SIDES: readonly Side[] = ['kafkaStreams', 'dirigo', 'quixStreams'];

export interface PeersResult {
  records: number;
  warmupRecords: number;
  partitions: number;
  /** Runs of every side and scenario (see PeersOptions.repeats); absent: 1. */
  repeats?: number;
  transport: TransportName;
  /** How the Dirigo side read values (see PeersOptions.dirigoValues). */
  dirigoValues: DirigoValues;
  dirigo?: Record<Scenario, SideResult>;
  kafkaStreams?: Record<Scenario, SideResult>;
  /** The in-memory scenarios on Quix Streams' MemoryStore, the persistent ones on its RocksDB store. */
  quixStreams?: Record<Scenario, SideResult>;
  /** Dirigo's records/s over Kafka Streams'. */
  ratio?: Record<Scenario, number>;
  /** Dirigo's CPU-seconds per million records over Kafka Streams'. */
  cpuRatio?: Record<Scenario, number>;
  /** Dirigo's records/s over Quix Streams'. */
  ratioQuix?: Record<Scenario, number>;
  /** Dirigo's CPU-seconds per million records over Quix Streams'. */
  cpuRatioQuix?: Record<Scenario, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A peer's build directory under .cache/peers/<peer>/: one per version of `files` (their paths and contents). */
function buildDir(peer: string, files: readonly string[], leaf: string): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(readFileSync(f));
  return join(repoRoot, '.cache', 'peers', peer, hash.digest('hex').slice(0, 12), leaf);
}

/** Builds the Kafka Streams peer with Maven once per version of its sources; returns its class path. */
export function buildStreamsPeer(logger: Logger): string {
  const files = [join(peerSources, 'pom.xml'), ...javaFiles(join(peerSources, 'src', 'main', 'java'))].sort();
  const dir = buildDir('kafka-streams', files, 'build');
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

/** Quix Streams 3.28 needs Python 3.11 or later. */
const QUIX_MIN_PYTHON = [3, 11] as const;

/**
 * Builds the Quix Streams peer's venv with pip once per version of requirements.txt and peer.py; returns the venv's
 * python. Fails with the cause and the way around it (running without the side) when python3 or pip fails.
 */
export function buildQuixPeer(logger: Logger): string {
  const venv = buildDir(
    'quix-streams',
    [join(quixSources, 'requirements.txt'), join(quixSources, 'peer.py')],
    'venv',
  );
  const python = join(venv, 'bin', 'python');
  // Written last: a venv without it is a build that failed half-way, and is built again.
  const done = join(venv, '.dirigo-installed');
  if (existsSync(done)) return python;
  const skip = 'or run the bench without this side: --sides dirigo,kafkaStreams';
  let version: string;
  try {
    version = execFileSync('python3', ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 2],
    }).trim();
  } catch (e) {
    throw new Error(
      `bench: the Quix Streams peer needs python3 (${QUIX_MIN_PYTHON.join('.')} or later) on the PATH, and running it failed (${(e as Error).message}); install Python ${QUIX_MIN_PYTHON.join('.')}+ with its venv module, ${skip}`,
    );
  }
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < QUIX_MIN_PYTHON[0] || (major === QUIX_MIN_PYTHON[0] && minor < QUIX_MIN_PYTHON[1])) {
    throw new Error(
      `bench: the Quix Streams peer (quixstreams 3.28) needs Python ${QUIX_MIN_PYTHON.join('.')} or later, python3 is ${version}; put a newer python3 first on the PATH, ${skip}`,
    );
  }
  logger.warn(
    { venv, python: version },
    'bench: building the Quix Streams peer with pip (once per version of requirements.txt and peer.py)',
  );
  rmSync(venv, { recursive: true, force: true });
  const step = (what: string, file: string, args: string[]) => {
    try {
      // pip's output goes to stderr: stdout carries the benchmark's result.
      execFileSync(file, args, { stdio: ['ignore', 2, 2] });
    } catch (e) {
      throw new Error(
        `bench: building the Quix Streams peer failed at ${what} (${(e as Error).message}; pip's output is above, on stderr); fix that (Python's venv module, e.g. the python3-venv package, and access to PyPI), ${skip}`,
      );
    }
  };
  step('`python3 -m venv`', 'python3', ['-m', 'venv', venv]);
  step('`pip install -r bench/peers/quix-streams/requirements.txt`', python, [
    '-m',
    'pip',
    'install',
    '--disable-pip-version-check',
    '--no-input',
    '-r',
    join(quixSources, 'requirements.txt'),
  ]);
  writeFileSync(done, `${version}\n`);
  return python;
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
  const sides = SIDES.filter((s) => (o.sides ?? SIDES).includes(s));
  if (sides.length === 0) throw new Error('bench: peers needs at least one side');
  // Both builds before any topic is made: a failed build stops the bench at once.
  const classPath = sides.includes('kafkaStreams') ? buildStreamsPeer(o.logger) : '';
  const quixPython = sides.includes('quixStreams') ? buildQuixPeer(o.logger) : '';
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
    const run = async (side: Side, scenario: Scenario, repeat: number): Promise<SideResult> => {
      const nth = repeat === 0 ? '' : `-${repeat + 1}`;
      const tag = `${side}-${scenario}${nth}`;
      const name = `${id}-${{ dirigo: 'd', kafkaStreams: 'ks', quixStreams: 'qs' }[side]}-${scenario}${nth}`;
      const out = `${name}-out`;
      await admin.createTopics([{ name: out, partitions: o.partitions }]);
      const persistent = scenario === 'aloPersistent' || scenario === 'eosPersistent';
      const exactlyOnce = scenario === 'eos' || scenario === 'eosPersistent';
      const mode = scenario === 'passthrough' ? 'passthrough' : persistent ? 'count-persistent' : 'count';
      // A fresh store directory per run (removed with the run's logs' parent: .cache/peers/state/<run>).
      const stateDir = join(repoRoot, '.cache', 'peers', 'state', id, tag);
      const log = openSync(join(logDir, `${tag}.log`), 'a');
      let child: ChildProcess;
      let group: string;
      // The JVM and Python peers take the same arguments; only the spelling of the guarantee differs.
      const peerArgs = (guarantee: string) => [mode, guarantee, o.brokers, name, input, out, stateDir];
      if (side === 'kafkaStreams') {
        group = name;
        child = spawn(
          'java',
          [
            '-Xmx512m',
            '-cp',
            classPath,
            'dirigo.peers.StreamsPeer',
            ...peerArgs(exactlyOnce ? 'exactly_once_v2' : 'at_least_once'),
          ],
          { stdio: ['ignore', log, log] },
        );
      } else if (side === 'quixStreams') {
        // Quix Streams' consumer group is the name; its changelog topic is changelog__<name>--<input>--default.
        group = name;
        child = spawn(
          quixPython,
          [join(quixSources, 'peer.py'), ...peerArgs(exactlyOnce ? 'exactly_once' : 'at_least_once')],
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
            PEER_VALUES: o.dirigoValues ?? 'bytes',
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
        const cpu0 = processCpuSeconds(child.pid!);
        const threads0 = threadTicks(child.pid!);
        const warmupSeconds = (Date.now() - started) / 1000;
        if (!(await committedPast(admin, group, input, end, deadline, child))) {
          throw new Error(`${side} ${scenario}: input not committed in time (log: ${logDir})`);
        }
        const seconds = (performance.now() - t0) / 1000;
        const cpu = processCpuSeconds(child.pid!) - cpu0;
        const threads = threadUse(threads0, threadTicks(child.pid!), seconds);
        const result: SideResult = {
          recordsPerSec: Math.round(o.records / seconds),
          cpuSecondsPerMillion: Number(((cpu / o.records) * 1e6).toFixed(2)),
          seconds: Number(seconds.toFixed(2)),
          warmupSeconds: Number(warmupSeconds.toFixed(2)),
          cores: round2(cpu / seconds),
          ...(threads[0] === undefined ? {} : { busiestThread: busiest(threads[0]) }),
        };
        const top = threads
          .slice(0, 4)
          .map(
            (t) =>
              `${t.name} ${t.cores.toFixed(2)}${t.waiting === undefined ? '' : ` (waiting ${t.waiting.toFixed(2)})`}`,
          )
          .join(', ');
        process.stderr.write(
          `bench: peers ${tag}: ${JSON.stringify(result)} (busiest threads, cores busy and waiting for a CPU: ${top})\n`,
        );
        return result;
      } finally {
        await stop(child);
      }
    };
    const repeats = o.repeats ?? 1;
    const runs: Partial<Record<Side, Record<Scenario, SideResult[]>>> = {};
    for (const side of sides) {
      runs[side] = Object.fromEntries(SCENARIOS.map((s) => [s, [] as SideResult[]])) as Record<
        Scenario,
        SideResult[]
      >;
    }
    // Rotate which side goes first, so that drift of the machine's load hits all alike: scenario i of repeat r runs
    // the sides from position i + r of the order (two sides: they alternate, Kafka Streams first in `alo`).
    for (let r = 0; r < repeats; r++) {
      for (const [i, scenario] of SCENARIOS.entries()) {
        for (let j = 0; j < sides.length; j++) {
          const side = sides[(i + r + j) % sides.length]!;
          runs[side]![scenario].push(await run(side, scenario, r));
        }
      }
    }
    const results: Partial<Record<Side, Record<Scenario, SideResult>>> = {};
    for (const side of sides) {
      const per = runs[side]!;
      results[side] = Object.fromEntries(
        SCENARIOS.map((s) => [s, repeats === 1 ? per[s][0]! : medianResult(per[s])]),
      ) as Record<Scenario, SideResult>;
    }
    const ratioOf = (
      a: Record<Scenario, SideResult[]> | undefined,
      b: Record<Scenario, SideResult[]> | undefined,
      f: (r: SideResult) => number,
    ): Record<Scenario, number> | undefined => {
      if (a === undefined || b === undefined) return undefined;
      const ratios = SCENARIOS.map((s) => [
        s,
        Number(median(a[s].map((x, r) => f(x) / f(b[s][r]!))).toFixed(3)),
      ]);
      return Object.fromEntries(ratios) as Record<Scenario, number>;
    };
    const { dirigo, kafkaStreams, quixStreams } = results;
    const rate = (r: SideResult) => r.recordsPerSec;
    const cpu = (r: SideResult) => r.cpuSecondsPerMillion;
    const d = runs.dirigo;
    // The keys that predate the Quix Streams side come first, in their old order; a side not run and its ratios are
    // left out (JSON.stringify drops undefined values).
    return {
      records: o.records,
      warmupRecords: o.warmupRecords,
      partitions: o.partitions,
      ...(repeats === 1 ? {} : { repeats }),
      transport: o.transport,
      dirigoValues: o.dirigoValues ?? 'bytes',
      dirigo,
      kafkaStreams,
      ratio: ratioOf(d, runs.kafkaStreams, rate),
      cpuRatio: ratioOf(d, runs.kafkaStreams, cpu),
      quixStreams,
      ratioQuix: ratioOf(d, runs.quixStreams, rate),
      cpuRatioQuix: ratioOf(d, runs.quixStreams, cpu),
    };
  } finally {
    rmSync(join(repoRoot, '.cache', 'peers', 'state', id), { recursive: true, force: true });
    // Kafka Streams' internal topics start with the run's id, Quix Streams' (changelog__<group>--...) contain it.
    const topics = (await admin.listTopics()).filter((t) => t.includes(id));
    await admin.deleteTopics(topics).catch(() => {});
    await admin.close();
    await transport.close();
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** A thread's use as a result reports it (two decimals). */
const busiest = (t: ThreadUse): NonNullable<SideResult['busiestThread']> =>
  t.waiting === undefined
    ? { name: t.name, cores: round2(t.cores) }
    : { name: t.name, cores: round2(t.cores), waiting: round2(t.waiting) };

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs of one side and scenario as one result: the median of each figure, and the runs as `samples`. */
export function medianResult(runs: readonly SideResult[]): SideResult {
  const of = (f: (r: SideResult) => number) => median(runs.map(f));
  return {
    recordsPerSec: Math.round(of((r) => r.recordsPerSec)),
    cpuSecondsPerMillion: Number(of((r) => r.cpuSecondsPerMillion).toFixed(2)),
    seconds: Number(of((r) => r.seconds).toFixed(2)),
    warmupSeconds: Number(of((r) => r.warmupSeconds).toFixed(2)),
    cores: round2(of((r) => r.cores)),
    ...busiestOf(runs),
    samples: [...runs],
  };
}

/**
 * The busiest thread of runs: the name most of them had (the first run's on a tie), and the medians of the runs'
 * busiest-thread cores and waits.
 */
function busiestOf(runs: readonly SideResult[]): Pick<SideResult, 'busiestThread'> {
  const named = runs.flatMap((r) => (r.busiestThread === undefined ? [] : [r.busiestThread]));
  if (named.length === 0) return {};
  const counts = new Map<string, number>();
  for (const t of named) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  const name = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
  const cores = round2(median(named.map((t) => t.cores)));
  const waits = named.flatMap((t) => (t.waiting === undefined ? [] : [t.waiting]));
  return {
    busiestThread:
      waits.length === named.length ? { name, cores, waiting: round2(median(waits)) } : { name, cores },
  };
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
