// Helpers of the container tests: podman with the project's containers.conf, podman-compose, free ports, and
// clean-up by the ids (labels) this run started. See docker/README.md for what they test.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The environment podman runs with: the project's containers.conf unless CONTAINERS_CONF is set. */
export function podmanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? join(ROOT, 'docker/podman/containers.conf'),
    ...extra,
  };
}

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (never throws). */
export function run(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(
      file,
      args,
      {
        env: opts.env ?? podmanEnv(),
        cwd: opts.cwd ?? ROOT,
        timeout: opts.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** `podman <args>`; rejects with its output unless it exits 0. Resolves with stdout, trimmed. */
export async function podman(args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await run('podman', args, timeoutMs === undefined ? {} : { timeoutMs });
  if (r.code !== 0) {
    throw new Error(`podman ${args.join(' ')} exited ${String(r.code)}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout.trim();
}

/** The podman-compose to use: PODMAN_COMPOSE, else the one CI installs under .cache, else PATH. */
export function podmanCompose(): string {
  if (process.env.PODMAN_COMPOSE) return process.env.PODMAN_COMPOSE;
  const cached = join(ROOT, '.cache/containers/venv/bin/podman-compose');
  return existsSync(cached) ? cached : 'podman-compose';
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePromise(port));
    });
  });
}

/** Two consecutive free ports (Kafka's client and controller ports). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port < 65_535 && (await isFree(port + 1))) return port;
  }
  throw new Error('no two consecutive free ports on 127.0.0.1');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

/** Ids of the containers (running or not) that carry a label `key=value`. */
export async function containersLabelled(label: string): Promise<string[]> {
  const out = await podman(['ps', '-a', '-q', '--filter', `label=${label}`]);
  return out === '' ? [] : out.split('\n');
}

/** Removes, by id, every container that carries the label (what this run started). */
export async function removeLabelled(label: string): Promise<void> {
  const ids = await containersLabelled(label);
  if (ids.length > 0) await podman(['rm', '-f', '-v', '-t', '5', ...ids]);
}

/** Docker-compatible API of podman on a socket of its own, ended by pid in stop(). */
export async function startPodmanService(
  dir: string,
): Promise<{ dockerHost: string; stop(): Promise<void> }> {
  const socket = join(dir, 'podman.sock');
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], {
    env: podmanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`podman system service did not open ${socket}:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    dockerHost: `unix://${socket}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
