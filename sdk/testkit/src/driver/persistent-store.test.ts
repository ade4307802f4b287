// Scenarios of the persistent state store (`store: 'persistent'`) on the test driver: a worker restarted on
// the same cluster and state directory reads only the changelog written after its checkpoint, and state far
// larger than a test would hold in a Map lives on disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppDefinition, defineApp, fn, type Logger, state } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTransport } from '../memory/transport.ts';
import { type Line, recordingLogger } from './recording-logger.test-helper.ts';
import { TestDriver } from './test-driver.ts';

const CHANGELOG = 'dirigo.acc.count.changelog';

const accounts = (stateDir: string) =>
  defineApp({
    name: 'acc',
    options: { store: 'persistent', stateDir },
    ingresses: [{ topic: 'in', to: 'count' }],
    functions: {
      count: fn({
        state: { n: state.value<number>(), last: state.map<number>() },
        handler(ctx, m: { add: number }) {
          ctx.state.n.set((ctx.state.n.get() ?? 0) + m.add);
          ctx.state.last.set('add', m.add);
        },
      }),
    },
  });

/** The 'partition opened' lines of a worker, once all `partitions` are open. */
async function opened(lines: readonly Line[], worker: string, partitions = 4): Promise<Line[]> {
  for (let i = 0; i < 1000; i++) {
    const found = lines.filter((l) => l.msg === 'partition opened' && l.worker === worker);
    if (found.length >= partitions) return found;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`worker ${worker} did not open ${partitions} partitions`);
}

/** Changelog records a worker's restore applied, summed over its partitions. */
const restoredBy = async (lines: readonly Line[], worker: string) =>
  (await opened(lines, worker)).reduce((sum, l) => sum + (l.restored as number), 0);

describe('persistent store on the test driver', () => {
  let driver: TestDriver | undefined;
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'dirigo-persistent-'));
    dirs.push(d);
    return d;
  };

  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** Starts a worker like the driver's, on the driver's cluster, and makes it the one the driver settles on. */
  async function startWorker(d: TestDriver, app: AppDefinition, id: string, logger: Logger): Promise<Worker> {
    const worker = new Worker({
      transport: new MemoryTransport(d.kafka),
      apps: [app],
      clock: d.clock,
      logger,
      workerId: id,
      tickIntervalMs: 0,
      sessionTimeoutMs: 60_000,
    });
    await worker.start();
    d.workers[0] = worker;
    return worker;
  }

  it('restarts from its checkpoint, reading only the changelog written after it', async () => {
    const lines: Line[] = [];
    const logger = recordingLogger(lines);
    const stateDir = tempDir();
    const app = accounts(stateDir);
    driver = await TestDriver.start(app, { logger });
    const add = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ key: `k${i % 10}`, value: { add: 1 } }));

    // First run: 100 records, then a clean stop checkpoints every partition at its changelog's end.
    await driver.pipe('in', add(100));
    expect(await restoredBy(lines, 'test-worker-0')).toBe(0);
    await driver.stopWorker(0);
    const atCheckpoint = (await driver.readAll(CHANGELOG)).length;
    expect(atCheckpoint).toBeGreaterThanOrEqual(20); // a step writes each cell it changed once

    // Meanwhile another worker with its own (empty) state directory processes 30 more records.
    await startWorker(driver, accounts(tempDir()), 'other', logger);
    expect(await restoredBy(lines, 'other')).toBe(atCheckpoint); // empty store: the whole changelog
    await driver.pipe('in', add(30));
    await driver.workers[0]!.stop();
    const written = (await driver.readAll(CHANGELOG)).length - atCheckpoint;
    expect(written).toBeGreaterThanOrEqual(20);

    // Restart on the first state directory: only the other worker's changelog records are read.
    const restarted = await startWorker(driver, app, 'restarted', logger);
    expect(await restoredBy(lines, 'restarted')).toBe(written);
    for (let k = 0; k < 10; k++) {
      expect(await restarted.readState('acc', 'count', `k${k}`, 'n')).toBe(13);
      expect(await restarted.readState('acc', 'count', `k${k}`, 'last')).toEqual({ add: 1 });
    }
    await driver.pipe('in', add(10));
    for (let k = 0; k < 10; k++) expect(await restarted.readState('acc', 'count', `k${k}`, 'n')).toBe(14);

    // And once more from its own clean stop: nothing to read at all.
    await restarted.stop();
    const again = await startWorker(driver, app, 'again', logger);
    expect(await restoredBy(lines, 'again')).toBe(0);
    expect(await again.readState('acc', 'count', 'k3', 'n')).toBe(14);
  });

  it('hands partitions between two workers sharing one state directory', async () => {
    driver = await TestDriver.start(accounts(tempDir()), { workers: 2 });
    const add = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i % 5}`, value: { add: 1 } }));
    await driver.pipe('in', add(50));
    await driver.stopWorker(0);
    await driver.pipe('in', add(50));
    for (let k = 0; k < 5; k++)
      expect(await driver.workers[1]!.readState('acc', 'count', `k${k}`, 'n')).toBe(20);
  });

  it('restores correctly at-least-once too (no checkpoint: the restart reads its whole tenure)', async () => {
    const lines: Line[] = [];
    const logger = recordingLogger(lines);
    const stateDir = tempDir();
    const app = defineApp({
      ...accounts(stateDir),
      options: { store: 'persistent', stateDir, guarantee: 'at_least_once' },
    });
    driver = await TestDriver.start(app, { logger });
    await driver.pipe(
      'in',
      Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 4}`, value: { add: 1 } })),
    );
    await driver.stopWorker(0);
    const restarted = await startWorker(driver, app, 'restarted', logger);
    expect(await restoredBy(lines, 'restarted')).toBe((await driver.readAll(CHANGELOG)).length);
    for (let k = 0; k < 4; k++) expect(await restarted.readState('acc', 'count', `k${k}`, 'n')).toBe(10);
  });

  it('drops a state directory that is ahead of its changelog (the cluster was reset)', async () => {
    const app = accounts(tempDir());
    driver = await TestDriver.start(app);
    await driver.pipe(
      'in',
      Array.from({ length: 20 }, () => ({ key: 'k', value: { add: 1 } })),
    );
    expect(await driver.state('acc', 'count', 'k', 'n')).toBe(20);
    await driver.stop();
    driver = await TestDriver.start(app); // a new, empty cluster; same state directory
    await driver.pipe('in', [{ key: 'k', value: { add: 1 } }]);
    expect(await driver.state('acc', 'count', 'k', 'n')).toBe(1);
  });

  it('fires timers kept in the store across a restart that reads no changelog', async () => {
    const lines: Line[] = [];
    const logger = recordingLogger(lines);
    const app = defineApp({
      name: 'remind',
      options: { store: 'persistent', stateDir: tempDir() },
      ingresses: [{ topic: 'in', to: 'r' }],
      functions: {
        r: fn({
          state: { fired: state.value<number>() },
          handler(ctx, m: { kind: 'start' | 'fire' }) {
            if (m.kind === 'start') ctx.send('r', ctx.key, { kind: 'fire' }, { delayMs: 60_000 });
            else ctx.state.fired.set(ctx.now);
          },
        }),
      },
    });
    driver = await TestDriver.start(app, { logger });
    await driver.pipe('in', [{ key: 'a', value: { kind: 'start' } }]);
    await driver.stopWorker(0);
    const restarted = await startWorker(driver, app, 'restarted', logger);
    expect(await restoredBy(lines, 'restarted')).toBe(0);
    await driver.advance(59_999);
    expect(await restarted.readState('remind', 'r', 'a', 'fired')).toBeUndefined();
    await driver.advance(1);
    expect(await restarted.readState('remind', 'r', 'a', 'fired')).toBe(driver.clock.now());
  });

  it('keeps 200k actors on disk and restarts without reading them back', async () => {
    const lines: Line[] = [];
    const logger = recordingLogger(lines);
    const stateDir = tempDir();
    const app = defineApp({
      name: 'big',
      options: { store: 'persistent', stateDir },
      ingresses: [{ topic: 'in', to: 'f' }],
      functions: {
        f: fn({
          state: { v: state.value<{ i: number; name: string }>() },
          handler(ctx, m: { i: number }) {
            ctx.state.v.set({ i: m.i, name: `user-${m.i}` });
          },
        }),
      },
    });
    const n = 200_000;
    driver = await TestDriver.start(app, { logger });
    for (let b = 0; b < n; b += 50_000) {
      await driver.pipe(
        'in',
        Array.from({ length: 50_000 }, (_, j) => ({ key: `user-${b + j}`, value: { i: b + j } })),
      );
    }
    await driver.stopWorker(0);
    const restarted = await startWorker(driver, app, 'restarted', logger);
    expect((await opened(lines, 'restarted')).map((l) => l.restored)).toEqual([0, 0, 0, 0]);
    for (const i of [0, 1, 123_456, n - 1]) {
      expect(await restarted.readState('big', 'f', `user-${i}`, 'v')).toEqual({ i, name: `user-${i}` });
    }
  });
});
