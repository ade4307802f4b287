// The worker processes of a chaos run: `node --conditions=source sdk/runtime/src/cli.ts worker chaos-app.ts`
// spawned directly (so signals reach the worker itself, not npm), one log file per start under the run's log
// directory. Signals go to a specific process object, so a late SIGCONT never hits a restarted successor.
// Nothing is left behind: `killAll` (and a process 'exit' hook as a last resort) SIGCONT then SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GroupProtocol } from '@dirigo/platformatic';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
export const repoRoot = repo;

export interface WorkerProcsOptions {
  readonly brokers: string;
  readonly sessionTimeoutMs: number;
  readonly controlTopic: string;
  readonly logDir: string;
  /** Extra environment of the workers (CHAOS_*). */
  readonly env: Readonly<Record<string, string>>;
  /** Called when a worker exits without the harness having asked it to. */
  readonly onUnexpectedExit: (worker: number, how: string) => void;
  /** The app module the workers load (default: chaos-app.ts, the shapes). */
  readonly appModule?: string;
  /** The script run as `<entry> worker <app-module> ...` (default: the runtime's CLI, `dirigo`). */
  readonly entry?: string;
  /** The workers' Kafka client (DIRIGO_TRANSPORT), e.g. the harness's own `transport.name`. */
  readonly transport?: string;
  /**
   * The workers' consumer group protocol (DIRIGO_GROUP_PROTOCOL). With `consumer` (KIP-848) the session timeout
   * is the broker's: give it as `sessionTimeoutMs`, which sizes the freezes.
   */
  readonly groupProtocol?: GroupProtocol;
  /**
   * The workers' exactly-once protocol (DIRIGO_EXACTLY_ONCE); default: the transport's (v2 on both). `mixed`: worker
   * `i` runs v2 when `i` is even and v1 when odd (a change of protocol caught half way, with its faults).
   */
  readonly exactlyOnce?: ExactlyOnceChoice;
}

/** The exactly-once protocol of the chaos workers: one for all, or `mixed` (see `WorkerProcsOptions.exactlyOnce`). */
export type ExactlyOnceChoice = 'v1' | 'v2' | 'mixed';

/** The protocol worker `i` runs under `choice`. */
export const protocolOfWorker = (choice: ExactlyOnceChoice, i: number): 'v1' | 'v2' =>
  choice === 'mixed' ? (i % 2 === 0 ? 'v2' : 'v1') : choice;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (p: ChildProcess | undefined): p is ChildProcess =>
  p !== undefined && p.exitCode === null && p.signalCode === null;

export class WorkerProcs {
  private readonly o: WorkerProcsOptions;
  private readonly procs = new Map<number, ChildProcess>();
  private readonly logs = new Map<number, string>();
  private readonly starts = new Map<number, number>();
  /** Processes the harness signalled to end (their exit is expected). */
  private readonly ending = new WeakSet<ChildProcess>();
  private readonly all = new Set<ChildProcess>();
  private readonly exitHook = () => {
    for (const p of this.all) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
  };

  constructor(options: WorkerProcsOptions) {
    this.o = options;
    process.on('exit', this.exitHook);
  }

  /** Starts (or restarts) worker `i`, id `chaos-w<i>`; `extraArgs` go to `dirigo worker` after the others. */
  start(i: number, extraArgs: readonly string[] = []): ChildProcess {
    const n = this.starts.get(i) ?? 0;
    this.starts.set(i, n + 1);
    const logPath = join(this.o.logDir, `worker-${i}.${n}.log`);
    const log = openSync(logPath, 'a');
    const p = spawn(
      process.execPath,
      [
        '--conditions=source',
        this.o.entry ?? join(repo, 'sdk/runtime/src/cli.ts'),
        'worker',
        this.o.appModule ?? join(here, 'chaos-app.ts'),
        '--brokers',
        this.o.brokers,
        '--worker-id',
        `chaos-w${i}`,
        '--session-timeout-ms',
        String(this.o.sessionTimeoutMs),
        '--control-topic',
        this.o.controlTopic,
        // Purges of the internal topics run every second (not every 30 s), in the middle of the faults.
        '--purge-interval-ms',
        '1000',
        ...extraArgs,
      ],
      {
        env: {
          ...process.env,
          ...this.o.env,
          DIRIGO_LOG_LEVEL: process.env.CHAOS_WORKER_LOG_LEVEL ?? 'info',
          ...(this.o.transport === undefined ? {} : { DIRIGO_TRANSPORT: this.o.transport }),
          ...(this.o.groupProtocol === undefined ? {} : { DIRIGO_GROUP_PROTOCOL: this.o.groupProtocol }),
          ...(this.o.exactlyOnce === undefined
            ? {}
            : { DIRIGO_EXACTLY_ONCE: protocolOfWorker(this.o.exactlyOnce, i) }),
        },
        stdio: ['ignore', log, log],
      },
    );
    closeSync(log);
    this.procs.set(i, p);
    this.logs.set(i, logPath);
    this.all.add(p);
    p.once('exit', (code, signal) => {
      this.all.delete(p);
      if (!this.ending.has(p)) this.o.onUnexpectedExit(i, signal ?? `exit code ${code}`);
    });
    return p;
  }

  /** The current process of worker `i` if it is running (possibly stopped by SIGSTOP). */
  current(i: number): ChildProcess | undefined {
    const p = this.procs.get(i);
    return alive(p) ? p : undefined;
  }

  /** How many times worker `i` was started (its latest start is incarnation `startCount(i) - 1`). */
  startCount(i: number): number {
    return this.starts.get(i) ?? 0;
  }

  /** The log file of worker `i`'s latest start. */
  logPath(i: number): string | undefined {
    return this.logs.get(i);
  }

  /** SIGKILLs worker `i` and waits for its exit. False when it was not running. */
  async kill(i: number): Promise<boolean> {
    const p = this.current(i);
    if (p === undefined) return false;
    await this.end(p, 'SIGKILL', 0);
    return true;
  }

  /** SIGCONT + `signal`; after `graceMs` (if > 0) SIGKILL. Resolves when the process has exited. */
  async end(p: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<'exited' | 'killed'> {
    if (!alive(p)) return 'exited';
    this.ending.add(p);
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGCONT');
    p.kill(signal);
    if (signal === 'SIGKILL' || graceMs <= 0) {
      await exited;
      return 'killed';
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!timedOut) return 'exited';
    p.kill('SIGKILL');
    await exited;
    return 'killed';
  }

  /** Graceful stop of every worker (SIGTERM, SIGKILL after `graceMs`). Returns the workers that had to be killed. */
  async stopAll(graceMs: number): Promise<number[]> {
    const killed: number[] = [];
    await Promise.all(
      [...this.procs].map(async ([i, p]) => {
        if ((await this.end(p, 'SIGTERM', graceMs)) === 'killed') killed.push(i);
      }),
    );
    return killed.sort((a, b) => a - b);
  }

  /** Kills whatever is still running, at once. */
  async killAll(): Promise<void> {
    await Promise.all([...this.all].map((p) => this.end(p, 'SIGKILL', 0)));
    process.off('exit', this.exitHook);
  }

  /**
   * Waits until worker `i`'s current log gets, after byte `from`, a JSON line for which `match` is true (if the
   * worker is restarted meanwhile, the new log is read from its start). False after `timeoutMs`.
   */
  async waitForLog(
    i: number,
    from: number,
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let path = this.logs.get(i);
    let pos = from;
    let rest = '';
    while (Date.now() < deadline) {
      if (path !== this.logs.get(i)) {
        // Restarted meanwhile: follow the new process's log from its beginning.
        path = this.logs.get(i);
        pos = 0;
        rest = '';
      }
      if (path === undefined) return false;
      const size = statSync(path).size;
      if (size > pos) {
        const buf = Buffer.alloc(size - pos);
        const fd = openSync(path, 'r');
        readSync(fd, buf, 0, buf.length, pos);
        closeSync(fd);
        pos = size;
        const lines = (rest + buf.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) {
          try {
            if (match(JSON.parse(l) as Record<string, unknown>)) return true;
          } catch {
            // not a JSON log line
          }
        }
      }
      await sleep(200);
    }
    return false;
  }

  /** The current size of worker `i`'s log (a position for `waitForLog`). */
  logSize(i: number): number {
    const path = this.logs.get(i);
    return path === undefined ? 0 : statSync(path).size;
  }
}
