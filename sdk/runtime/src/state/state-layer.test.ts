// The state layer alone: restored values, and changelog records of pending writes.
import { serdes } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { StateCatalog } from './catalog.ts';
import { changelogKey, spacePrefix, storeHead, storeKey } from './cell-key.ts';
import type { UndoEntry } from './state-layer.ts';
import { StateLayer } from './state-layer.ts';
import { MemoryStore } from './store.ts';

const space = { app: 'a', fn: 'f', slot: null };

function layer(): StateLayer {
  const catalog = new StateCatalog([
    {
      app: 'a',
      fn: 'f',
      states: [
        { name: 'raw', kind: 'value', serde: serdes.bytes(), merge: undefined },
        { name: 'n', kind: 'value', serde: serdes.json(), merge: undefined },
      ],
    },
  ]);
  return new StateLayer('a.f.changelog', 0, catalog, new MemoryStore(), space);
}

describe('StateLayer', () => {
  it('copies restored bytes out of the fetched answer they came in', () => {
    const l = layer();
    // One answer holding two records' values, as a fetch gives them (views of one buffer).
    const answer = Buffer.alloc(18, 'xxxxHELLOyyyyWORLD'); // not from the pool: its own memory
    l.applyChangelog(changelogKey({ ...space, state: 'raw', key: 'k1' }), answer.subarray(4, 9));
    const kept = l.getValue(storeHead(spacePrefix(space), 'raw'), 'k1') as Buffer;
    expect(kept.toString()).toBe('HELLO');
    expect(kept.buffer).not.toBe(answer.buffer);
    expect(kept.length).toBe(5);
  });

  it('writes the changelog records of pending cells with their keys and bytes', () => {
    const l = layer();
    l.setValue(storeHead(spacePrefix(space), 'raw'), 'k"2', Buffer.from('v'), [], serdes.bytes(), 'raw');
    const out: { key: Buffer | null; value: Buffer | null }[] = [];
    l.changelogRecords(out as never);
    expect(out.map((r) => [r.key?.toString(), r.value?.toString()])).toEqual([
      [changelogKey({ ...space, state: 'raw', key: 'k"2' }).toString(), 'v'],
    ]);
  });

  it('keeps value cells of different states and actors apart, pending and committed', () => {
    const l = layer();
    const raw = storeHead(spacePrefix(space), 'raw');
    const n = storeHead(spacePrefix(space), 'n');
    const undo: UndoEntry[] = [];
    l.setValue(n, 'a', 1, undo, serdes.json(), 'n');
    l.setValue(n, 'b', 2, undo, serdes.json(), 'n');
    l.setValue(raw, 'a', Buffer.from('r'), undo, serdes.bytes(), 'raw');
    expect([l.getValue(n, 'a'), l.getValue(n, 'b'), l.getValue(n, 'c')]).toEqual([1, 2, undefined]);
    l.commit();
    expect(l.store.size()).toBe(3);
    expect([l.store.getValue(n, 'a'), l.store.getValue(n, 'b')]).toEqual([1, 2]);
    expect((l.store.getValue(raw, 'a') as Buffer).toString()).toBe('r');
    l.setValue(n, 'a', undefined, []);
    expect(l.getValue(n, 'a')).toBeUndefined();
    expect(l.store.getValue(n, 'a')).toBe(1);
    l.commit();
    expect(l.store.size()).toBe(2);
    expect(l.store.getValue(n, 'a')).toBeUndefined();
  });

  it('is not dirty once the only write of a step is rolled back, and rolls back to the write before', () => {
    const l = layer();
    const n = storeHead(spacePrefix(space), 'n');
    const first: UndoEntry[] = [];
    l.setValue(n, 'a', 1, first, serdes.json(), 'n');
    l.rollback(first);
    expect(l.dirty).toBe(false);
    const out: unknown[] = [];
    l.changelogRecords(out as never);
    expect(out).toEqual([]);
    l.setValue(n, 'a', 1, [], serdes.json(), 'n');
    const second: UndoEntry[] = [];
    l.setValue(n, 'a', 2, second, serdes.json(), 'n');
    l.rollback(second);
    expect(l.getValue(n, 'a')).toBe(1);
    expect(l.dirty).toBe(true);
  });

  describe('a sealed step (pipelined steps: its commit in flight)', () => {
    const n = storeHead(spacePrefix(space), 'n');
    const ck = storeKey(spacePrefix(space), 'm', 'k');
    const changelog = (l: StateLayer) => {
      const out: { key: Buffer | null; value: Buffer | null }[] = [];
      l.changelogRecords(out as never);
      return out.length;
    };

    it('is read through by the next step, which writes its own changes only, and applied once committed', () => {
      const l = layer();
      l.setValue(n, 'a', 1, [], serdes.json(), 'n');
      l.setValue(n, 'b', 2, [], serdes.json(), 'n');
      l.setEntry(ck, 'x', 'X', []);
      l.setEntry(ck, 'y', 'Y', []);
      l.seal();
      expect([l.sealed, l.dirty, l.store.size()]).toEqual([true, false, 0]);
      // The next step sees the sealed writes...
      expect([l.getValue(n, 'a'), l.getEntry(ck, 'x')]).toEqual([1, 'X']);
      // ...overrides and deletes over them, and its changelog holds only its own changes.
      const undo: UndoEntry[] = [];
      l.setValue(n, 'a', 10, undo, serdes.json(), 'n');
      l.setValue(n, 'b', undefined, undo);
      l.setEntry(ck, 'y', undefined, undo);
      l.setEntry(ck, 'z', 'Z', undo);
      expect([l.getValue(n, 'a'), l.getValue(n, 'b')]).toEqual([10, undefined]);
      expect(l.entries(ck)).toEqual([
        ['x', 'X'],
        ['z', 'Z'],
      ]);
      expect(changelog(l)).toBe(4);
      // A handler of the next step that throws rolls back to the sealed values, not to the store's.
      l.rollback(undo);
      expect([l.getValue(n, 'a'), l.getValue(n, 'b'), l.entries(ck).length]).toEqual([1, 2, 2]);
      l.setValue(n, 'a', 10, [], serdes.json(), 'n');
      // The sealed step commits: its writes reach the store; the next step's stay pending.
      l.applySealed();
      expect([l.sealed, l.store.getValue(n, 'a'), l.store.getValue(n, 'b'), l.getValue(n, 'a')]).toEqual([
        false,
        1,
        2,
        10,
      ]);
      expect(() => l.seal()).not.toThrow();
      expect(() => l.seal()).toThrow(/sealed step is still held/);
      l.applySealed();
      expect(l.store.getValue(n, 'a')).toBe(10);
    });

    it('is dropped with the pending writes when a commit fails (discard)', () => {
      const l = layer();
      l.setValue(n, 'a', 1, [], serdes.json(), 'n');
      l.commit();
      l.setValue(n, 'a', 2, [], serdes.json(), 'n');
      l.seal();
      l.setValue(n, 'a', 3, [], serdes.json(), 'n');
      const discards = l.discards;
      l.discard();
      expect([l.sealed, l.dirty, l.getValue(n, 'a'), l.discards]).toEqual([false, false, 1, discards + 1]);
      // Nothing is applied by a late applySealed either.
      l.applySealed();
      expect(l.store.getValue(n, 'a')).toBe(1);
    });
  });
});
