// The runtime on the real broker: restore after a full restart, rebalance across three workers, dead letters.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AppDefinition, defineApp, fn, type ProcessingGuarantee, state } from '@dirigo/core';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { brokers, kafkaTransport, produceJson, readJson, testLogger, unique } from './harness.ts';
import { TRANSPORT_NAMES, type TransportName, transportFromEnv } from './transports.ts';
import { zombieAppFor } from './zombie-app.ts';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../sdk/runtime/src/cli.ts');
const zombieApp = join(here, 'zombie-app.ts');

const counterApp = (
  ns: string,
  input: string,
  out: string,
  guarantee: ProcessingGuarantee = 'exactly_once',
) =>
  defineApp({
    name: 'counter',
    options: { namespace: ns, guarantee, defaultPartitions: 6 },
    ingresses: [{ topic: input, to: 'count' }],
    egresses: { out: { topic: out } },
    functions: {
      count: fn({
        state: { n: state.value<number>() },
        handler(ctx, m: { add: number }) {
          if (typeof m.add !== 'number')
            throw new Error(`bad message: 'add' must be a number, got ${JSON.stringify(m)}`);
          const n = (ctx.state.n.get() ?? 0) + m.add;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, { n });
        },
      }),
    },
  });

const stopAll: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stopAll.splice(0).reverse()) await s().catch(() => {});
});

async function startWorker(
  app: AppDefinition,
  id: string,
  transportName: TransportName = transportFromEnv(),
  exactlyOnce?: 'v1' | 'v2',
): Promise<Worker> {
  const transport = kafkaTransport(id, transportName);
  const worker = new Worker({
    transport,
    apps: [app],
    logger: testLogger().child({ test: id }),
    workerId: id,
    sessionTimeoutMs: 6000,
    ...(exactlyOnce === undefined ? {} : { exactlyOnceV2: exactlyOnce === 'v2' }),
  });
  stopAll.push(async () => {
    await worker.stop();
    await transport.close();
  });
  await worker.start();
  return worker;
}

async function caughtUp(app: ReturnType<typeof counterApp>, timeoutMs = 60_000): Promise<void> {
  const t = kafkaTransport('it-lag');
  try {
    await waitFor(
      async () =>
        (await pendingRecords(t, `${app.options!.namespace}.counter.count`, app.ingresses![0]!.topic)) === 0,
      timeoutMs,
      {
        intervalMs: 500,
      },
    );
  } finally {
    await t.close();
  }
}

describe('runtime on a real broker', () => {
  it('restores state after a full restart of the only worker', async () => {
    const ns = unique('it-restore');
    const input = `${ns}-in`;
    const t = kafkaTransport('it-setup');
    stopAll.push(() => t.close());
    await (await t.admin()).createTopics([{ name: input, partitions: 6 }]);
    const app = counterApp(ns, input, `${ns}-out`);
    const first = await startWorker(app, 'w-restore-1');
    await produceJson(
      t,
      input,
      Array.from({ length: 600 }, (_, i) => ({ key: `k${i % 12}`, value: { add: 1 } })),
    );
    await caughtUp(app);
    await first.stop();
    // A brand-new worker (new transport, empty memory): everything must come back from the changelog.
    const second = await startWorker(app, 'w-restore-2');
    await produceJson(
      t,
      input,
      Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: { add: 1 } })),
    );
    await caughtUp(app);
    for (let k = 0; k < 12; k++) expect(await second.readState('counter', 'count', `k${k}`, 'n')).toBe(51);
    const outputs = await readJson<{ n: number }>(t, `${ns}-out`);
    expect(outputs).toHaveLength(612);
  });

  it('rebalances across three workers and keeps every count exact', async () => {
    const ns = unique('it-rebalance');
    const input = `${ns}-in`;
    const t = kafkaTransport('it-setup');
    stopAll.push(() => t.close());
    await (await t.admin()).createTopics([{ name: input, partitions: 6 }]);
    const app = counterApp(ns, input, `${ns}-out`);
    // A worker's start returns before its group membership settles (the join runs in the background): wait until
    // it holds its first assignment, so that each batch below is processed after the rebalance that gives the
    // new worker its share.
    const joined = async (worker: Worker) => {
      await waitFor(() => worker.health().ready, 60_000);
      return worker;
    };
    const workers = [await joined(await startWorker(app, 'w-rb-0'))];
    await produceJson(
      t,
      input,
      Array.from({ length: 900 }, (_, i) => ({ key: `k${i % 30}`, value: { add: 1 } })),
    );
    workers.push(await joined(await startWorker(app, 'w-rb-1')));
    await produceJson(
      t,
      input,
      Array.from({ length: 900 }, (_, i) => ({ key: `k${i % 30}`, value: { add: 1 } })),
    );
    workers.push(await joined(await startWorker(app, 'w-rb-2')));
    await produceJson(
      t,
      input,
      Array.from({ length: 900 }, (_, i) => ({ key: `k${i % 30}`, value: { add: 1 } })),
    );
    await caughtUp(app);
    // Every worker got a share of the partitions.
    const owners = await Promise.all(
      workers.map(
        async (w) =>
          (
            await Promise.all(
              Array.from({ length: 30 }, (_, k) => w.readState('counter', 'count', `k${k}`, 'n')),
            )
          ).filter((v) => v !== undefined).length,
      ),
    );
    expect(owners.filter((n) => n > 0).length).toBe(3);
    // One leaves; the others take over its partitions with their state.
    await workers[0]!.stop();
    await produceJson(
      t,
      input,
      Array.from({ length: 30 }, (_, k) => ({ key: `k${k}`, value: { add: 1 } })),
    );
    await caughtUp(app);
    const outputs = await readJson<{ n: number }>(t, `${ns}-out`);
    expect(outputs).toHaveLength(2730);
    const final = new Map<string, number>();
    for (const o of outputs) final.set(o.key!, Math.max(final.get(o.key!) ?? 0, o.value.n));
    for (let k = 0; k < 30; k++) expect(final.get(`k${k}`)).toBe(91);
  });

  it('dead-letters an undecodable record and a throwing handler with the reason, and goes on', async () => {
    const ns = unique('it-dlq');
    const input = `${ns}-in`;
    const t = kafkaTransport('it-setup');
    stopAll.push(() => t.close());
    await (await t.admin()).createTopics([{ name: input, partitions: 2 }]);
    const app = counterApp(ns, input, `${ns}-out`);
    await startWorker(app, 'w-dlq');
    const producer = t.producer();
    await producer.connect();
    await producer.send([
      { topic: input, key: Buffer.from('a'), value: Buffer.from('{"add":1}') },
      { topic: input, key: Buffer.from('a'), value: Buffer.from('not json') },
      { topic: input, key: Buffer.from('a'), value: Buffer.from('{"add":"x"}') },
      { topic: input, key: Buffer.from('a'), value: Buffer.from('{"add":2}') },
    ]);
    await producer.disconnect();
    await caughtUp(app);
    const dlq = await t.admin().then(() => readDlq(t, `${ns}.counter.dlq`));
    expect(dlq.map((d) => d.stage).sort()).toEqual(['decode', 'handler']);
    for (const d of dlq) {
      expect(d.topic).toBe(input);
      expect(d.offset).toMatch(/^\d+$/);
      expect(d.error.length).toBeGreaterThan(0);
    }
    const outputs = await readJson<{ n: number }>(t, `${ns}-out`);
    expect(outputs.map((o) => o.value.n)).toEqual([1, 3]);
  });
});

/** A topic setup and a worker process running zombie-app.ts, for the process-level tests. */
async function processScenario(
  prefix: string,
  partitions: number,
  transportName: TransportName = transportFromEnv(),
) {
  const ns = unique(prefix);
  const env = {
    ZOMBIE_NS: ns,
    ZOMBIE_IN: `${ns}-in`,
    ZOMBIE_OUT: `${ns}-out`,
    DIRIGO_TRANSPORT: transportName,
  };
  const t = kafkaTransport('it-setup', transportName);
  stopAll.push(() => t.close());
  await (await t.admin()).createTopics([{ name: env.ZOMBIE_IN, partitions }]);
  const spawnWorker = (
    sessionTimeoutMs: number,
    extraEnv: Record<string, string> = {},
    extraArgs: readonly string[] = [],
  ) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        cli,
        'worker',
        zombieApp,
        '--brokers',
        brokers(),
        '--session-timeout-ms',
        String(sessionTimeoutMs),
        ...extraArgs,
      ],
      {
        env: { ...process.env, ...env, ...extraEnv, DIRIGO_LOG_LEVEL: 'error' },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    stopAll.push(async () => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    });
    return child;
  };
  return { ns, env, t, spawnWorker };
}

// On both clients, under both exactly-once protocols: v2 (the default on both) fences by the group generation the
// offsets carry (the coordinator refuses a past one), v1 by one transactional producer per input partition (a new
// owner's registration fences the old one). And across protocols, as in the second roll of a change from v1 to v2:
// a v2 owner fences a v1 zombie by registering the v1 producer of the partition it opens (the zombie's offsets carry
// no generation to refuse), and a v1 owner reads its position stable, after the v2 zombie's transaction, whose
// offsets the coordinator then refuses for their generation.
describe.each([
  ...TRANSPORT_NAMES.map((transportName) => ({ transportName, zombie: 'v2' as const, owner: 'v2' as const })),
  { transportName: 'kafkajs' as const, zombie: 'v1' as const, owner: 'v1' as const },
  { transportName: 'kafkajs' as const, zombie: 'v1' as const, owner: 'v2' as const },
  { transportName: 'platformatic' as const, zombie: 'v2' as const, owner: 'v1' as const },
])(
  'zombie fencing on a real broker ($transportName, exactly-once: zombie $zombie, new owner $owner)',
  ({ transportName, zombie: zombieProtocol, owner: ownerProtocol }) => {
    it('a worker frozen mid-step past its session timeout cannot commit once the new owner fenced it', async () => {
      const { ns, env, t, spawnWorker } = await processScenario('it-zombie', 1, transportName);
      const marker = join(mkdtempSync(join(tmpdir(), 'zombie-')), 'stalled');
      const zombie = spawnWorker(6000, { ZOMBIE_MARKER: marker, DIRIGO_EXACTLY_ONCE: zombieProtocol });
      await produceJson(t, env.ZOMBIE_IN, [{ key: 'z', value: {} }]);
      await waitFor(() => existsSync(marker), 60_000, { intervalMs: 50 });
      zombie.kill('SIGSTOP'); // frozen inside the step: its transaction is not committed
      const app = zombieAppFor(env);
      const owner = await startWorker(app, 'w-owner', transportName, ownerProtocol);
      await waitFor(async () => (await owner.readState('zombie', 'f', 'z', 'n')) === 1, 90_000, {
        intervalMs: 250,
      });
      zombie.kill('SIGCONT'); // the zombie finishes its handler and tries to commit the same step
      await new Promise((r) => setTimeout(r, 6_000));
      const outputs = await readJson<{ n: number }>(t, env.ZOMBIE_OUT);
      expect(outputs.map((o) => o.value.n)).toEqual([1]);
      // The zombie's changelog write was aborted with its transaction: the committed state is the owner's.
      const changelog = await readJson<number>(t, `${ns}.zombie.f.changelog`);
      expect(changelog.map((c) => c.value)).toEqual([1]);
    });
  },
);

describe('graceful stop on a real broker', () => {
  it('SIGTERM finishes in-flight work, commits and leaves the group at once', async () => {
    // A long session timeout: if the worker did not leave the group on SIGTERM, its partitions would wait 60 s.
    const { env, t, spawnWorker } = await processScenario('it-sigterm', 2);
    const readyFile = join(mkdtempSync(join(tmpdir(), 'ready-')), 'ready.json');
    const worker = spawnWorker(60_000, {}, ['--ready-file', readyFile]);
    const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
    // The readiness signal: the file appears once the function joined its group and opened its partitions.
    await waitFor(() => existsSync(readyFile), 60_000, { intervalMs: 50 });
    expect(JSON.parse(readFileSync(readyFile, 'utf8'))).toMatchObject({
      ready: true,
      apps: { zombie: { status: 'running' } },
    });
    await produceJson(
      t,
      env.ZOMBIE_IN,
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 20}`, value: {} })),
    );
    await waitFor(async () => (await readJson(t, env.ZOMBIE_OUT)).length > 0, 60_000, { intervalMs: 200 });
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(readyFile)).toBe(false);
    const app = zombieAppFor(env);
    const began = Date.now();
    await startWorker(app, 'w-after-sigterm');
    await produceJson(
      t,
      env.ZOMBIE_IN,
      Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: {} })),
    );
    await waitFor(async () => (await readJson(t, env.ZOMBIE_OUT)).length === 220, 40_000, {
      intervalMs: 200,
    });
    expect(Date.now() - began).toBeLessThan(40_000);
    // Exactly once across the stop: every key counted to 11, no output twice.
    const outputs = await readJson<{ n: number }>(t, env.ZOMBIE_OUT);
    const last = new Map<string, number>();
    for (const o of outputs) last.set(o.key!, Math.max(last.get(o.key!) ?? 0, o.value.n));
    expect([...last.values()]).toEqual(Array.from({ length: 20 }, () => 11));
  });
});

describe('a worker started through npm', () => {
  it('stops by itself when its parent (npm, npx, a shell) is killed, instead of running on as an orphan', async () => {
    const { env, t } = await processScenario('it-orphan', 1);
    const readyFile = join(mkdtempSync(join(tmpdir(), 'orphan-')), 'ready.json');
    const pidFile = `${readyFile}.pid`;
    // sh stands for npm: it forks node (the trailing `true` keeps sh from exec-ing it) and gets SIGKILLed.
    const command = [
      process.execPath,
      '--conditions=source',
      cli,
      'worker',
      zombieApp,
      '--brokers',
      brokers(),
    ]
      .concat(['--ready-file', readyFile])
      .map((a) => `'${a}'`)
      .join(' ');
    const parent = spawn('sh', ['-c', `${command} & echo $! > '${pidFile}'; wait; true`], {
      env: { ...process.env, ...env, DIRIGO_LOG_LEVEL: 'error', npm_execpath: '/usr/lib/npm/bin/npm-cli.js' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    stopAll.push(async () => {
      parent.kill('SIGKILL');
    });
    await waitFor(() => existsSync(readyFile), 60_000, { intervalMs: 50 });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    stopAll.push(async () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    });
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    parent.kill('SIGKILL');
    await waitFor(() => !alive(), 30_000, { intervalMs: 100 });
    // It stopped gracefully: it left its group, so a new worker gets the partition at once.
    expect(existsSync(readyFile)).toBe(false);
    await produceJson(t, env.ZOMBIE_IN, [{ key: 'k', value: {} }]);
    const app = zombieAppFor(env);
    await startWorker(app, 'w-after-orphan');
    await waitFor(async () => (await readJson(t, env.ZOMBIE_OUT)).length === 1, 30_000, { intervalMs: 200 });
  });
});

async function readDlq(t: ReturnType<typeof kafkaTransport>, topic: string) {
  const admin = await t.admin();
  const out: { stage: string; topic: string; offset: string; error: string }[] = [];
  await t.readToEnd(
    (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records) {
        out.push({
          stage: r.headers['dirigo-error-stage']!.toString(),
          topic: r.headers['dirigo-origin-topic']!.toString(),
          offset: r.headers['dirigo-origin-offset']!.toString(),
          error: r.headers['dirigo-error']!.toString(),
        });
      }
    },
  );
  return out;
}
