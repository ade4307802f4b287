// The Docker fallback: when no Java/Maven is there but a Docker engine answers, run the apache/kafka image
// through testcontainers (an optional peer dependency, loaded only here).
//
// Unverified: the development machines have no Docker engine, so this path has not been run.

import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { Logger } from '@dirigo/core';
import {
  brokerProperties,
  DEFAULT_BASE_PORT,
  DEFAULT_KAFKA_VERSION,
  HOST,
  type NodeCount,
  nodePorts,
  randomClusterId,
} from './config.ts';
import { waitReady } from './probe.ts';

/** Where the Docker engine API is: DOCKER_HOST (unix:// or tcp://) or the default unix socket. */
function dockerEndpoint(): { socketPath: string } | { host: string; port: number } | undefined {
  const env = process.env.DOCKER_HOST;
  if (env?.startsWith('unix://')) return { socketPath: env.slice('unix://'.length) };
  if (env?.startsWith('tcp://')) {
    const url = new URL(env.replace(/^tcp:/, 'http:'));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  if (env) return undefined;
  const sock = '/var/run/docker.sock';
  return existsSync(sock) ? { socketPath: sock } : undefined;
}

/** Whether a Docker engine answers its `/_ping` within `timeoutMs`. */
export function dockerAvailable(timeoutMs = 2000): Promise<boolean> {
  const endpoint = dockerEndpoint();
  if (!endpoint) return Promise.resolve(false);
  return new Promise((resolvePromise) => {
    const req = request({ ...endpoint, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolvePromise(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolvePromise(false));
    req.end();
  });
}

/** Environment of the apache/kafka image: every property `a.b.c` becomes `KAFKA_A_B_C`. */
export function imageEnvironment(props: ReadonlyMap<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of props) {
    const name = k.replaceAll('_', '__').replaceAll('-', '___').replaceAll('.', '_').toUpperCase();
    env[`KAFKA_${name}`] = v;
  }
  return env;
}

interface StartedContainer {
  stop(): Promise<unknown>;
}

/** Minimal shape of what we use from the `testcontainers` module. */
interface TestcontainersModule {
  GenericContainer: new (
    image: string,
  ) => {
    withExposedPorts(...ports: { container: number; host: number }[]): unknown;
    withEnvironment(env: Record<string, string>): unknown;
    withStartupTimeout(ms: number): unknown;
    start(): Promise<StartedContainer>;
  };
}

export async function startWithTestcontainers(opts: {
  nodes?: NodeCount;
  basePort?: number;
  version?: string;
  logger?: Logger;
}): Promise<{ brokers: string; version: string; stop(): Promise<void> }> {
  if ((opts.nodes ?? 1) !== 1) {
    throw new Error(
      'a Docker engine is available, but only one Kafka node is supported under Docker: install Java 17+ ' +
        'and Maven for three nodes, or set KAFKA_BROKERS',
    );
  }
  const specifier = 'testcontainers';
  let tc: TestcontainersModule;
  try {
    tc = (await import(specifier)) as TestcontainersModule;
  } catch (e) {
    throw new Error(
      'a Docker engine is available but the optional package testcontainers is not installed: ' +
        '`npm install --save-dev testcontainers@12.2.0`, or install Java 17+ and Maven, or set KAFKA_BROKERS=host:port',
      { cause: e },
    );
  }
  const version = opts.version ?? DEFAULT_KAFKA_VERSION;
  const [node] = nodePorts(1, opts.basePort ?? DEFAULT_BASE_PORT);
  const props = brokerProperties({ node: node!, all: [node!], logDir: '/var/lib/kafka/data' });
  // Inside the container the broker listens on every interface; clients on the host use the same port.
  props.set('listeners', `PLAINTEXT://0.0.0.0:${node!.port},CONTROLLER://0.0.0.0:${node!.controllerPort}`);
  props.set('controller.quorum.voters', `1@localhost:${node!.controllerPort}`);
  const container = new tc.GenericContainer(`apache/kafka:${version}`);
  container.withExposedPorts({ container: node!.port, host: node!.port });
  container.withEnvironment({ CLUSTER_ID: randomClusterId(), ...imageEnvironment(props) });
  container.withStartupTimeout(180_000);
  opts.logger?.info({ image: `apache/kafka:${version}` }, 'starting Kafka in Docker (testcontainers)');
  const started = await container.start();
  const brokers = `${HOST}:${node!.port}`;
  try {
    await waitReady({ nodes: new Map([[1, brokers]]), timeoutMs: 120_000 });
  } catch (e) {
    await started.stop().catch(() => undefined);
    throw e;
  }
  return {
    brokers,
    version,
    async stop() {
      await started.stop();
    },
  };
}
