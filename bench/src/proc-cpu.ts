// CPU counters of processes, their threads and the machine, read from /proc (Linux). The benches use them to
// say how many cores a run used and where: the peers bench reports each side's cores and its busiest thread
// (one JavaScript thread caps a Dirigo worker; a JVM spreads a "one-thread" Kafka Streams app over its stream
// thread, its producer's sender thread and the JIT and GC threads).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc's CPU counters (`getconf CLK_TCK`, 100 where it cannot be asked). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** A `/proc/<pid>/stat` (or `task/<tid>/stat`) line: its command name and user + system clock ticks. */
export function parseStat(line: string): { name: string; ticks: number } {
  // The name is in parentheses and may itself hold spaces and parentheses: it ends at the last ')'.
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${line.slice(0, 80)}`);
  const fields = line.slice(close + 2).split(' ');
  // After the name: state(0) ppid(1) ... utime(11) stime(12).
  return { name: line.slice(open + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** user + system clock ticks a process (all its threads) has used so far. */
export function processTicks(pid: number): number {
  return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).ticks;
}

/** user + system CPU seconds a process (all its threads) has used so far. */
export function processCpuSeconds(pid: number): number {
  return processTicks(pid) / clockTicks();
}

/** The machine's clock ticks so far, all and idle (iowait included), from the first line of /proc/stat. */
export function machineTicks(): { total: number; idle: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3]! + (f[4] ?? 0) };
}

/** A thread's counters so far: its name, its CPU clock ticks, and the time it spent ready to run but waiting. */
export interface ThreadTicks {
  readonly name: string;
  readonly ticks: number;
  /**
   * Nanoseconds the thread spent runnable on a run queue, waiting for a CPU (the second field of
   * `/proc/<pid>/task/<tid>/schedstat`); undefined where the kernel does not keep it.
   */
  readonly waitNs?: number;
}

/** The run-queue wait of a thread in nanoseconds, from its schedstat line; undefined if unreadable. */
function waitNsOf(path: string): number | undefined {
  try {
    const wait = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[1]);
    return Number.isFinite(wait) ? wait : undefined;
  } catch {
    return undefined;
  }
}

/** Per thread of a process (by thread id): its name, the clock ticks it has used and its run-queue wait so far. */
export function threadTicks(pid: number): Map<number, ThreadTicks> {
  const threads = new Map<number, ThreadTicks>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      const waitNs = waitNsOf(`/proc/${pid}/task/${tid}/schedstat`);
      threads.set(Number(tid), waitNs === undefined ? stat : { ...stat, waitNs });
    } catch {
      // The thread ended between the listing and the read: it has nothing more to count.
    }
  }
  return threads;
}

/** A thread's share of an interval: the cores it kept busy on average. */
export interface ThreadUse {
  readonly name: string;
  readonly cores: number;
  /**
   * The share of the interval it was ready to run but waited for a CPU (the machine's other work had the cores):
   * `cores` + `waiting` near 1 is a thread that always had work. Undefined where the kernel does not say.
   */
  readonly waiting?: number;
}

/**
 * The threads that used CPU between two `threadTicks` snapshots `seconds` apart, busiest first (a thread born in
 * between counts from zero; one that ended in between is not seen).
 */
export function threadUse(
  before: ReadonlyMap<number, ThreadTicks>,
  after: ReadonlyMap<number, ThreadTicks>,
  seconds: number,
): ThreadUse[] {
  const used: ThreadUse[] = [];
  for (const [tid, t] of after) {
    const b = before.get(tid);
    const ticks = t.ticks - (b?.ticks ?? 0);
    if (ticks <= 0) continue;
    const cores = ticks / clockTicks() / seconds;
    // A wait only where both snapshots have one (a thread born in between waited from zero).
    const known = t.waitNs !== undefined && (b === undefined || b.waitNs !== undefined);
    used.push(
      known
        ? { name: t.name, cores, waiting: (t.waitNs! - (b?.waitNs ?? 0)) / 1e9 / seconds }
        : { name: t.name, cores },
    );
  }
  return used.sort((a, b) => b.cores - a.cores);
}
