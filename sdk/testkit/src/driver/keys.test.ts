// Keys are bytes: the actor is the exact record key, outputs keep it, a null key is its own actor, and key
// serdes decide how ctx.key looks.
import { defineApp, fn, keys, partitionFor, state } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDriver } from './test-driver.ts';

const long = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};

const counter = (keySerde?: ReturnType<typeof keys.int64>) =>
  defineApp({
    name: 'ids',
    options: { defaultPartitions: 4 },
    ingresses: [{ topic: 'events', to: 'count' }],
    egresses: { out: { topic: 'counts' } },
    functions: {
      count: fn({
        ...(keySerde === undefined ? {} : { keySerde }),
        state: { n: state.value<number>() },
        handler(ctx, _m: unknown) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, { n, key: ctx.key, bytes: ctx.keyBytes?.toString('hex') ?? null });
          ctx.send('echo', ctx.key, n);
        },
      }),
      echo: fn({
        ...(keySerde === undefined ? {} : { keySerde }),
        state: { last: state.value<number>() },
        handler(ctx, n: number) {
          ctx.state.last.set(n);
        },
      }),
    },
  });

describe('keys are bytes', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('gives each binary key its own actor, and outputs and sends keep the exact key bytes', async () => {
    driver = await TestDriver.start(counter(), { ingressPartitions: 4 });
    // 1,000 ids as Java's LongSerializer writes them, twice each: as UTF-8 text many of them are the same.
    const ids = Array.from({ length: 1_000 }, (_, i) => i * 257);
    expect(new Set(ids.map((i) => long(i).toString('utf8'))).size).toBeLessThan(1_000);
    await driver.pipe(
      'events',
      [...ids, ...ids].map((i) => ({ key: long(i), value: {} })),
    );
    for (const i of [0, 257, 513 * 257, 999 * 257]) {
      expect(await driver.state('ids', 'count', long(i), 'n')).toBe(2);
      expect(await driver.state('ids', 'echo', long(i), 'last')).toBe(2);
    }
    const out = await driver.output<{ n: number }>('counts');
    expect(out).toHaveLength(2_000);
    const last = new Map<string, number>();
    for (const r of out) {
      last.set(r.keyBytes!.toString('hex'), r.value.n);
      expect(r.partition).toBe(partitionFor(r.keyBytes!, 4));
    }
    expect(last.size).toBe(1_000);
    expect([...last.values()].every((n) => n === 2)).toBe(true);
    expect(new Set(last.keys())).toEqual(new Set(ids.map((i) => long(i).toString('hex'))));
  });

  it('keeps a null key and an empty key apart (each its own actor, each in one partition)', async () => {
    driver = await TestDriver.start(counter(), { ingressPartitions: 1 });
    await driver.pipe('events', [
      { key: null, value: {} },
      { key: '', value: {} },
      { key: null, value: {} },
    ]);
    const out = await driver.output<{ n: number; key: string; bytes: string | null }>('counts');
    expect(
      out.map((r) => [
        r.keyBytes === null ? null : r.keyBytes.toString('hex'),
        r.value.n,
        r.value.key,
        r.value.bytes,
      ]),
    ).toEqual([
      [null, 1, '', null],
      ['', 1, '', ''],
      [null, 2, '', null],
    ]);
    expect(await driver.state('ids', 'count', Buffer.alloc(0), 'n')).toBe(1);
  });

  it('shows int64 keys as decimal text and writes them back as the same 8 bytes', async () => {
    driver = await TestDriver.start(counter(keys.int64()), { ingressPartitions: 4 });
    await driver.pipe('events', [
      { key: long(42), value: {} },
      { key: long(-7), value: {} },
      { key: long(42), value: {} },
    ]);
    expect(await driver.state('ids', 'count', '42', 'n')).toBe(2);
    expect(await driver.state('ids', 'echo', '-7', 'last')).toBe(1);
    const out = await driver.output<{ key: string }>('counts');
    expect(out.map((r) => r.value.key).sort()).toEqual(['-7', '42', '42']);
    for (const r of out) expect(r.keyBytes!.equals(long(Number(r.value.key)))).toBe(true);
  });

  it('dead-letters a record whose key the key serde cannot read, naming it', async () => {
    driver = await TestDriver.start(counter(keys.int64()), { ingressPartitions: 1 });
    await driver.pipe('events', [
      { key: 'not-a-long', value: {} },
      { key: long(1), value: {} },
    ]);
    const dlq = await driver.deadLetters('ids');
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers['dirigo-error']?.toString()).toMatch(/int64 key: expected 8 bytes/);
    expect(await driver.state('ids', 'count', '1', 'n')).toBe(1);
  });
});
