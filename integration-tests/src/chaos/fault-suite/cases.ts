// The fault cases, each on the real broker, each a careless user or a hostile input:
// - the CLI given a bad session timeout, log level or broker list (spawned `dirigo worker` processes);
// - a worker whose only app is stopped by `onError: 'stop'`, and one whose consumers die for good;
// - a graceful stop that cannot finish (a handler that never returns) under a stop deadline;
// - forged load reports on the control topic (in-process workers);
// - two apps with one name in two namespaces, stopped with SIGTERM;
// - the metrics endpoint's address; persistent state's file modes (in-process worker);
// - one bad record, key or handler (record-cases.ts).
// Each returns { ok, lost, duplicated, detail }; `lost`/`duplicated` count outputs where records flow.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type AppDefinition, defineApp, fn, state } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { RECORD_CASES } from './record-cases.ts';
import {
  countOutputs,
  createTopics,
  deleteTopics,
  externalAddress,
  type FaultCaseResult,
  type FaultContext,
  freePort,
  httpStatus,
  produce,
  readOutputs,
  Spawner,
  sleep,
  unique,
  until,
} from './support.ts';

type Outcome = Omit<FaultCaseResult, 'name'>;

export interface FaultCase {
  readonly name: string;
  readonly run: (ctx: FaultContext) => Promise<Outcome>;
}

const pass = (ok: boolean, detail: string, lost = 0, duplicated = 0): Outcome => ({
  ok,
  lost,
  duplicated,
  detail,
});

/** Runs `body` with a spawner and a namespace whose topics are deleted afterwards. */
async function withScope<T>(
  ctx: FaultContext,
  tag: string,
  body: (s: Spawner, ns: string) => Promise<T>,
): Promise<T> {
  const ns = unique(`fault-${tag}`);
  const spawner = new Spawner(ctx, ns);
  try {
    return await body(spawner, ns);
  } finally {
    await spawner.killAll();
    await deleteTopics(ctx.transport, [ns]).catch(() => {});
  }
}

/** A CLI given `args` (and `env`) must exit 2 at once, naming `flag`, with no stack and no 'worker running'. */
function usageCase(
  name: string,
  args: string[],
  env: Record<string, string>,
  flag: string,
  brokers = true,
): FaultCase {
  return {
    name,
    run: (ctx) =>
      withScope(ctx, 'cli', async (spawner, ns) => {
        const began = Date.now();
        const p = spawner.spawn(
          [...args, '--control-topic', `${ns}.control`],
          { FAULT_NS: ns, FAULT_IN: `${ns}-in`, FAULT_OUT: `${ns}-out`, ...env },
          brokers,
        );
        const exit = await p.waitExit(15_000);
        const ms = Date.now() - began;
        const log = p.log();
        const firstLine = log.split('\n').find((l) => l.trim().length > 0) ?? '';
        if (exit === undefined) {
          return pass(
            false,
            `still running after 15 s${p.hasLine('worker running') ? " (it logged 'worker running')" : ''}; first line: ${firstLine.slice(0, 200)}`,
          );
        }
        const problems: string[] = [];
        if (exit.code !== 2) problems.push(`exit code ${exit.code ?? exit.signal}, not 2`);
        if (!log.includes(flag)) problems.push(`the message does not name ${flag}`);
        if (log.includes('    at ')) problems.push('a stack trace was printed');
        if (log.includes('worker running')) problems.push("it logged 'worker running'");
        return pass(
          problems.length === 0,
          `${problems.join('; ') || 'exit 2'} after ${ms} ms: ${firstLine.slice(0, 200)}`,
        );
      }),
  };
}

const appStoppedCase: FaultCase = {
  name: "app stopped by onError 'stop': not live, not ready, exit 1",
  run: (ctx) =>
    withScope(ctx, 'stop', async (spawner, ns) => {
      const input = `${ns}-in`;
      await createTopics(ctx.transport, [input], 1);
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const p = spawner.spawn(
        ['--metrics-port', String(port), '--session-timeout-ms', '6000', '--control-topic', `${ns}.control`],
        { FAULT_APP: 'stopper', FAULT_NS: ns, FAULT_IN: input },
      );
      if (!(await until(async () => (await httpStatus(`${base}/readyz`)) === 200, 60_000))) {
        return pass(false, `never ready (/readyz ${await httpStatus(`${base}/readyz`)})`);
      }
      await produce(ctx.transport, input, [{ key: 'k', value: 'poison' }]);
      let healthz: number | string = 0;
      let readyz: number | string = 0;
      const sawBoth503 = await until(async () => {
        healthz = await httpStatus(`${base}/healthz`);
        readyz = await httpStatus(`${base}/readyz`);
        return healthz === 503 && readyz === 503;
      }, 20_000);
      const exit = await p.waitExit(30_000);
      const why = p.hasLine('no app is running on this worker');
      const ok = sawBoth503 && exit?.code === 1 && why;
      return pass(
        ok,
        `/healthz ${healthz}, /readyz ${readyz} after the app stopped; ${exit === undefined ? 'still running 30 s later' : `exit ${exit.code ?? exit.signal}`}${why ? ", logged 'no app is running on this worker'" : ', no log line saying why'}`,
      );
    }),
};

const consumersDeadCase: FaultCase = {
  name: 'every consumer dead for good: not live, exit 1',
  run: (ctx) =>
    withScope(ctx, 'dead', async (spawner, ns) => {
      const input = `${ns}-in`;
      await createTopics(ctx.transport, [input], 1);
      const port = await freePort();
      // Above the broker's group.max.session.timeout.ms (default 30 min): every JoinGroup is refused with
      // INVALID_SESSION_TIMEOUT, a non-retriable error, and kafkajs stops the consumer for good.
      const p = spawner.spawn(
        [
          '--session-timeout-ms',
          '1900000',
          '--assignment-timeout-ms',
          '3000',
          '--metrics-port',
          String(port),
          '--control-topic',
          `${ns}.control`,
        ],
        { FAULT_NS: ns, FAULT_IN: input, FAULT_OUT: `${ns}-out` },
      );
      let saw503 = false;
      const exit = await Promise.race([
        p.waitExit(60_000),
        (async () => {
          while (p.running) {
            if ((await httpStatus(`http://127.0.0.1:${port}/healthz`)) === 503) saw503 = true;
            await sleep(100);
          }
          return p.waitExit(1);
        })(),
      ]);
      const dead = p.hasLine("app 'fc' stopped: the consumer of 'f'");
      const why = p.hasLine('no app is running on this worker');
      const crashed =
        p.log().includes('INVALID_SESSION_TIMEOUT') || p.log().includes('session timeout is not within');
      return pass(
        saw503 && exit?.code === 1 && dead && why,
        `${crashed ? 'the broker refused the session timeout (kafkajs stopped for good); ' : ''}${dead ? 'the app failed for want of an assignment; ' : 'the app was never failed; '}/healthz ${saw503 ? 'answered 503' : 'never answered 503'}; ${exit === undefined ? 'still running after 60 s' : `exit ${exit.code ?? exit.signal}`}`,
      );
    }),
};

const stopDeadlineCase: FaultCase = {
  name: 'graceful stop deadline: a handler that never returns',
  run: (ctx) =>
    withScope(ctx, 'deadline', async (spawner, ns) => {
      const input = `${ns}-in`;
      const output = `${ns}-out`;
      await createTopics(ctx.transport, [input], 1);
      const dir = mkdtempSync(join(tmpdir(), 'fault-deadline-'));
      try {
        const marker = join(dir, 'hung');
        const env = { FAULT_NS: ns, FAULT_IN: input, FAULT_OUT: output };
        const common = ['--session-timeout-ms', '6000', '--control-topic', `${ns}.control`];
        const a = spawner.spawn([...common, '--stop-timeout-ms', '3000'], {
          ...env,
          FAULT_HANG_MARKER: marker,
        });
        const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
        await produce(
          ctx.transport,
          input,
          keys.map((key) => ({ key, value: 1 })),
        );
        if (!(await until(() => statSync(marker, { throwIfNoEntry: false }) !== undefined, 60_000))) {
          return pass(false, 'the handler never started');
        }
        const stoppedAt = Date.now();
        a.child.kill('SIGTERM');
        const exit = await a.waitExit(15_000);
        const tookMs = Date.now() - stoppedAt;
        const line = a
          .lines()
          .find((l) => String(l.msg).startsWith('the graceful stop did not finish within 3000 ms'));
        const still = JSON.stringify(line?.stillRunning ?? null);
        // The next owner takes the partition once the session times out, and processes every record once.
        const b = spawner.spawn(common, env);
        const done = await until(
          async () => (await readOutputs(ctx.transport, output)).length >= keys.length,
          60_000,
          500,
        );
        b.child.kill('SIGTERM');
        const bExit = await b.waitExit(30_000);
        await sleep(500);
        const outputs = await readOutputs<{ n: number }>(ctx.transport, output);
        const { lost, duplicated } = countOutputs(outputs, new Map(keys.map((k) => [k, 1])));
        const ok =
          exit?.code === 1 &&
          tookMs < 9_000 &&
          line !== undefined &&
          still.includes('"fn":"f"') &&
          done &&
          bExit?.code === 0;
        return pass(
          ok && lost === 0 && duplicated === 0,
          `${exit === undefined ? 'still running 15 s after SIGTERM' : `exit ${exit.code ?? exit.signal} ${tookMs} ms after SIGTERM`}; still running then: ${still}; the next worker wrote ${outputs.length} outputs for ${keys.length} records and stopped with ${bExit?.code ?? 'no exit'}`,
          lost,
          duplicated,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
};

/** Control messages a worker skipped (0 when it cannot tell). */
function skippedBy(w: Worker): number {
  const stats = (w as { controlStats?: () => { unknown: number } | undefined }).controlStats;
  return typeof stats === 'function' ? (stats.call(w)?.unknown ?? 0) : 0;
}

const forgedReportsCase: FaultCase = {
  name: 'forged load reports on the control topic',
  run: (ctx) =>
    withScope(ctx, 'forge', async (_spawner, ns) => {
      const input = `${ns}-in`;
      const controlTopic = `${ns}.control`;
      await createTopics(ctx.transport, [input], 1);
      const app = defineApp({
        name: 'noop',
        options: { namespace: ns },
        ingresses: [{ topic: input, to: 'f' }],
        functions: { f: fn({ handler() {} }) },
      });
      const periodMs = 200;
      const workers = ['a', 'b'].map(
        (id) =>
          new Worker({
            transport: ctx.transport,
            apps: [app],
            workerId: `${ns}-${id}`,
            controlTopic,
            loadReportIntervalMs: periodMs,
            sessionTimeoutMs: 6_000,
            logger: ctx.logger.child({ case: 'forge', worker: id }, { level: 'error' }), // the skips are expected
          }),
      );
      const [a, b] = workers as [Worker, Worker];
      try {
        for (const w of workers) await w.start();
        if (
          !(await until(
            () => a.peers().some((p) => p.id === b.id) && b.peers().some((p) => p.id === a.id),
            30_000,
          ))
        ) {
          return pass(false, 'the workers never saw each other');
        }
        await sleep(3 * periodMs); // a few reports each: established peers
        const future = Date.now() + 365 * 24 * 3600 * 1000;
        const flood = Array.from({ length: 1500 }, (_, i) => `${ns}-ghost-${i}`);
        const report = (worker: string, extra: Record<string, unknown> = {}) => ({
          v: 1,
          type: 'load',
          worker,
          at: future,
          queued: 0,
          inFlight: 0,
          utilisation: 0,
          ...extra,
        });
        const producer = ctx.transport.producer({ clientId: `${ns}-forger` });
        await producer.connect();
        const forged = [
          { key: 'mallory', value: report(b.id, { queued: 999_999, at: Date.now() }) },
          { key: b.id, value: report(b.id, { queued: 999_999, at: Date.now(), incarnation: 'forged' }) },
          { key: b.id, value: report(b.id, { queued: 999_999, at: Date.now() }) },
        ];
        const before = skippedBy(a) + skippedBy(b);
        await producer.send(
          [...flood.map((id) => ({ key: id, value: report(id) })), ...forged].map((r) => ({
            topic: controlTopic,
            key: Buffer.from(r.key),
            value: Buffer.from(JSON.stringify(r.value)),
          })),
        );
        await producer.disconnect();
        let maxPeers = 0;
        let forgedSeen = false;
        const sample = () => {
          for (const w of workers) maxPeers = Math.max(maxPeers, w.peers().length);
          if (a.peers().some((p) => p.id === b.id && p.queued === 999_999)) forgedSeen = true;
        };
        const floodSeen = await until(
          () => {
            sample();
            return a.peers().some((p) => p.id.startsWith(`${ns}-ghost-`));
          },
          10_000,
          20,
        );
        const receivedAt = Date.now();
        // Five report periods after their receipt, the ghosts (whatever `at` they claimed) are gone.
        const expired = await until(
          () => {
            sample();
            return floodSeen && !a.peers().some((p) => p.id.startsWith(`${ns}-ghost-`));
          },
          5 * periodMs + 5_000,
          20,
        );
        const expiredAfterMs = Date.now() - receivedAt;
        for (let i = 0; i < 10; i++) {
          sample();
          await sleep(50);
        }
        const skipped = skippedBy(a) + skippedBy(b) - before;
        const running = workers.every((w) => w.state === 'running');
        const bStill = a.peers().some((p) => p.id === b.id);
        return pass(
          floodSeen &&
            expired &&
            maxPeers <= 1024 &&
            !forgedSeen &&
            skipped >= forged.length &&
            running &&
            bStill,
          `${flood.length} reports with an 'at' a year ahead: at most ${maxPeers} peers held, ${expired ? `gone ${expiredAfterMs} ms after receipt` : 'never expired'}; the forged reports for a live worker were ${forgedSeen ? 'ACCEPTED' : 'rejected'} (${skipped} skipped and counted); the real peer ${bStill ? 'is still seen' : 'was lost'}; workers ${running ? 'running' : 'not running'}`,
        );
      } finally {
        for (const w of workers) await w.stop().catch(() => {});
      }
    }),
};

const twinsCase: FaultCase = {
  name: 'same app name in two namespaces: both run and both stop gracefully',
  run: (ctx) =>
    withScope(ctx, 'twins', async (spawner, ns) => {
      const env = {
        FAULT_APP: 'twins',
        FAULT_NS: ns,
        FAULT_IN_A: `${ns}-in-a`,
        FAULT_IN_B: `${ns}-in-b`,
        FAULT_OUT_A: `${ns}-out-a`,
        FAULT_OUT_B: `${ns}-out-b`,
      };
      await createTopics(ctx.transport, [env.FAULT_IN_A, env.FAULT_IN_B], 2);
      const dir = mkdtempSync(join(tmpdir(), 'fault-twins-'));
      try {
        // A long session timeout: a group the stopping worker did not leave holds its partitions for 30 s.
        const common = ['--session-timeout-ms', '30000', '--control-topic', `${ns}.control`];
        const readyA = join(dir, 'a.ready');
        const port = await freePort();
        const a = spawner.spawn([...common, '--ready-file', readyA, '--metrics-port', String(port)], env);
        if (!(await until(() => statSync(readyA, { throwIfNoEntry: false }) !== undefined, 60_000))) {
          return pass(false, 'the first worker never got ready');
        }
        // Its health lists both apps, each under its qualified id.
        const health = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { apps: object };
        const healthKeys = Object.keys(health.apps).sort().join(',');
        const bothInHealth = healthKeys === `${ns}-a.twin,${ns}-b.twin`;
        const keys = Array.from({ length: 10 }, (_, i) => `t${i}`);
        const feed = async () => {
          await produce(
            ctx.transport,
            env.FAULT_IN_A,
            keys.map((key) => ({ key, value: 1 })),
          );
          await produce(
            ctx.transport,
            env.FAULT_IN_B,
            keys.map((key) => ({ key, value: 1 })),
          );
        };
        const outputs = async () => [
          await readOutputs<{ n: number }>(ctx.transport, env.FAULT_OUT_A).catch(() => []),
          await readOutputs<{ n: number }>(ctx.transport, env.FAULT_OUT_B).catch(() => []),
        ];
        await feed();
        const firstDone = await until(
          async () => (await outputs()).every((o) => o.length >= keys.length),
          60_000,
          500,
        );
        a.child.kill('SIGTERM');
        const exit = await a.waitExit(30_000);
        const stoppedBoth =
          a
            .lines()
            .filter((l) => l.msg === 'app stopped' && l.failed === false)
            .map((l) => String(l.namespace))
            .sort()
            .join(',') === `${ns}-a,${ns}-b`;
        // The next worker must get both apps' partitions at once: within 20 s, well under the session timeout.
        const startedB = Date.now();
        spawner.spawn(common, env);
        await feed();
        const secondDone = await until(
          async () => (await outputs()).every((o) => o.length >= 2 * keys.length),
          20_000,
          500,
        );
        const secondMs = Date.now() - startedB;
        await sleep(500);
        const [outA, outB] = await outputs();
        const expected = new Map(keys.map((k) => [k, 2]));
        const ca = countOutputs(outA!, expected);
        const cb = countOutputs(outB!, expected);
        const lost = ca.lost + cb.lost;
        const duplicated = ca.duplicated + cb.duplicated;
        return pass(
          bothInHealth &&
            firstDone &&
            exit?.code === 0 &&
            stoppedBoth &&
            secondDone &&
            lost === 0 &&
            duplicated === 0,
          `first worker: health lists ${bothInHealth ? 'both apps' : `only [${healthKeys}]`}, ${firstDone ? 'both apps processed' : 'outputs missing'}, SIGTERM -> ${exit === undefined ? 'no exit' : `exit ${exit.code ?? exit.signal}`}, ${stoppedBoth ? 'both apps stopped' : 'NOT both apps logged a graceful stop'}; the next worker ${secondDone ? `processed both apps within ${secondMs} ms` : `had not processed both apps after ${secondMs} ms (a group was not left)`}`,
          lost,
          duplicated,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
};

const metricsHostCase: FaultCase = {
  name: 'metrics endpoint: loopback by default, --metrics-host to open it',
  run: (ctx) =>
    withScope(ctx, 'metrics', async (spawner, ns) => {
      const input = `${ns}-in`;
      await createTopics(ctx.transport, [input], 1);
      const env = { FAULT_NS: ns, FAULT_IN: input, FAULT_OUT: `${ns}-out` };
      const common = ['--session-timeout-ms', '6000', '--control-topic', `${ns}.control`];
      const [p1, p2] = [await freePort('0.0.0.0'), await freePort('0.0.0.0')];
      const closed = spawner.spawn([...common, '--metrics-port', String(p1)], env);
      const open = spawner.spawn([...common, '--metrics-port', String(p2), '--metrics-host', '0.0.0.0'], env);
      const up = await until(
        async () =>
          (await httpStatus(`http://127.0.0.1:${p1}/healthz`)) === 200 &&
          (await httpStatus(`http://127.0.0.1:${p2}/healthz`)) === 200,
        60_000,
        250,
      );
      const listening = closed.lines().find((l) => l.msg === 'metrics endpoint listening');
      const ext = externalAddress();
      if (ext === undefined) {
        return pass(
          up && listening?.host === '127.0.0.1',
          `no non-loopback interface to test from; the default endpoint listens on ${String(listening?.host)}`,
        );
      }
      const fromOutsideDefault = await httpStatus(`http://${ext}:${p1}/metrics`);
      const fromOutsideOpen = await httpStatus(`http://${ext}:${p2}/metrics`);
      return pass(
        up && listening?.host === '127.0.0.1' && fromOutsideDefault !== 200 && fromOutsideOpen === 200,
        `default: listens on ${String(listening?.host)}, from ${ext}: ${fromOutsideDefault}; --metrics-host 0.0.0.0, from ${ext}: ${fromOutsideOpen}${up ? '' : ' (an endpoint never came up)'}${open.running ? '' : `; the worker given --metrics-host exited: ${open.log().split('\n')[0]?.slice(0, 160)}`}`,
      );
    }),
};

const stateModesCase: FaultCase = {
  name: 'persistent state directories 0700, files 0600 (umask 000)',
  run: (ctx) =>
    withScope(ctx, 'modes', async (_spawner, ns) => {
      const input = `${ns}-in`;
      const output = `${ns}-out`;
      await createTopics(ctx.transport, [input], 2);
      const root = mkdtempSync(join(tmpdir(), 'fault-modes-'));
      const stateDir = join(root, 'state');
      const app: AppDefinition = defineApp({
        name: 'pers',
        options: { namespace: ns, store: 'persistent', stateDir },
        ingresses: [{ topic: input, to: 'f' }],
        egresses: { out: { topic: output, partitions: 1 } },
        functions: {
          f: fn({
            state: { n: state.value<number>() },
            handler(ctx2) {
              const n = (ctx2.state.n.get() ?? 0) + 1;
              ctx2.state.n.set(n);
              ctx2.emit('out', ctx2.key, { n });
            },
          }),
        },
      });
      const umask = process.umask(0o000);
      const worker = new Worker({
        transport: ctx.transport,
        apps: [app],
        workerId: `${ns}-w`,
        controlTopic: `${ns}.control`,
        sessionTimeoutMs: 6_000,
        logger: ctx.logger.child({ case: 'modes' }),
      });
      try {
        await worker.start();
        const keys = ['a', 'b', 'c', 'd', 'e'];
        await produce(
          ctx.transport,
          input,
          keys.map((key) => ({ key, value: 1 })),
        );
        const done = await until(
          async () => (await readOutputs(ctx.transport, output)).length >= keys.length,
          60_000,
          250,
        );
        await worker.stop();
        const outputs = await readOutputs<{ n: number }>(ctx.transport, output);
        const { lost, duplicated } = countOutputs(outputs, new Map(keys.map((k) => [k, 1])));
        const wrong: string[] = [];
        let checked = 0;
        const walk = (d: string) => {
          for (const e of readdirSync(d, { withFileTypes: true })) {
            const p = join(d, e.name);
            const mode = statSync(p).mode & 0o777;
            const want = e.isDirectory() ? 0o700 : 0o600;
            checked++;
            if (mode !== want) wrong.push(`${relative(root, p)} ${mode.toString(8)}`);
            if (e.isDirectory()) walk(p);
          }
        };
        const stateMode = statSync(stateDir).mode & 0o777;
        if (stateMode !== 0o700) wrong.push(`state ${stateMode.toString(8)}`);
        walk(stateDir);
        return pass(
          done && wrong.length === 0 && checked > 0 && lost === 0 && duplicated === 0,
          `${checked} paths under the state directory${wrong.length === 0 ? ', all 0700 (directories) / 0600 (files)' : `; readable by others: ${wrong.slice(0, 6).join(', ')}${wrong.length > 6 ? ', ...' : ''}`}`,
          lost,
          duplicated,
        );
      } finally {
        process.umask(umask);
        await worker.stop().catch(() => {});
        rmSync(root, { recursive: true, force: true });
      }
    }),
};

/** Every case of the suite, in order. */
export const FAULT_CASES: readonly FaultCase[] = [
  usageCase('cli: --session-timeout-ms abc', ['--session-timeout-ms', 'abc'], {}, '--session-timeout-ms'),
  usageCase('cli: --log-level verbose', ['--log-level', 'verbose'], {}, '--log-level'),
  usageCase('cli: --brokers host without a port', ['--brokers', 'localhost'], {}, '--brokers', false),
  usageCase(
    'cli: KAFKA_BROKERS host without a port',
    [],
    { KAFKA_BROKERS: 'localhost' },
    'KAFKA_BROKERS',
    false,
  ),
  appStoppedCase,
  consumersDeadCase,
  stopDeadlineCase,
  forgedReportsCase,
  twinsCase,
  metricsHostCase,
  stateModesCase,
  ...RECORD_CASES,
];

/** Runs one case; an exception is a failed case whose detail is the error. */
export async function runFaultCase(c: FaultCase, ctx: FaultContext): Promise<FaultCaseResult> {
  const began = Date.now();
  try {
    const r = await c.run(ctx);
    return { name: c.name, ...r, detail: `${r.detail} (${Math.round((Date.now() - began) / 100) / 10} s)` };
  } catch (e) {
    return {
      name: c.name,
      ok: false,
      lost: 0,
      duplicated: 0,
      detail: `error: ${(e as Error).stack ?? String(e)}`,
    };
  }
}
