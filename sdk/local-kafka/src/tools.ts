// Small helpers around external programs and processes: java, mvn, pids.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJavaVersion } from './config.ts';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the program could not be started at all (ENOENT and the like). */
  readonly error?: NodeJS.ErrnoException;
}

/** Runs a program to completion; never throws. */
export function run(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { code?: unknown }) | null;
        const spawnFailed = err !== null && typeof err.code === 'string';
        resolvePromise({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : null,
          stdout: String(stdout),
          stderr: String(stderr),
          ...(spawnFailed ? { error: err } : {}),
        });
      },
    );
  });
}

/** The java launcher: `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH. */
export function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', process.platform === 'win32' ? 'java.exe' : 'java') : 'java';
}

/** The major Java version (17, 21, ...), or undefined when no java can be run. */
export async function javaVersion(): Promise<number | undefined> {
  const r = await run(javaCommand(), ['-version'], { timeoutMs: 30_000 });
  if (r.error) return undefined;
  return parseJavaVersion(`${r.stderr}\n${r.stdout}`);
}

export function mavenCommand(): string {
  return process.platform === 'win32' ? 'mvn.cmd' : 'mvn';
}

/** True when `mvn -v` runs. */
export async function hasMaven(): Promise<boolean> {
  const r = await run(mavenCommand(), ['-v'], { timeoutMs: 60_000 });
  return r.error === undefined && r.code === 0;
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is alive and, where /proc tells it, still runs a command line containing `marker`
 * (so that a recycled pid is never taken for one of our brokers).
 */
export function isOurProcess(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
  // A zombie has an empty command line: it is no longer running.
  return cmdline.replaceAll('\0', ' ').includes(marker);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `pid` is gone or `timeoutMs` passes; true when it is gone. */
export async function waitForExit(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isOurProcess(pid, marker)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Ends one process we started: `signal` (SIGTERM, a controlled shutdown for Kafka), then SIGKILL if it is
 * still there after `graceMs`. Resolves once it is gone.
 */
export async function terminate(
  pid: number,
  marker: string,
  opts: { signal?: 'SIGTERM' | 'SIGKILL'; graceMs?: number } = {},
): Promise<void> {
  if (!isOurProcess(pid, marker)) return;
  const signal = opts.signal ?? 'SIGTERM';
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  if (await waitForExit(pid, marker, signal === 'SIGKILL' ? 10_000 : (opts.graceMs ?? 30_000))) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitForExit(pid, marker, 10_000);
}
