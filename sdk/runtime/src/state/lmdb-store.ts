// The persistent state store: committed cells of one partition in an LMDB environment on local disk (lmdb-js),
// so state may be larger than memory and a restarted worker reads only the changelog's tail. Layout, at
// `<stateDir>/<changelogTopic>/<partition>/`: `data.mdb` with three databases, `values` (key: UTF-8 cell key),
// `entries` (key: cell key, 0xFF, map key; 0xFF never occurs in UTF-8, so one map is one ordered range) and
// `meta` (`restoredFrom`, the cell-key `format`); plus the directory lock. A `batch` is one LMDB transaction: the cells and the
// changelog position written with them survive a crash together or not at all. Values are msgpack-encoded
// (lmdb-js's default), so they come back as plain data: JSON-like values, Dates and Buffers round-trip.
// State is private to the worker's user: directories are 0700 and files 0600, whatever the umask.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DirigoError } from '@dirigo/core';
import { type Database, open, type RootDatabase } from 'lmdb';
import { stateOfStoreKey } from './cell-key.ts';
import { type DirLock, lockDir } from './dir-lock.ts';
import type { KeyValueStore } from './store.ts';

/** Modes of the store's directories and files: the worker's user only. */
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/**
 * Creates `dir` and its missing parents with mode 0700 (exactly: chmod after mkdir, whatever the umask) and
 * sets `dir` itself to 0700. Existing parents keep their mode: they may be the user's own directories.
 */
function makePrivateDir(dir: string): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  for (let d = abs; !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  mkdirSync(abs, { recursive: true, mode: PRIVATE_DIR });
  for (const d of missing) chmodSync(d, PRIVATE_DIR);
  chmodSync(abs, PRIVATE_DIR);
}

/** Separates the cell key from the map key in `entries` keys. */
const SEP = 0xff;
/** LMDB's key size limit with lmdb-js's default page size. */
const MAX_KEY_BYTES = 1978;
const RESTORED_FROM = 'restoredFrom';
const FORMAT = 'format';
/** The cell-key format of state/cell-key.ts (1: `state \0 actorKey`, before spaces; 2: with the space). */
const CELL_KEY_FORMAT = 2;

type BinaryDb = Database<unknown, Buffer>;

/** The directory of the store of one changelog partition under `stateDir`. */
export const storeDir = (stateDir: string, changelogTopic: string, partition: number): string =>
  join(stateDir, changelogTopic, String(partition));

/** A `KeyValueStore` on LMDB. Open with `LmdbStore.open`; reads and writes are synchronous. */
export class LmdbStore implements KeyValueStore {
  readonly persistent = true;
  /** The store's directory (absolute). */
  readonly dir: string;
  private readonly lock: DirLock;
  private readonly env: RootDatabase;
  private readonly values: BinaryDb;
  private readonly maps: BinaryDb;
  private readonly meta: Database<number, string>;
  private inBatch = false;
  private closed = false;

  private constructor(lock: DirLock, env: RootDatabase) {
    this.lock = lock;
    this.dir = lock.dir;
    this.env = env;
    this.values = env.openDB({ name: 'values', keyEncoding: 'binary' }) as BinaryDb;
    this.maps = env.openDB({ name: 'entries', keyEncoding: 'binary' }) as BinaryDb;
    this.meta = env.openDB({ name: 'meta' }) as Database<number, string>;
  }

  /**
   * Opens (creating if needed) the store of a changelog partition under `stateDir`. Throws
   * `StateDirLockedError` when another live store holds the directory.
   */
  static open(stateDir: string, changelogTopic: string, partition: number): LmdbStore {
    return LmdbStore.openDir(storeDir(stateDir, changelogTopic, partition));
  }

  /**
   * Opens (creating if needed) a store in `dir`. Directories it creates are made 0700, and `dir` itself and
   * the store's files are set to 0700 / 0600 (also when an older version left them readable by others).
   */
  static openDir(dir: string): LmdbStore {
    makePrivateDir(dir);
    const lock = lockDir(dir);
    try {
      const path = join(lock.dir, 'data.mdb');
      // lmdb-js passes `permissionsMode` to mdb_env_open (its default is 0664); the chmod below makes the
      // modes exact whatever the umask.
      const options = { path, noSubdir: true, maxDbs: 4, permissionsMode: PRIVATE_FILE };
      const store = new LmdbStore(lock, open(options as Parameters<typeof open>[0]));
      for (const file of [path, `${path}-lock`]) if (existsSync(file)) chmodSync(file, PRIVATE_FILE);
      store.checkFormat();
      return store;
    } catch (e) {
      lock.release();
      throw new DirigoError(
        `state directory ${lock.dir}: cannot open the LMDB store (${(e as Error).message}); delete the directory to restore it from the changelog`,
        { cause: e },
      );
    }
  }

  /**
   * A store written with another cell-key format (before cell keys named their app, function and slot) is
   * emptied: it is then restored from the changelog like a new one.
   */
  private checkFormat(): void {
    if (this.meta.get(FORMAT) === CELL_KEY_FORMAT) return;
    this.batch(() => {
      this.values.clearSync();
      this.maps.clearSync();
      this.meta.putSync(RESTORED_FROM, -1);
      this.meta.putSync(FORMAT, CELL_KEY_FORMAT);
    });
  }

  get restoredFrom(): number {
    return this.meta.get(RESTORED_FROM) ?? -1;
  }

  setRestoredFrom(offset: number): void {
    this.meta.putSync(RESTORED_FROM, offset);
  }

  getValue(head: string, key: string): unknown {
    return this.values.get(valueKey(head + key));
  }

  setValue(head: string, key: string, value: unknown): void {
    this.values.putSync(valueKey(head + key), value);
  }

  deleteValue(head: string, key: string): void {
    this.values.removeSync(valueKey(head + key));
  }

  getEntry(ck: string, mapKey: string): unknown {
    return this.maps.get(entryKey(ck, mapKey));
  }

  setEntry(ck: string, mapKey: string, value: unknown): void {
    this.maps.putSync(entryKey(ck, mapKey), value);
  }

  deleteEntry(ck: string, mapKey: string): void {
    this.maps.removeSync(entryKey(ck, mapKey));
  }

  /** The entries of one map, in map-key byte order, read lazily from disk. */
  *entries(ck: string): Iterable<[string, unknown]> {
    const start = entryKey(ck, '');
    const end = Buffer.concat([start, Buffer.of(SEP)]);
    for (const { key, value } of this.maps.getRange({ start, end })) {
      yield [key.toString('utf8', start.length), value];
    }
  }

  size(): number {
    const count = (db: BinaryDb) => (db.getStats() as { entryCount: number }).entryCount;
    return count(this.values) + count(this.maps);
  }

  clear(): void {
    this.batch(() => {
      this.values.clearSync();
      this.maps.clearSync();
      this.meta.putSync(RESTORED_FROM, -1);
    });
  }

  batch<T>(fn: () => T): T {
    if (this.inBatch) return fn();
    this.inBatch = true;
    try {
      return this.env.transactionSync(fn) as T;
    } finally {
      this.inBatch = false;
    }
  }

  /** Closes the environment and releases the directory lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.env.close();
    } finally {
      this.lock.release();
    }
  }
}

function valueKey(ck: string): Buffer {
  const key = Buffer.from(ck, 'utf8');
  if (key.length > MAX_KEY_BYTES) throw tooLong(ck, key.length);
  return key;
}

function entryKey(ck: string, mapKey: string): Buffer {
  const a = Buffer.byteLength(ck, 'utf8');
  const key = Buffer.allocUnsafe(a + 1 + Buffer.byteLength(mapKey, 'utf8'));
  key.write(ck, 0, 'utf8');
  key[a] = SEP;
  key.write(mapKey, a + 1, 'utf8');
  if (key.length > MAX_KEY_BYTES) throw tooLong(ck, key.length);
  return key;
}

function tooLong(ck: string, bytes: number): DirigoError {
  return new DirigoError(
    `state '${stateOfStoreKey(ck)}': key of ${bytes} bytes is too long for the persistent store (at most ${MAX_KEY_BYTES} bytes of app, function, state name, actor key and map key)`,
  );
}
