// Persistent state is private to the worker's user: the directories a store creates are 0700 and its files
// (data, LMDB lock, directory lock) 0600, whatever the process umask; a store left readable by an older
// version is tightened when it is opened again.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spacePrefix, storeHead } from './cell-key.ts';
import { LmdbStore } from './lmdb-store.ts';

const root = mkdtempSync(join(tmpdir(), 'dirigo-lmdb-perm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

/** Every path under `dir` (itself excluded) with its permission bits, as octal strings. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out[relative(dir, p)] = mode(p).toString(8);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Runs `fn` under `umask`, restoring the previous one. */
function withUmask<T>(umask: number, fn: () => T): T {
  const before = process.umask(umask);
  try {
    return fn();
  } finally {
    process.umask(before);
  }
}

const head = storeHead(spacePrefix({ app: 'a', fn: 'f', slot: null }), 'n');

describe('persistent state directories and files', () => {
  it.each([
    ['0000', 0o000],
    ['0022', 0o022],
    ['0077', 0o077],
  ])('are 0700 and 0600 under umask %s', async (_name, umask) => {
    const stateDir = join(root, `umask-${umask.toString(8)}`, 'state');
    const store = withUmask(umask, () => LmdbStore.open(stateDir, 'ns.app.f.changelog', 3));
    store.setValue(head, 'k', 1);
    expect(modes(join(root, `umask-${umask.toString(8)}`))).toEqual({
      state: '700',
      'state/ns.app.f.changelog': '700',
      'state/ns.app.f.changelog/3': '700',
      'state/ns.app.f.changelog/3/data.mdb': '600',
      'state/ns.app.f.changelog/3/data.mdb-lock': '600',
      'state/ns.app.f.changelog/3/dirigo.lock': '600',
    });
    await store.close();
  });

  it('tightens a store directory an older version left readable by others, but not the parents it did not create', async () => {
    const stateDir = join(root, 'old', 'state');
    const dir = join(stateDir, 'ns.app.f.changelog', '0');
    mkdirSync(dir, { recursive: true });
    chmodSync(stateDir, 0o755);
    chmodSync(dir, 0o755);
    const first = withUmask(0, () => LmdbStore.open(stateDir, 'ns.app.f.changelog', 0));
    await first.close();
    chmodSync(join(dir, 'data.mdb'), 0o644);
    const again = withUmask(0, () => LmdbStore.open(stateDir, 'ns.app.f.changelog', 0));
    expect(mode(dir).toString(8)).toBe('700');
    expect(mode(join(dir, 'data.mdb')).toString(8)).toBe('600');
    expect(mode(stateDir).toString(8)).toBe('755');
    await again.close();
  });
});
