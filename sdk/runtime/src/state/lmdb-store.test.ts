// The KeyValueStore contract, run against MemoryStore and LmdbStore alike, then what only the LMDB store
// promises: persistence across close/reopen, (data, restoredFrom) committed atomically even when the process
// is killed mid-write, the directory lock, and state far larger than a test would keep in a Map.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spacePrefix, storeHead, storeKey } from './cell-key.ts';
import { LOCK_FILE, StateDirLockedError } from './dir-lock.ts';
import { LmdbStore, storeDir } from './lmdb-store.ts';
import { type KeyValueStore, MemoryStore } from './store.ts';

const root = mkdtempSync(join(tmpdir(), 'dirigo-lmdb-test-'));
let dirs = 0;
const freshDir = () => join(root, `s${++dirs}`);
const open: KeyValueStore[] = [];
const track = <T extends KeyValueStore>(s: T): T => {
  open.push(s);
  return s;
};

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const prefix = spacePrefix({ app: 'app', fn: 'fn', slot: null });
const ck = (state: string, actor: string) => storeKey(prefix, state, actor);
/** A value cell's address: its store-key head and actor key. */
const vk = (state: string, actor: string) => [storeHead(prefix, state), actor] as const;
const sorted = (it: Iterable<[string, unknown]>) => [...it].sort((a, b) => (a[0] < b[0] ? -1 : 1));

describe.each([
  ['MemoryStore', () => track(new MemoryStore())],
  ['LmdbStore', () => track(LmdbStore.openDir(freshDir()))],
])('KeyValueStore contract: %s', (_name, make: () => KeyValueStore) => {
  it('sets, overwrites, reads and deletes value cells', () => {
    const s = make();
    expect(s.getValue(...vk('n', 'a'))).toBeUndefined();
    s.setValue(...vk('n', 'a'), 1);
    s.setValue(...vk('n', 'a'), { total: 2, tags: ['x'], at: null });
    s.setValue(...vk('n', ''), 'empty actor');
    s.setValue(...vk('n', 'ü\u0000ñ'), 'unicode and NUL in the actor key');
    s.setValue(...vk('raw', 'b'), Buffer.from([0, 255]));
    expect(s.getValue(...vk('n', 'a'))).toEqual({ total: 2, tags: ['x'], at: null });
    expect(s.getValue(...vk('n', ''))).toBe('empty actor');
    expect(s.getValue(...vk('n', 'ü\u0000ñ'))).toBe('unicode and NUL in the actor key');
    expect(Buffer.from(s.getValue(...vk('raw', 'b')) as Buffer)).toEqual(Buffer.from([0, 255]));
    s.deleteValue(...vk('n', 'a'));
    s.deleteValue(...vk('n', 'never'));
    expect(s.getValue(...vk('n', 'a'))).toBeUndefined();
    expect(s.size()).toBe(3);
  });

  it('keeps map entries per cell, listing exactly the entries of one map', () => {
    const s = make();
    s.setEntry(ck('m', 'a'), 'x', 1);
    s.setEntry(ck('m', 'a'), 'y', 2);
    s.setEntry(ck('m', 'a'), '', 'empty map key');
    s.setEntry(ck('m', 'ab'), 'x', 3); // shares a prefix with actor 'a'
    s.setEntry(ck('m', 'a\u0000x'), 'y', 4); // actor key containing the separator
    s.setEntry(ck('m2', 'a'), 'x', 5);
    s.setValue(...vk('m', 'a'), 'a value cell does not mix with the map');
    expect(sorted(s.entries(ck('m', 'a')))).toEqual([
      ['', 'empty map key'],
      ['x', 1],
      ['y', 2],
    ]);
    expect(sorted(s.entries(ck('m', 'ab')))).toEqual([['x', 3]]);
    expect(sorted(s.entries(ck('m', 'a\u0000x')))).toEqual([['y', 4]]);
    expect(sorted(s.entries(ck('m', 'none')))).toEqual([]);
    expect(s.getEntry(ck('m', 'a'), 'y')).toBe(2);
    expect(s.getEntry(ck('m', 'a'), 'z')).toBeUndefined();
    s.setEntry(ck('m', 'a'), 'y', 20);
    s.deleteEntry(ck('m', 'a'), 'x');
    s.deleteEntry(ck('m', 'a'), 'never');
    expect(sorted(s.entries(ck('m', 'a')))).toEqual([
      ['', 'empty map key'],
      ['y', 20],
    ]);
    expect(s.size()).toBe(6);
  });

  it('tracks restoredFrom, and clear() drops every cell and resets it', () => {
    const s = make();
    expect(s.restoredFrom).toBe(-1);
    s.setRestoredFrom(42);
    expect(s.restoredFrom).toBe(42);
    s.setValue(...vk('n', 'a'), 1);
    s.setEntry(ck('m', 'a'), 'x', 1);
    s.clear();
    expect(s.size()).toBe(0);
    expect(s.restoredFrom).toBe(-1);
    expect(s.getValue(...vk('n', 'a'))).toBeUndefined();
    expect([...s.entries(ck('m', 'a'))]).toEqual([]);
    s.setValue(...vk('n', 'a'), 2);
    expect(s.getValue(...vk('n', 'a'))).toBe(2);
  });

  it('runs a batch (nested too) and returns its result; reads inside see its writes', () => {
    const s = make();
    const r = s.batch(() => {
      s.setValue(...vk('n', 'a'), 1);
      s.batch(() => s.setEntry(ck('m', 'a'), 'x', 2));
      s.setRestoredFrom(7);
      return [s.getValue(...vk('n', 'a')), s.getEntry(ck('m', 'a'), 'x'), s.restoredFrom];
    });
    expect(r).toEqual([1, 2, 7]);
    expect(s.getEntry(ck('m', 'a'), 'x')).toBe(2);
    expect(s.restoredFrom).toBe(7);
  });
});

describe('LmdbStore', () => {
  it('lives at <stateDir>/<changelogTopic>/<partition>/ and survives close and reopen', async () => {
    const stateDir = freshDir();
    const s = LmdbStore.open(stateDir, 'dirigo.app.fn.changelog', 3);
    expect(s.dir).toBe(join(stateDir, 'dirigo.app.fn.changelog', '3'));
    expect(storeDir(stateDir, 't', 0)).toBe(join(stateDir, 't', '0'));
    s.batch(() => {
      s.setValue(...vk('n', 'a'), { v: 1 });
      s.setEntry(ck('m', 'a'), 'k', [1, 2]);
      s.setRestoredFrom(10);
    });
    await s.close();
    await s.close(); // idempotent
    const again = track(LmdbStore.open(stateDir, 'dirigo.app.fn.changelog', 3));
    expect(again.getValue(...vk('n', 'a'))).toEqual({ v: 1 });
    expect([...again.entries(ck('m', 'a'))]).toEqual([['k', [1, 2]]]);
    expect(again.restoredFrom).toBe(10);
    expect(again.size()).toBe(2);
  });

  it('commits a batch all or nothing: a throwing batch leaves neither the data nor restoredFrom', () => {
    const s = track(LmdbStore.openDir(freshDir()));
    s.batch(() => {
      s.setValue(...vk('n', 'a'), 1);
      s.setRestoredFrom(5);
    });
    expect(() =>
      s.batch(() => {
        s.setValue(...vk('n', 'a'), 2);
        s.setEntry(ck('m', 'a'), 'x', 1);
        s.setRestoredFrom(9);
        throw new Error('crash in the middle of a commit');
      }),
    ).toThrow('crash in the middle');
    expect(s.getValue(...vk('n', 'a'))).toBe(1);
    expect(s.getEntry(ck('m', 'a'), 'x')).toBeUndefined();
    expect(s.restoredFrom).toBe(5);
  });

  it('keeps (data, restoredFrom) consistent when the process is killed mid-write, and takes over its lock', async () => {
    const dir = freshDir();
    // The child commits batch i: 100 cells = i, a map entry = i and restoredFrom = i, as fast as it can.
    const child = runChild(
      dir,
      `let i = 0;
       for (;;) {
         i++;
         s.batch(() => {
           for (let k = 0; k < 100; k++) s.setValue(${JSON.stringify(prefix)} + 'n\\u0000', String(k), i);
           s.setEntry(${JSON.stringify(prefix)} + 'm\\u0000', 'last', i);
           s.setRestoredFrom(i);
         });
         if (i === 20) console.log('running');
       }`,
    );
    await waitFor(child, 'running');
    await new Promise((r) => setTimeout(r, 100));
    await kill(child);
    const s = track(LmdbStore.openDir(dir));
    const at = s.restoredFrom;
    expect(at).toBeGreaterThanOrEqual(20);
    for (let k = 0; k < 100; k++) expect(s.getValue(...vk('n', String(k)))).toBe(at);
    expect(s.getEntry(ck('m', ''), 'last')).toBe(at);
  });

  describe('directory lock', () => {
    it('refuses a second open in this process until the first closes', async () => {
      const dir = freshDir();
      const s = LmdbStore.openDir(dir);
      expect(() => LmdbStore.openDir(dir)).toThrow(StateDirLockedError);
      expect(() => LmdbStore.openDir(dir)).toThrow(dir);
      await s.close();
      track(LmdbStore.openDir(dir));
    });

    it('refuses a directory held by a live process, naming it and the pid; takes it over once it died', async () => {
      const dir = freshDir();
      const child = runChild(dir, `console.log('ready'); setInterval(() => {}, 1000);`);
      await waitFor(child, 'ready');
      let err: unknown;
      try {
        LmdbStore.openDir(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StateDirLockedError);
      expect((err as Error).message).toContain(dir);
      expect((err as Error).message).toContain(`process ${child.pid}`);
      await kill(child); // no clean close: the lock file stays, naming a dead pid
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(child.pid);
      const s = track(LmdbStore.openDir(dir));
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
      await s.close();
    });

    it('takes over a stale lock with its own pid (a restarted container) or an unreadable one', async () => {
      for (const content of [JSON.stringify({ pid: process.pid, host: hostname() }), 'garbage']) {
        const dir = freshDir();
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, LOCK_FILE), content);
        await LmdbStore.openDir(dir).close();
      }
    });

    it("treats another host's lock as held", () => {
      const dir = freshDir();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: `not-${hostname()}` }));
      expect(() => LmdbStore.openDir(dir)).toThrow(/on host 'not-/);
    });
  });

  it('holds 200k cells and a 50k-entry map on disk, read lazily', async () => {
    const dir = freshDir();
    const s = LmdbStore.openDir(dir);
    const n = 200_000;
    for (let b = 0; b < n; b += 10_000) {
      s.batch(() => {
        for (let i = b; i < b + 10_000; i++)
          s.setValue(...vk('acct', `user-${i}`), { id: i, balance: i * 2 });
      });
    }
    s.batch(() => {
      for (let i = 0; i < 50_000; i++) s.setEntry(ck('seen', 'x'), String(i).padStart(6, '0'), i);
    });
    await s.close();
    const again = track(LmdbStore.openDir(dir));
    expect(again.size()).toBe(n + 50_000);
    for (const i of [0, 1, 77_777, n - 1]) {
      expect(again.getValue(...vk('acct', `user-${i}`))).toEqual({ id: i, balance: i * 2 });
    }
    const firstThree: [string, unknown][] = [];
    for (const e of again.entries(ck('seen', 'x'))) {
      firstThree.push(e);
      if (firstThree.length === 3) break; // lazy: stops the cursor, nothing more is read
    }
    expect(firstThree).toEqual([
      ['000000', 0],
      ['000001', 1],
      ['000002', 2],
    ]);
  });

  it('rejects a key longer than LMDB allows with an error naming the state', () => {
    const s = track(LmdbStore.openDir(freshDir()));
    expect(() => s.setValue(...vk('big', 'k'.repeat(3000)), 1)).toThrow(/state 'big'.*too long/);
  });
});

/** Runs `body` in a child Node process with `s`, an LmdbStore opened on `dir`. */
function runChild(dir: string, body: string): ChildProcess {
  const url = pathToFileURL(join(import.meta.dirname, 'lmdb-store.ts')).href;
  const code = `import { LmdbStore } from ${JSON.stringify(url)};\nconst s = LmdbStore.openDir(process.argv[1]);\n${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', code, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function waitFor(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(line)) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before '${line}': ${err}`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('LmdbStore cell-key format', () => {
  it('empties a store written with the cell keys of before (restored from the changelog instead)', async () => {
    const dir = freshDir();
    const old = LmdbStore.openDir(dir);
    old.setValue('count\u0000', 'k', 3);
    old.setRestoredFrom(42);
    // What a store of the previous version looks like: no format marker.
    (old as unknown as { meta: { removeSync(k: string): void } }).meta.removeSync('format');
    await old.close();
    const s = track(LmdbStore.openDir(dir));
    expect(s.getValue('count\u0000', 'k')).toBeUndefined();
    expect(s.restoredFrom).toBe(-1);
    s.setValue(...vk('count', 'k'), 4);
    await s.close();
    const again = track(LmdbStore.openDir(dir));
    expect(again.getValue(...vk('count', 'k'))).toBe(4);
  });
});
