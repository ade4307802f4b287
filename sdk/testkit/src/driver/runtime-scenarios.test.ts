// Scenario tests of the runtime on the test driver: ordering, concurrency, error policies, restore.
import { defineApp, fn, state } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { lieAboutChangelogWatermarks } from './flaky-admin.test-helper.ts';
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

  it("keeps an async message's outputs (before and after its await) apart from the sync ones run meanwhile", async () => {
    // Sync handlers write straight into the step's output list; an async one takes what it sent before its first
    // await out of it, so a later failure drops exactly its own records.
    const app = defineApp({
      name: 'mixed',
      options: { maxConcurrentKeys: 8 },
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: {
        f: fn({
          handler(ctx, m: { i: number; wait?: boolean; fail?: boolean }) {
            ctx.emit('out', ctx.key, `${m.i}a`);
            if (!m.wait) return;
            return (async () => {
              await sleep(5);
              ctx.emit('out', ctx.key, `${m.i}b`);
              if (m.fail) throw new Error('late boom');
            })();
          },
        }),
      },
    });
    driver = await TestDriver.start(app, { ingressPartitions: 1 });
    await driver.pipe('in', [
      { key: 'a', value: { i: 0, wait: true } },
      { key: 'b', value: { i: 1 } },
      { key: 'c', value: { i: 2, wait: true, fail: true } },
      { key: 'd', value: { i: 3 } },
      { key: 'b', value: { i: 4 } },
    ]);
    const out = (await driver.output<string>('out')).map((r) => r.value).sort();
    expect(out).toEqual(['0a', '0b', '1a', '3a', '4a']);
    expect(await driver.deadLetters('mixed')).toHaveLength(1);
  });

  it('throws, naming the mistake, when a handler uses its context after it finished', async () => {
    const late: unknown[] = [];
    const app = defineApp({
      name: 'late',
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: {
        f: fn({
          state: { n: state.value<number>() },
          handler(ctx, m: { async?: boolean }) {
            const later = () => {
              for (const use of [() => ctx.emit('out', ctx.key, 'late'), () => ctx.state.n.set(1)]) {
                try {
                  use();
                  late.push('no error');
                } catch (e) {
                  late.push((e as Error).message);
                }
              }
            };
            setTimeout(later, 1);
            if (m.async) return Promise.resolve();
          },
        }),
      },
    });
    driver = await TestDriver.start(app);
    await driver.pipe('in', [
      { key: 'k', value: {} },
      { key: 'k', value: { async: true } },
    ]);
    for (let i = 0; i < 100 && late.length < 4; i++) await sleep(5);
    expect(late).toHaveLength(4);
    for (const m of late) expect(m).toMatch(/used after its handler finished/);
    expect(await driver.output('out')).toHaveLength(0);
    expect(await driver.state('late', 'f', 'k', 'n')).toBeUndefined();
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

describe('restore never runs a partition on state it did not restore', () => {
  it('fails the open (and retries it) when the changelog watermarks miss the partition', async () => {
    const { MemoryKafka } = await import('../memory/kafka.ts');
    const { MemoryTransport } = await import('../memory/transport.ts');
    const { Worker } = await import('@dirigo/runtime');
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const setup = new MemoryTransport(kafka);
    await (await setup.admin()).createTopics([{ name: 'in', partitions: 1 }]);
    const producer = setup.producer();
    await producer.connect();
    const send = (n: number) =>
      producer.send(
        Array.from({ length: n }, () => ({
          topic: 'in',
          key: Buffer.from('k'),
          value: Buffer.from('{"add":1}'),
        })),
      );
    const first = new Worker({
      transport: new MemoryTransport(kafka),
      apps: [counter()],
      tickIntervalMs: 0,
      loadReportIntervalMs: 0,
    });
    await first.start();
    await send(5);
    for (let i = 0; i < 500 && (await first.readState('ctr', 'count', 'k', 'n')) !== 5; i++) await sleep(5);
    await first.stop();
    // A transport whose first watermark read of the changelog answers no partition (a metadata race).
    const flaky = new MemoryTransport(kafka);
    const lying = lieAboutChangelogWatermarks(flaky);
    const second = new Worker({
      transport: flaky,
      apps: [counter()],
      tickIntervalMs: 0,
      loadReportIntervalMs: 0,
    });
    await second.start();
    await send(3);
    for (let i = 0; i < 1000 && (await second.readState('ctr', 'count', 'k', 'n')) !== 8; i++) await sleep(5);
    expect(await second.readState('ctr', 'count', 'k', 'n')).toBe(8);
    expect(lying.lied()).toBe(true);
    await second.stop();
    await kafka.close();
  });
});

describe('a handler that never finishes', () => {
  const hanging = (onError: 'dead-letter' | 'stop') =>
    defineApp({
      name: 'hang',
      options: { handlerTimeoutMs: 150, slowHandlerMs: 50, onError },
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: {
        f: fn({
          state: { n: state.value<number>() },
          async handler(ctx, m: { hang?: boolean }) {
            ctx.state.n.set((ctx.state.n.get() ?? 0) + 1);
            if (m.hang === true) {
              await new Promise((r) => setTimeout(r, 400));
              // Given up by now: this must not reach the state or the output.
              ctx.state.n.set(1_000);
              ctx.emit('out', ctx.key, 'late');
              return;
            }
            ctx.emit('out', ctx.key, ctx.state.n.get());
          },
        }),
      },
    });

  it('fails alone after handlerTimeoutMs: dead-lettered, its writes rolled back, its key goes on', async () => {
    const driver = await TestDriver.start(hanging('dead-letter'), { ingressPartitions: 1, metrics: true });
    await driver.pipe('in', [
      { key: 'k', value: { hang: true } },
      { key: 'k', value: {} },
      { key: 'other', value: {} },
    ]);
    expect((await driver.output('out')).map((r) => [r.key, r.value])).toEqual([
      ['k', 1],
      ['other', 1],
    ]);
    const [dlq] = await driver.deadLetters('hang');
    expect(dlq?.headers['dirigo-error-stage']?.toString()).toBe('timeout');
    expect(dlq?.headers['dirigo-error']?.toString()).toMatch(/handlerTimeoutMs \(150 ms\)/);
    await sleep(400); // the abandoned handler wakes up and tries to write
    await driver.settle();
    expect(await driver.state('hang', 'f', 'k', 'n')).toBe(1);
    expect((await driver.output('out')).map((r) => r.value)).not.toContain('late');
    // Counted for Prometheus too: one slow handler, one given up.
    const text = await (await fetch(`http://127.0.0.1:${driver.workers[0]!.metricsAddress}/metrics`)).text();
    expect(text).toMatch(/^dirigo_handlers_slow_total\{[^}]*\} 1$/m);
    expect(text).toMatch(/^dirigo_handlers_timed_out_total\{[^}]*\} 1$/m);
    await driver.stop();
  });

  it("stops the app under onError: 'stop', naming the record", async () => {
    const driver = await TestDriver.start(hanging('stop'), { ingressPartitions: 1 });
    await driver.pipe('in', [{ key: 'k', value: { hang: true } }], { settle: false });
    for (let i = 0; i < 400 && driver.appStatus('hang').status === 'running'; i++) await sleep(5);
    expect(driver.appStatus('hang')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/handle in time/),
    });
    await driver.stop();
  });
});

describe('every failure of one record is that record’s failure', () => {
  it('a state value the serde cannot encode fails only its message (dead-lettered), not the step', async () => {
    const app = defineApp({
      name: 'enc',
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: {
        f: fn({
          state: { v: state.value<unknown>(), m: state.map<unknown>() },
          handler(ctx, m: { big?: boolean; entry?: boolean }) {
            if (m.big === true) ctx.state.v.set(10n);
            else if (m.entry === true) ctx.state.m.set('x', 10n);
            else ctx.state.v.set(1);
            ctx.emit('out', ctx.key, 'ok');
          },
        }),
      },
    });
    const driver = await TestDriver.start(app, { ingressPartitions: 1 });
    await driver.pipe('in', [
      { key: 'a', value: { big: true } },
      { key: 'b', value: {} },
      { key: 'c', value: { entry: true } },
    ]);
    expect((await driver.output('out')).map((r) => r.key)).toEqual(['b']);
    const dlq = await driver.deadLetters('enc');
    expect(dlq.map((r) => r.key?.toString())).toEqual(['a', 'c']);
    expect(dlq[0]!.headers['dirigo-error']?.toString()).toMatch(/state 'v': the json serde cannot encode/);
    expect(await driver.state('enc', 'f', 'b', 'v')).toBe(1);
    await driver.stop();
  });

  it('a dead letter too big for the broker is written with its value cut and its size in a header', async () => {
    const app = defineApp({
      name: 'big',
      options: { deadLetterMaxBytes: 10_000 },
      ingresses: [{ topic: 'in', to: 'f' }],
      functions: {
        f: fn({
          handler() {
            throw new Error('always');
          },
        }),
      },
    });
    const driver = await TestDriver.start(app, { ingressPartitions: 1 });
    await driver.pipeRaw('in', 'k', Buffer.alloc(50_000, 120));
    const [dlq] = await driver.deadLetters('big');
    expect(dlq?.headers['dirigo-truncated']?.toString()).toBe('50000');
    expect(dlq!.value!.length).toBeLessThan(10_000);
    expect(dlq!.value!.length).toBeGreaterThan(5_000);
    expect(driver.appStatus('big').status).toBe('running');
    await driver.stop();
  });
});
