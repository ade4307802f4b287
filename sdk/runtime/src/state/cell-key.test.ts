import { describe, expect, it } from 'vitest';
import type { LeaseSlot } from '../ids.ts';
import {
  ChangelogKeys,
  changelogKey,
  decodeChangelogKey,
  parseStoreKey,
  spacePrefix,
  storeHead,
  storeKey,
} from './cell-key.ts';

/** Actor and entry keys that JSON escapes, or that look like separators. */
const awkward = [
  '',
  'k1',
  'a"quoted"key',
  'back\\slash',
  'nul\u0000inside\u0000twice',
  'line\nbreak\ttab',
  'émoji 🎉 ключ',
  '\u2028\u2029',
  'x'.repeat(300),
];

describe('ChangelogKeys', () => {
  const spaces = [
    { app: 'clicks', fn: 'count', slot: null },
    { app: 'clicks', fn: 'count', slot: 3 as LeaseSlot },
    { app: 'a-b.c', fn: 'f_2', slot: 0 as LeaseSlot },
  ];

  it('gives the bytes of changelogKey(parseStoreKey(ck)) for every space, state, actor key and entry', () => {
    const keys = new ChangelogKeys();
    let n = 0;
    for (const space of spaces) {
      for (const state of ['n', 'windows', '__timers']) {
        for (const key of awkward) {
          const ck = storeKey(spacePrefix(space), state, key);
          expect(keys.of(ck).toString()).toBe(changelogKey(parseStoreKey(ck)).toString());
          for (const entry of awkward.slice(0, 4)) {
            expect(keys.of(ck, entry).toString()).toBe(changelogKey(parseStoreKey(ck), entry).toString());
          }
          const decoded = decodeChangelogKey(keys.of(ck));
          expect(decoded).toEqual({ ...space, state, key, entry: undefined });
          expect(keys.cellOf(ck)).toEqual({ ...space, state, key: '' });
          // A value cell's address: head and actor key apart, the same bytes.
          const head = storeHead(spacePrefix(space), state);
          expect(head + key).toBe(ck);
          expect(keys.ofCell(head, key).toString()).toBe(keys.of(ck).toString());
          expect(keys.cellOfHead(head)).toEqual({ ...space, state, key: '' });
          n++;
        }
      }
    }
    expect(n).toBe(spaces.length * 3 * awkward.length);
  });

  it('rejects a malformed store key', () => {
    expect(() => new ChangelogKeys().of('app\u0000fn\u0000state')).toThrow(/malformed state cell key/);
  });
});
