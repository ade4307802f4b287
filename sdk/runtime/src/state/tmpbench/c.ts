import { open } from 'lmdb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const N = 200_000;
const val = (i: number) => ({ n: i, name: `user-${i}`, balance: i * 1.5, tags: ['a', 'b'] });
function time(label: string, ops: number, fn: () => void) {
  const t = performance.now(); fn(); const ms = performance.now() - t;
  console.log(`${label.padEnd(40)} ${(ops / ms * 1000 / 1e6).toFixed(3)} M ops/s`);
}
const env = open({ path: join(mkdtempSync(join(tmpdir(), 'lmc-')), 'd.mdb'), noSubdir: true, maxDbs: 8 });
const bin = env.openDB({ name: 'bin', keyEncoding: 'binary' });
const str = env.openDB({ name: 'str' });
const cached = env.openDB({ name: 'cached', keyEncoding: 'binary', cache: true });
const rawv = env.openDB({ name: 'raw', keyEncoding: 'binary', encoding: 'binary' });
const keys = Array.from({ length: N }, (_, i) => `st\u0001key-${i}`);
const bkeys = keys.map((k) => Buffer.from(k));
env.transactionSync(() => { for (let i = 0; i < N; i++) { bin.putSync(bkeys[i]!, val(i)); str.putSync(keys[i]!, val(i)); cached.putSync(bkeys[i]!, val(i)); rawv.putSync(bkeys[i]!, Buffer.from(JSON.stringify(val(i)))); } });
let x = 0;
for (const pass of [1, 2]) {
  console.log('pass', pass);
  time('bin get random (prebuilt keys)', N, () => { for (let i = 0; i < N; i++) x += (bin.get(bkeys[(i * 7919) % N]!) as any).n; });
  time('bin get random (Buffer.from per get)', N, () => { for (let i = 0; i < N; i++) x += (bin.get(Buffer.from(keys[(i * 7919) % N]!)) as any).n; });
  time('str get random', N, () => { for (let i = 0; i < N; i++) x += (str.get(keys[(i * 7919) % N]!) as any).n; });
  time('cached get random', N, () => { for (let i = 0; i < N; i++) x += (cached.get(bkeys[(i * 7919) % N]!) as any).n; });
  time('binary value getBinaryFast only', N, () => { for (let i = 0; i < N; i++) x += rawv.getBinaryFast(bkeys[(i * 7919) % N]!)!.length; });
  time('bin get hot 100', N, () => { for (let i = 0; i < N; i++) x += (bin.get(bkeys[i % 100]!) as any).n; });
  time('cached get hot 100', N, () => { for (let i = 0; i < N; i++) x += (cached.get(bkeys[i % 100]!) as any).n; });
  const m = new Map<string, unknown>(); for (let i = 0; i < 100; i++) m.set(keys[i]!, val(i));
  time('js Map hit hot 100', N, () => { for (let i = 0; i < N; i++) x += (m.get(keys[i % 100]!) as any).n; });
}
console.log(x > 0);
await env.close();
