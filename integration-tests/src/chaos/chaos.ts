// The chaos run: N worker processes of the keyed-counter app on a real broker, fed keyed records while
// workers are SIGKILLed and restarted at random moments and one is SIGSTOPped past its session timeout and
// resumed. Afterwards an independent tracker (what the feeder knows it sent) is compared with the committed
// output (read_committed) and the final state in the changelog.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger, Transport } from '@dirigo/core';
import { decodeChangelogKey } from '@dirigo/runtime';
import type { ChaosOutput } from './chaos-app.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');

export interface ChaosOptions {
  readonly transport: Transport;
  readonly brokers: string;
  readonly guarantee: 'exactly_once' | 'at_least_once';
  readonly records: number;
  readonly keys: number;
  readonly workers: number;
  readonly kills: number;
  readonly pauses: number;
  readonly partitions: number;
  /** How long feeding takes (ms): kills and pauses happen during and shortly after it. */
  readonly feedMs: number;
  readonly sessionTimeoutMs: number;
  readonly timeoutMs: number;
  readonly random: () => number;
  readonly logger: Logger;
}

export interface ChaosResult {
  mode: string;
  sent: number;
  lost: number;
  duplicated: number;
  stateMismatches: number;
  kills: number;
  pauses: number;
  /** Extra facts, not part of the JSON contract's required keys. */
  outputs: number;
  elapsedMs: number;
  logDir: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class WorkerProcs {
  private readonly procs: (ChildProcess | undefined)[] = [];
  private restarts = 0;
  private readonly count: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly brokers: string;
  private readonly sessionTimeoutMs: number;
  private readonly logDir: string;
  constructor(
    count: number,
    env: NodeJS.ProcessEnv,
    brokers: string,
    sessionTimeoutMs: number,
    logDir: string,
  ) {
    this.count = count;
    this.env = env;
    this.brokers = brokers;
    this.sessionTimeoutMs = sessionTimeoutMs;
    this.logDir = logDir;
  }

  start(i: number): void {
    const log = openSync(join(this.logDir, `worker-${i}.${this.restarts++}.log`), 'a');
    const p = spawn(
      process.execPath,
      [
        '--conditions=source',
        join(repo, 'sdk/runtime/src/cli.ts'),
        'worker',
        join(here, 'chaos-app.ts'),
        '--brokers',
        this.brokers,
        '--worker-id',
        `chaos-w${i}`,
        '--session-timeout-ms',
        String(this.sessionTimeoutMs),
      ],
      { env: { ...process.env, ...this.env, DIRIGO_LOG_LEVEL: 'info' }, stdio: ['ignore', log, log] },
    );
    this.procs[i] = p;
  }

  startAll(): void {
    for (let i = 0; i < this.count; i++) this.start(i);
  }

  signal(i: number, sig: NodeJS.Signals): void {
    this.procs[i]?.kill(sig);
  }

  async kill(i: number): Promise<void> {
    const p = this.procs[i];
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGCONT');
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(t);
      }),
    );
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const id = `${Date.now().toString(36)}${Math.floor(o.random() * 1e6).toString(36)}`;
  const ns = `chaos-${id}`;
  const inTopic = `${ns}-in`;
  const outTopic = `${ns}-out`;
  const group = `${ns}.chaos.count`;
  const changelog = `${ns}.chaos.count.changelog`;
  const logDir = join(repo, '.cache', 'chaos', id);
  mkdirSync(logDir, { recursive: true });
  const admin = await o.transport.admin();
  await admin.createTopics([{ name: inTopic, partitions: o.partitions }]);

  const procs = new WorkerProcs(
    o.workers,
    { CHAOS_NS: ns, CHAOS_IN: inTopic, CHAOS_OUT: outTopic, CHAOS_GUARANTEE: o.guarantee },
    o.brokers,
    o.sessionTimeoutMs,
    logDir,
  );
  procs.startAll();
  o.logger.info({ ns, logDir }, 'chaos: workers started');

  // The independent tracker: what the feeder knows it sent (acknowledged by the broker).
  const expected = new Map<string, number>();
  let sent = 0;
  const feed = async () => {
    const producer = o.transport.producer({ clientId: 'chaos-feeder' });
    await producer.connect();
    const batch = 500;
    const batches = Math.ceil(o.records / batch);
    const pause = o.feedMs / batches;
    for (let b = 0; b < batches; b++) {
      const records = [];
      const keys: string[] = [];
      for (let i = b * batch; i < Math.min(o.records, (b + 1) * batch); i++) {
        const key = `k${Math.floor(o.random() * o.keys)}`;
        keys.push(key);
        records.push({
          topic: inTopic,
          key: Buffer.from(key),
          value: Buffer.from(JSON.stringify({ seq: i })),
        });
      }
      await producer.send(records);
      for (const k of keys) expected.set(k, (expected.get(k) ?? 0) + 1);
      sent += records.length;
      await sleep(pause);
    }
    await producer.disconnect();
  };

  let kills = 0;
  let pauses = 0;
  const chaos = async () => {
    const events: { at: number; kind: 'kill' | 'pause' }[] = [];
    const window = o.feedMs + 5_000;
    for (let i = 0; i < o.kills; i++) events.push({ at: 2_000 + o.random() * window, kind: 'kill' });
    for (let i = 0; i < o.pauses; i++) events.push({ at: 2_000 + o.random() * (window / 2), kind: 'pause' });
    events.sort((a, b) => a.at - b.at);
    const t0 = Date.now();
    const paused = new Set<number>();
    const pending: Promise<void>[] = [];
    for (const e of events) {
      await sleep(Math.max(0, t0 + e.at - Date.now()));
      const candidates = [...Array(o.workers).keys()].filter((i) => !paused.has(i));
      const w = candidates[Math.floor(o.random() * candidates.length)]!;
      if (e.kind === 'kill') {
        o.logger.info({ worker: w }, 'chaos: SIGKILL');
        await procs.kill(w);
        kills++;
        await sleep(500 + o.random() * 1500);
        procs.start(w);
      } else {
        o.logger.info({ worker: w, ms: o.sessionTimeoutMs + 4000 }, 'chaos: SIGSTOP');
        paused.add(w);
        procs.signal(w, 'SIGSTOP');
        pauses++;
        pending.push(
          sleep(o.sessionTimeoutMs + 4_000).then(() => {
            procs.signal(w, 'SIGCONT');
            paused.delete(w);
            o.logger.info({ worker: w }, 'chaos: SIGCONT');
          }),
        );
      }
    }
    await Promise.all(pending);
  };

  try {
    await Promise.all([feed(), chaos()]);
    // Wait until the group has committed everything the feeder wrote.
    const deadline = started + o.timeoutMs;
    for (;;) {
      const high = await admin.fetchTopicOffsets(inTopic);
      const committed = await admin.fetchCommittedOffsets(group, inTopic);
      const lag = high.reduce(
        (s, h) => s + h.high - Math.max(0, committed.find((c) => c.partition === h.partition)?.offset ?? 0),
        0,
      );
      if (lag === 0) break;
      if (Date.now() > deadline) {
        o.logger.error({ lag }, 'chaos: timed out waiting for the workers to catch up');
        break;
      }
      await sleep(500);
    }
  } finally {
    await procs.stopAll();
  }

  // Verify: committed outputs (read_committed) and the final state in the changelog.
  const seen = new Map<number, number>();
  let outputs = 0;
  const maxCount = new Map<string, number>();
  const outOffsets = await admin.fetchTopicOffsets(outTopic);
  await o.transport.readToEnd(
    outOffsets.map((p) => ({ topic: outTopic, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records) {
        const v = JSON.parse(r.value!.toString()) as ChaosOutput;
        outputs++;
        seen.set(v.seq, (seen.get(v.seq) ?? 0) + 1);
        if (v.count > (maxCount.get(v.key) ?? 0)) maxCount.set(v.key, v.count);
      }
    },
  );
  let lost = 0;
  let duplicated = 0;
  for (let s = 0; s < sent; s++) {
    const n = seen.get(s) ?? 0;
    if (n === 0) lost++;
    else duplicated += n - 1;
  }
  const finalState = new Map<string, number>();
  const clOffsets = await admin.fetchTopicOffsets(changelog);
  await o.transport.readToEnd(
    clOffsets.map((p) => ({ topic: changelog, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records) {
        const cell = decodeChangelogKey(r.key!);
        if (cell?.state !== 'count') continue;
        const key = cell.key;
        if (r.value === null) finalState.delete(key);
        else finalState.set(key, JSON.parse(r.value.toString()) as number);
      }
    },
  );
  let stateMismatches = 0;
  const exactly = o.guarantee === 'exactly_once';
  for (const [key, n] of expected) {
    const state = finalState.get(key);
    // At-least-once may count a replayed record twice; exactly-once must match exactly.
    if (state === undefined || (exactly ? state !== n : state < n)) stateMismatches++;
    if (exactly && maxCount.get(key) !== n) stateMismatches++;
  }
  for (const key of finalState.keys()) if (!expected.has(key)) stateMismatches++;
  await admin.deleteTopics([inTopic, outTopic, changelog, `${ns}.chaos.dlq`]).catch(() => {});
  return {
    mode: o.guarantee,
    sent,
    lost,
    duplicated,
    stateMismatches,
    kills,
    pauses,
    outputs,
    elapsedMs: Date.now() - started,
    logDir,
  };
}
