// The state layer alone: restored values, and changelog records of pending writes.
import { serdes } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { StateCatalog } from './catalog.ts';
import { changelogKey, spacePrefix, storeKey } from './cell-key.ts';
import { StateLayer } from './state-layer.ts';
import { MemoryStore } from './store.ts';

const space = { app: 'a', fn: 'f', slot: null };

function layer(): StateLayer {
  const catalog = new StateCatalog([
    {
      app: 'a',
      fn: 'f',
      states: [{ name: 'raw', kind: 'value', serde: serdes.bytes(), merge: undefined }],
    },
  ]);
  return new StateLayer('a.f.changelog', 0, catalog, new MemoryStore(), space);
}

describe('StateLayer', () => {
  it('copies restored bytes out of the fetched answer they came in', () => {
    const l = layer();
    // One answer holding two records' values, as a fetch gives them (views of one buffer).
    const answer = Buffer.alloc(18, 'xxxxHELLOyyyyWORLD'); // not from the pool: its own memory
    const ck = storeKey(spacePrefix(space), 'raw', 'k1');
    l.applyChangelog(changelogKey({ ...space, state: 'raw', key: 'k1' }), answer.subarray(4, 9));
    const kept = l.getValue(ck) as Buffer;
    expect(kept.toString()).toBe('HELLO');
    expect(kept.buffer).not.toBe(answer.buffer);
    expect(kept.length).toBe(5);
  });

  it('writes the changelog records of pending cells with their keys and bytes', () => {
    const l = layer();
    const ck = storeKey(spacePrefix(space), 'raw', 'k"2');
    l.setValue(ck, Buffer.from('v'), [], serdes.bytes(), 'raw');
    const out: { key: Buffer | null; value: Buffer | null }[] = [];
    l.changelogRecords(out as never);
    expect(out.map((r) => [r.key?.toString(), r.value?.toString()])).toEqual([
      [changelogKey({ ...space, state: 'raw', key: 'k"2' }).toString(), 'v'],
    ]);
  });
});
