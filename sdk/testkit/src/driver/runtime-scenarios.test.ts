// Scenario tests of the runtime on the test driver: ordering, concurrency, error policies, restore.
import { defineApp, fn, state } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDriver } from './test-driver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const counter = (options: Parameters<typeof defineApp>[0]['options'] = {}) =>
  defineApp({
    name: 'ctr',
    options,
    ingresses: [{ topic: 'in', to: 'count' }],
    egresses: { out: { topic: 'out' } },
    functions: {
      count: fn({
        state: { n: state.value<number>(), seen: state.map<number>() },
        handler(ctx, m: { add: number; fail?: boolean }) {
          const n = (ctx.state.n.get() ?? 0) + m.add;
          ctx.state.n.set(n);
          ctx.state.seen.set(String(ctx.origin.offset), m.add);
          ctx.emit('out', ctx.key, n);
          if (m.fail) throw new Error('boom');
        },
      }),
    },
  });

describe('runtime on the test driver', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('rolls back the state and outputs of a failing message only', async () => {
    driver = await TestDriver.start(counter());
    await driver.pipe('in', [
      { key: 'k', value: { add: 1 } },
      { key: 'k', value: { add: 10, fail: true } },
      { key: 'k', value: { add: 100 } },
    ]);
    expect(await driver.state('ctr', 'count', 'k', 'n')).toBe(101);
    expect((await driver.output<number>('out')).map((r) => r.value)).toEqual([1, 101]);
    const seen = (await driver.state('ctr', 'count', 'k', 'seen')) as Record<string, number>;
    expect(Object.values(seen).sort((a, b) => a - b)).toEqual([1, 100]);
    const dlq = await driver.deadLetters('ctr');
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers['dirigo-origin-offset']?.toString()).toBe('1');
  });

  it("stops the app, not the worker, under onError: 'stop', naming the record", async () => {
    driver = await TestDriver.start(counter({ onError: 'stop' }));
    await driver.pipe('in', [{ key: 'k', value: { add: 1 } }]);
    await driver.pipe('in', [{ key: 'k', value: { add: 10, fail: true } }], { settle: false });
    for (let i = 0; i < 500 && driver.appStatus('ctr').status === 'running'; i++) await sleep(5);
    const s = driver.appStatus('ctr');
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/in\/\d+@\d+: boom/);
    expect(driver.workers[0]!.state).toBe('running');
    expect(await driver.deadLetters('ctr')).toHaveLength(0);
  });

  it('runs different keys concurrently and one key in order when handlers are async', async () => {
    let active = 0;
    let maxActive = 0;
    const order: Record<string, number[]> = {};
    const app = defineApp({
      name: 'async',
      options: { maxConcurrentKeys: 8 },
      ingresses: [{ topic: 'in', to: 'f' }],
      functions: {
        f: fn({
          async handler(ctx, m: { i: number }) {
            active++;
            maxActive = Math.max(maxActive, active);
            await sleep(3);
            order[ctx.key] = [...(order[ctx.key] ?? []), m.i];
            active--;
          },
        }),
      },
    });
    driver = await TestDriver.start(app, { ingressPartitions: 1 });
    const inputs = Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 4}`, value: { i } }));
    await driver.pipe('in', inputs);
    expect(maxActive).toBeGreaterThan(1);
    expect(maxActive).toBeLessThanOrEqual(4);
    for (let k = 0; k < 4; k++)
      expect(order[`k${k}`]).toEqual(inputs.filter((x) => x.key === `k${k}`).map((x) => x.value.i));
  });

  it('restores state on another worker after the owner stops', async () => {
    driver = await TestDriver.start(counter(), { workers: 2 });
    await driver.pipe(
      'in',
      Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: { add: 1 } })),
    );
    await driver.stopWorker(0);
    await driver.pipe(
      'in',
      Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: { add: 1 } })),
    );
    for (let k = 0; k < 5; k++)
      expect(await driver.workers[1]!.readState('ctr', 'count', `k${k}`, 'n')).toBe(20);
  });

  it('restores from a compacted changelog with gaps', async () => {
    driver = await TestDriver.start(counter(), { workers: 2 });
    await driver.pipe(
      'in',
      Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 4}`, value: { add: 2 } })),
    );
    driver.kafka.compact('dirigo.ctr.count.changelog');
    await driver.stopWorker(0);
    await driver.pipe('in', [{ key: 'k0', value: { add: 1 } }]);
    for (let k = 1; k < 4; k++)
      expect(await driver.workers[1]!.readState('ctr', 'count', `k${k}`, 'n')).toBe(20);
    expect(await driver.workers[1]!.readState('ctr', 'count', 'k0', 'n')).toBe(21);
  });

  it('at-least-once gives the same results without failures', async () => {
    driver = await TestDriver.start(counter({ guarantee: 'at_least_once' }));
    await driver.pipe(
      'in',
      Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 3}`, value: { add: 1 } })),
    );
    for (let k = 0; k < 3; k++) expect(await driver.state('ctr', 'count', `k${k}`, 'n')).toBe(10);
  });
});
