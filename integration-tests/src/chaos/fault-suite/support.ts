// What the fault cases share: spawned `dirigo worker` processes with their own log files, topics under a
// unique prefix (deleted afterwards), free ports, the machine's non-loopback address, and reading outputs.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger, Transport } from '@dirigo/core';
import { repoRoot } from '../procs.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const faultApp = join(here, 'fault-app.ts');
const cli = join(repoRoot, 'sdk/runtime/src/cli.ts');

/** One case's outcome, as printed. */
export interface FaultCaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly lost: number;
  readonly duplicated: number;
  readonly detail: string;
}

/** What a case gets from the suite. */
export interface FaultContext {
  readonly brokers: string;
  readonly transport: Transport;
  readonly logger: Logger;
  /** Where worker logs of this run go. */
  readonly logDir: string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A unique name for this run, safe for topics, groups and namespaces. */
export const unique = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** A spawned `dirigo worker`, its log (stdout and stderr) in a file. */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(child: ChildProcess, logPath: string) {
    this.child = child;
    this.logPath = logPath;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The exit, or undefined if it is still running after `ms`. */
  async waitExit(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.exited,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), ms);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  /** The JSON log lines. */
  lines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.log().split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    }
    return out;
  }

  hasLine(msgStart: string): boolean {
    return this.lines().some((l) => String(l.msg).startsWith(msgStart));
  }

  kill(): void {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
  }
}

/** Spawns and tracks worker processes; `killAll()` ends whatever is left. */
export class Spawner {
  private readonly procs: WorkerProcess[] = [];
  private n = 0;
  private readonly ctx: FaultContext;
  private readonly tag: string;
  constructor(ctx: FaultContext, tag: string) {
    this.ctx = ctx;
    this.tag = tag;
  }

  /** `dirigo worker fault-app.ts <args>` with `env` added; `brokers` false leaves --brokers out. */
  spawn(args: readonly string[], env: Record<string, string>, brokers = true): WorkerProcess {
    mkdirSync(this.ctx.logDir, { recursive: true });
    const logPath = join(this.ctx.logDir, `${this.tag}.${this.n++}.log`);
    const log = openSync(logPath, 'a');
    // Started directly (not through npm): no parent watch.
    const childEnv: NodeJS.ProcessEnv = { ...process.env, DIRIGO_LOG_LEVEL: 'info', ...env };
    delete childEnv.npm_execpath;
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        cli,
        'worker',
        faultApp,
        ...(brokers ? ['--brokers', this.ctx.brokers] : []),
        ...args,
      ],
      { env: childEnv, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const p = new WorkerProcess(child, logPath);
    this.procs.push(p);
    return p;
  }

  async killAll(): Promise<void> {
    for (const p of this.procs) p.kill();
    await Promise.all(this.procs.map((p) => p.waitExit(10_000)));
  }
}

/** A TCP port free right now on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** An IPv4 address of this machine that is not loopback, if it has one. */
export function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
}

/** GET `url`: its status, or the error's code ('ECONNREFUSED', 'timeout', ...). */
export async function httpStatus(url: string): Promise<number | string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status;
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    return cause?.code ?? (e as Error).name;
  }
}

/** Polls `probe` every `everyMs` until it returns true or `ms` passes. */
export async function until(
  probe: () => boolean | Promise<boolean>,
  ms: number,
  everyMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return true;
    } catch {
      // not yet
    }
    await sleep(everyMs);
  }
  return false;
}

/** Creates topics of `partitions` partitions. */
export async function createTopics(transport: Transport, names: readonly string[], partitions: number) {
  const admin = await transport.admin();
  try {
    await admin.createTopics(names.map((name) => ({ name, partitions })));
  } finally {
    await admin.close();
  }
}

/** Deletes every topic whose name starts with one of `prefixes`. */
export async function deleteTopics(transport: Transport, prefixes: readonly string[]): Promise<void> {
  const admin = await transport.admin();
  try {
    const names = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)));
    if (names.length > 0) await admin.deleteTopics(names);
  } finally {
    await admin.close();
  }
}

/** Produces JSON values under string keys. */
export async function produce(
  transport: Transport,
  topic: string,
  records: readonly { key: string; value: unknown }[],
): Promise<void> {
  const producer = transport.producer({ clientId: 'fault-suite-feeder' });
  await producer.connect();
  try {
    await producer.send(
      records.map((r) => ({ topic, key: Buffer.from(r.key), value: Buffer.from(JSON.stringify(r.value)) })),
    );
  } finally {
    await producer.disconnect();
  }
}

/** Every committed record of `topic` as [key, JSON value]. */
export async function readOutputs<T>(
  transport: Transport,
  topic: string,
): Promise<{ key: string; value: T }[]> {
  const admin = await transport.admin();
  let offsets: { partition: number }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.close();
  }
  const out: { key: string; value: T }[] = [];
  await transport.readToEnd(
    offsets.map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records)
        out.push({ key: r.key?.toString() ?? '', value: JSON.parse(r.value!.toString()) as T });
    },
  );
  return out;
}

/**
 * Lost and duplicated outputs of counters: each key of `expected` must have emitted n = 1..expected[key]
 * exactly once.
 */
export function countOutputs(
  outputs: readonly { key: string; value: { n: number } }[],
  expected: ReadonlyMap<string, number>,
): { lost: number; duplicated: number } {
  const seen = new Map<string, number>();
  for (const o of outputs) {
    const id = `${o.key}#${o.value.n}`;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  let lost = 0;
  for (const [key, n] of expected) for (let i = 1; i <= n; i++) if (!seen.has(`${key}#${i}`)) lost++;
  let duplicated = 0;
  for (const c of seen.values()) duplicated += c - 1;
  return { lost, duplicated };
}
