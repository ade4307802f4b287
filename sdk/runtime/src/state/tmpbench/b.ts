import { LmdbStore } from '../lmdb-store.ts';
import { MemoryStore } from '../store.ts';
import type { KeyValueStore } from '../store.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const N = 200_000;
const val = (i: number) => ({ n: i, name: `user-${i}`, balance: i * 1.5, tags: ['a', 'b'] });
function time(label: string, ops: number, fn: () => void) {
  const t = performance.now(); fn(); const ms = performance.now() - t;
  console.log(`${label.padEnd(44)} ${(ops / ms * 1000 / 1e6).toFixed(3)} M ops/s  (${ms.toFixed(0)} ms)`);
}
function run(name: string, s: KeyValueStore) {
  const keys = Array.from({ length: N }, (_, i) => `st\u0000key-${i}`);
  time(`${name} set, 1000/batch`, N, () => { for (let b = 0; b < N; b += 1000) s.batch(() => { for (let i = b; i < b + 1000; i++) s.setValue(keys[i]!, val(i)); }); });
  time(`${name} set, 10/batch (20k)`, 20000, () => { for (let b = 0; b < 20000; b += 10) s.batch(() => { for (let i = b; i < b + 10; i++) s.setValue(keys[i]!, val(i)); }); });
  time(`${name} set, 1/batch (5k)`, 5000, () => { for (let i = 0; i < 5000; i++) s.batch(() => s.setValue(keys[i]!, val(i))); });
  let x = 0;
  time(`${name} get random`, N, () => { for (let i = 0; i < N; i++) { const v = s.getValue(keys[(i * 7919) % N]!) as { n: number }; x += v.n; } });
  time(`${name} get hot (100 keys)`, N, () => { for (let i = 0; i < N; i++) { const v = s.getValue(keys[i % 100]!) as { n: number }; x += v.n; } });
  time(`${name} get missing`, N, () => { for (let i = 0; i < N; i++) if (s.getValue(`st\u0000nokey-${i}`) !== undefined) x++; });
  time(`${name} setEntry 100k in 1 map, 1000/batch`, 100000, () => { for (let b = 0; b < 100000; b += 1000) s.batch(() => { for (let i = b; i < b + 1000; i++) s.setEntry('m\u0000a', `k${i}`, i); }); });
  time(`${name} entries scan 100k`, 100000, () => { for (const [, v] of s.entries('m\u0000a')) x += v as number; });
  time(`${name} size() x1000`, 1000, () => { for (let i = 0; i < 1000; i++) x += s.size(); });
  return x;
}
run('memory', new MemoryStore());
const dir = mkdtempSync(join(tmpdir(), 'lmb-'));
const l = LmdbStore.openDir(dir);
run('lmdb', l);
await l.close();
rmSync(dir, { recursive: true });
