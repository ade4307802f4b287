// The container path: when no Java/Maven is there but a container engine answers (Docker, or podman's
// Docker-compatible API), run a Kafka image through testcontainers (an optional peer dependency, loaded only
// here). The image: DIRIGO_KAFKA_IMAGE, else apache/kafka:<version>. Both it and the project's own image
// (docker/kafka.Containerfile) take their settings as KAFKA_<PROPERTY> variables.
//
// Tested in CI on podman (integration-tests/src/containers/testcontainers.test.ts) with the locally built
// image, since no registry can be reached there.

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
import { freeBasePort, waitReady } from './probe.ts';

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

/** Environment of the Kafka image: every property `a.b-c_d` becomes `KAFKA_A_B___C__D`. */
export function imageEnvironment(props: ReadonlyMap<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of props) {
    const name = k.replaceAll('_', '__').replaceAll('-', '___').replaceAll('.', '_').toUpperCase();
    env[`KAFKA_${name}`] = v;
  }
  return env;
}

/** The image the container path runs: DIRIGO_KAFKA_IMAGE, else apache/kafka:<version>. */
export function kafkaImage(version: string): string {
  return process.env.DIRIGO_KAFKA_IMAGE?.trim() || `apache/kafka:${version}`;
}

interface StartedContainer {
  getId(): string;
  stop(): Promise<unknown>;
}

/** Minimal shape of what we use from the `testcontainers` module. */
interface TestcontainersModule {
  Wait: { forListeningPorts(): unknown };
  GenericContainer: new (
    image: string,
  ) => {
    withExposedPorts(...ports: { container: number; host: number }[]): unknown;
    withEnvironment(env: Record<string, string>): unknown;
    withLabels(labels: Record<string, string>): unknown;
    withStartupTimeout(ms: number): unknown;
    withWaitStrategy(strategy: unknown): unknown;
    start(): Promise<StartedContainer>;
  };
}

export interface ContainerKafka {
  readonly brokers: string;
  readonly version: string;
  readonly image: string;
  /** The container's id (for cleanup by id when the process dies before stop()). */
  readonly containerId: string;
  stop(): Promise<void>;
}

/**
 * Starts one Kafka node in a container through testcontainers, its client port published on 127.0.0.1 at the
 * same number (the first free base port from 19092 on, unless `basePort`). Rejects with what to do when no
 * container engine answers, when the testcontainers package is missing, or when the image cannot be started.
 * Without a registry (or Ryuk's image), set TESTCONTAINERS_RYUK_DISABLED=true.
 */
export async function startWithTestcontainers(opts: {
  nodes?: NodeCount;
  basePort?: number;
  version?: string;
  image?: string;
  labels?: Readonly<Record<string, string>>;
  logger?: Logger;
}): Promise<ContainerKafka> {
  if ((opts.nodes ?? 1) !== 1) {
    throw new Error(
      'a container engine is available, but only one Kafka node is supported in a container: install Java 17+ ' +
        'and Maven for three nodes, or set KAFKA_BROKERS',
    );
  }
  if (!(await dockerAvailable())) {
    throw new Error(
      `no container engine answers at ${process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : '/var/run/docker.sock (DOCKER_HOST is not set)'}: ` +
        "start Docker, or podman's Docker-compatible API (`podman system service --time=0 unix:///tmp/podman.sock` " +
        'and DOCKER_HOST=unix:///tmp/podman.sock); or install Java 17+ and Maven; or set KAFKA_BROKERS=host:port',
    );
  }
  const specifier = 'testcontainers';
  let tc: TestcontainersModule;
  try {
    tc = (await import(specifier)) as TestcontainersModule;
  } catch (e) {
    throw new Error(
      'a container engine is available but the optional package testcontainers is not installed: ' +
        '`npm install --save-dev testcontainers@12.2.0`, or install Java 17+ and Maven, or set KAFKA_BROKERS=host:port',
      { cause: e },
    );
  }
  const version = opts.version ?? DEFAULT_KAFKA_VERSION;
  const image = opts.image ?? kafkaImage(version);
  const basePort = opts.basePort ?? (await freeBasePort(1, DEFAULT_BASE_PORT)) ?? DEFAULT_BASE_PORT;
  const [node] = nodePorts(1, basePort);
  const props = brokerProperties({ node: node!, all: [node!], logDir: '/var/lib/kafka/data' });
  // Inside the container the broker listens on every interface; clients on the host use the same port.
  props.set('listeners', `PLAINTEXT://0.0.0.0:${node!.port},CONTROLLER://0.0.0.0:${node!.controllerPort}`);
  props.set('controller.quorum.voters', `1@localhost:${node!.controllerPort}`);
  const container = new tc.GenericContainer(image);
  // Only the client port is exposed (and published): podman reports unpublished exposed ports as null.
  container.withExposedPorts({ container: node!.port, host: node!.port });
  container.withEnvironment({ CLUSTER_ID: randomClusterId(), ...imageEnvironment(props) });
  if (opts.labels) container.withLabels({ ...opts.labels });
  container.withStartupTimeout(180_000);
  // Not the image's HEALTHCHECK, which testcontainers would wait for: podman without systemd never runs it.
  // Readiness proper (metadata from the broker) is checked below.
  container.withWaitStrategy(tc.Wait.forListeningPorts());
  opts.logger?.info({ image, port: node!.port }, 'starting Kafka in a container (testcontainers)');
  let started: StartedContainer;
  try {
    started = await container.start();
  } catch (e) {
    throw new Error(
      `could not start the Kafka image ${image} through testcontainers: ${(e as Error).message}. ` +
        'Without a registry, build the image locally (docker/local/build.sh kafka) and set ' +
        `DIRIGO_KAFKA_IMAGE=localhost/dirigo-kafka:${version}; without Ryuk's image, set TESTCONTAINERS_RYUK_DISABLED=true`,
      { cause: e },
    );
  }
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
    image,
    containerId: started.getId(),
    async stop() {
      await started.stop();
    },
  };
}
