// docker/compose.yaml under podman-compose: the Kafka image, two workers of the worker image running the
// word-count example, and the demo, which feeds lines and checks the counts. Then what the worker image
// promises (non-root, production dependencies only, healthy, Prometheus metrics) and the documented shutdown:
// workers first, each stopping gracefully on SIGTERM as process 1, then `down`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  containersLabelled,
  freePort,
  freePortPair,
  podman,
  podmanCompose,
  podmanEnv,
  ROOT,
  removeLabelled,
  run,
} from './podman.ts';

const project = `dirigo-it-${Date.now().toString(36)}`;
const composeFile = join(ROOT, 'docker/compose.yaml');
let env: NodeJS.ProcessEnv;
let ports: { kafka: number; worker1: number; worker2: number };

const compose = async (...args: string[]) => {
  const r = await run(
    podmanCompose(),
    [`--podman-run-args=--label ${inject('runLabel')}`, '-p', project, '-f', composeFile, ...args],
    { env, timeoutMs: 300_000 },
  );
  if (r.code !== 0)
    throw new Error(`podman-compose ${args.join(' ')} exited ${String(r.code)}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
};
const container = (service: string) => `${project}_${service}_1`;
const inspect = async (name: string, format: string) => podman(['inspect', name, '--format', format]);
/** A container's output: podman prints what it wrote to stderr (the worker's logs) on its own stderr. */
const logsOf = async (name: string) => {
  const r = await run('podman', ['logs', name]);
  return `${r.stdout}${r.stderr}`;
};

beforeAll(async () => {
  const kafka = await freePortPair();
  ports = { kafka, worker1: await freePort(), worker2: await freePort() };
  env = podmanEnv({
    DIRIGO_WORKER_IMAGE: inject('workerImage'),
    DIRIGO_KAFKA_IMAGE: inject('kafkaImage'),
    KAFKA_PORT: String(kafka),
    KAFKA_CONTROLLER_PORT: String(kafka + 1),
    WORKER_1_METRICS_PORT: String(ports.worker1),
    WORKER_2_METRICS_PORT: String(ports.worker2),
    DEMO_LINES: '2000',
  });
  await compose('up', '-d');
}, 300_000);

afterAll(async () => {
  // Whatever a failed test left: stop the workers first, then down; then anything labelled by this run.
  await run(podmanCompose(), ['-p', project, '-f', composeFile, 'stop', 'worker-1', 'worker-2'], { env });
  await run(podmanCompose(), ['-p', project, '-f', composeFile, 'down', '-v'], { env });
  await removeLabelled(`io.podman.compose.project=${project}`);
});

describe('docker/compose.yaml under podman-compose', () => {
  it('runs Kafka, two workers and the demo, whose counts come out right', async () => {
    const code = await podman(['wait', container('demo')], 240_000);
    const logs = await logsOf(container('demo'));
    expect(logs, logs).toContain('demo: fed 2000 lines with 6000 words');
    expect(logs).toMatch(/demo: all 12 counts right after/);
    expect(code).toBe('0');
  });

  it('the workers: non-root, production dependencies only, healthy, Prometheus metrics on the ports of prometheus.yml', async () => {
    expect(await podman(['exec', container('worker-1'), 'id', '-u'])).toBe('10001');
    // Process 1 is node itself (the entrypoint script execs it), so it gets SIGTERM.
    const pid1 = await podman(['exec', container('worker-1'), 'cat', '/proc/1/cmdline']);
    expect(pid1.split('\0').slice(0, 3)).toEqual(['node', '/opt/dirigo/sdk/runtime/bin/dirigo.js', 'worker']);
    const modules = (await podman(['exec', container('worker-1'), 'ls', '/opt/dirigo/node_modules'])).split(
      '\n',
    );
    expect(modules).toEqual(
      expect.arrayContaining(['kafkajs', '@platformatic', 'lmdb', 'prom-client', '@dirigo']),
    );
    for (const dev of ['typescript', 'vitest', '@biomejs', 'node', 'testcontainers'])
      expect(modules).not.toContain(dev);
    // The image's own HEALTHCHECK (podman runs it on demand here: no systemd timers in this VM).
    const check = await run('podman', ['healthcheck', 'run', container('worker-2')]);
    expect(check.code, `${check.stdout}${check.stderr}`).toBe(0);
    for (const port of [ports.worker1, ports.worker2]) {
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^dirigo_/m);
    }
    // prometheus.yml scrapes the workers at compose's default metrics ports.
    const scrape = readFileSync(join(ROOT, 'docker/prometheus.yml'), 'utf8');
    const yaml = readFileSync(composeFile, 'utf8');
    const defaults = [...yaml.matchAll(/WORKER_\d_METRICS_PORT:-(\d+)/g)].map((m) => `127.0.0.1:${m[1]}`);
    expect(defaults).toHaveLength(2);
    expect(scrape).toContain(`targets: [${defaults.map((t) => `"${t}"`).join(', ')}]`);
  });

  it('shuts down in order: the workers first, each gracefully on SIGTERM as process 1, then down', async () => {
    const began = Date.now();
    await compose('stop', 'worker-1', 'worker-2');
    const stopMs = Date.now() - began;
    for (const service of ['worker-1', 'worker-2']) {
      expect(await inspect(container(service), '{{.State.ExitCode}} {{.State.Running}}')).toBe('0 false');
      const logs = await logsOf(container(service));
      expect(logs).toContain('"msg":"stopping on signal"');
      expect(logs).toContain('"msg":"worker stopped"');
    }
    // A graceful stop, not podman's SIGKILL after the grace period.
    expect(stopMs).toBeLessThan(30_000);
    expect(await inspect(container('kafka'), '{{.State.Running}}')).toBe('true');
    await compose('down', '-v');
    expect(await containersLabelled(`io.podman.compose.project=${project}`)).toEqual([]);
  });
});
