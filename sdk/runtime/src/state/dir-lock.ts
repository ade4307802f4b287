// An exclusive lock on a state directory, so two workers (processes, or two stores in one process) never
// write the same persistent store. The lock is a file holding the owner's pid and host: a lock left by a dead
// process (same host, pid gone) is taken over; a live owner makes the open fail with an error naming the
// directory and the owner.
import { closeSync, fchmodSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DirigoError } from '@dirigo/core';

/** Name of the lock file inside a locked directory. */
export const LOCK_FILE = 'dirigo.lock';

/** Directories locked by this process (resolved paths). */
const heldHere = new Set<string>();

/** The state directory is in use by another store (this process or another one). Retriable: it may be released. */
export class StateDirLockedError extends DirigoError {
  readonly dir: string;
  constructor(dir: string, message: string) {
    super(message, { retriable: true });
    this.dir = dir;
  }
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

/** A held lock; `release()` removes the lock file. */
export interface DirLock {
  readonly dir: string;
  release(): void;
}

/**
 * Locks `dir` (which must exist) for this process, taking over a lock whose owner died. Throws
 * `StateDirLockedError` when a live store holds it.
 */
export function lockDir(dir: string): DirLock {
  const abs = resolve(dir);
  if (heldHere.has(abs)) {
    throw new StateDirLockedError(
      abs,
      `state directory ${abs} is already open in this process (another worker or store holds it); give each worker its own stateDir`,
    );
  }
  const file = join(abs, LOCK_FILE);
  let waited = false;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (tryCreate(file)) {
      heldHere.add(abs);
      let released = false;
      return {
        dir: abs,
        release() {
          if (released) return;
          released = true;
          heldHere.delete(abs);
          // Remove the file only while it is still ours (a stale-lock takeover may have replaced it).
          if (readOwner(file)?.pid === process.pid) unlinkQuiet(file);
        },
      };
    }
    const owner = readOwner(file);
    if (owner !== undefined && isAlive(owner)) {
      throw new StateDirLockedError(
        abs,
        `state directory ${abs} is locked by process ${owner.pid} on host '${owner.host}' (lock file ${file}); stop that worker, give this one another stateDir, or delete the lock file if that process is not a Dirigo worker`,
      );
    }
    if (owner === undefined && !waited) {
      // Empty or partial: its owner may be writing it right now. Look again shortly.
      waited = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      continue;
    }
    // Dead owner, or still unreadable (a crash while writing it): take it over.
    unlinkQuiet(file);
  }
  throw new StateDirLockedError(abs, `state directory ${abs}: could not take the lock file ${file}`);
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    // Readable by the worker's user only (0600 whatever the umask), like the rest of the state directory.
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() } satisfies LockOwner));
  } finally {
    closeSync(fd);
  }
  return true;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? { pid: o.pid, host: o.host } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the owner may still hold the directory. A lock with this process's pid that this process does not
 * hold is stale (a container restarted with the same pid). Another host's process cannot be checked: alive.
 */
function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
