// ensureKafka: a broker for tests, from the first source that can give one.
//   1. KAFKA_BROKERS (an existing cluster; wins over everything)
//   2. a cluster started by `npm run kafka -- start` that still runs
//   3. a local cluster: Java 17+ and Maven (or an already fetched Kafka)
//   4. a container engine (Docker, or podman's Docker-compatible API) through testcontainers
// and otherwise an Error that says what to install or set.
import type { Logger } from '@dirigo/core';
import { type KafkaCluster, type StartKafkaOptions, startKafka } from './cluster.ts';
import { DEFAULT_BASE_PORT, DEFAULT_KAFKA_VERSION } from './config.ts';
import { dockerAvailable, startWithTestcontainers } from './docker.ts';
import { cachedKafka } from './fetch.ts';
import { freeBasePort, waitAnswer, waitReady } from './probe.ts';
import { runningCluster } from './status.ts';
import { hasMaven, javaCommand, javaVersion } from './tools.ts';

export type KafkaSource = 'env' | 'running' | 'local' | 'testcontainers';

export interface EnsuredKafka {
  /** Bootstrap servers, comma-separated host:port. */
  readonly brokers: string;
  /** The Kafka version, or 'unknown' for KAFKA_BROKERS without KAFKA_VERSION. */
  readonly version: string;
  readonly source: KafkaSource;
  /** The cluster when this call started it locally (source 'local'): for fault tests (stopNode/startNode). */
  readonly cluster?: KafkaCluster;
  /** Stops what this call started; a no-op for 'env' and 'running'. */
  stop(): Promise<void>;
}

export interface EnsureKafkaOptions extends StartKafkaOptions {
  /** How long an existing cluster (KAFKA_BROKERS or the CLI's) may take to answer (default 30 s). */
  readonly connectTimeoutMs?: number;
  /** Labels of the container, when the container path (testcontainers) starts one. */
  readonly containerLabels?: Readonly<Record<string, string>>;
}

/** Splits `a:1, b:2` into addresses, rejecting anything that is not host:port. */
export function parseBrokers(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const b of list) {
    if (!/^[^\s:]+:\d+$/.test(b) && !/^\[[0-9a-fA-F:.]+\]:\d+$/.test(b)) {
      throw new Error(`KAFKA_BROKERS must be host:port[,host:port...], got "${value}"`);
    }
  }
  if (list.length === 0) throw new Error('KAFKA_BROKERS is set but empty');
  return list;
}

export async function ensureKafka(opts: EnsureKafkaOptions = {}): Promise<EnsuredKafka> {
  const logger: Logger | undefined = opts.logger;
  const nodes = opts.nodes ?? 1;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 30_000;
  const noop = async () => undefined;

  const envBrokers = process.env.KAFKA_BROKERS?.trim();
  if (envBrokers) {
    const list = parseBrokers(envBrokers);
    try {
      // Any answer will do: we do not know how many nodes that cluster has.
      await waitAnswer(list, connectTimeoutMs);
    } catch (e) {
      throw new Error(`KAFKA_BROKERS=${envBrokers} does not answer: ${(e as Error).message}`, { cause: e });
    }
    return {
      brokers: list.join(','),
      version: process.env.KAFKA_VERSION ?? 'unknown',
      source: 'env',
      stop: noop,
    };
  }

  const running = await runningCluster();
  if (running) {
    if (running.nodes.length < nodes) {
      throw new Error(
        `a ${running.nodes.length}-node Kafka cluster started by \`npm run kafka -- start\` is running at ` +
          `${running.brokers}, but ${nodes} nodes are needed: \`npm run kafka -- stop\` then ` +
          `\`npm run kafka -- start --nodes ${nodes}\``,
      );
    }
    await waitReady({
      nodes: new Map(running.nodes.map((n) => [n.id, `127.0.0.1:${n.port}`])),
      timeoutMs: connectTimeoutMs,
    });
    return { brokers: running.brokers, version: running.version, source: 'running', stop: noop };
  }

  const java = await javaVersion();
  const javaOk = java !== undefined && java >= 17;
  const version = opts.version ?? DEFAULT_KAFKA_VERSION;
  const maven = javaOk && ((await cachedKafka(version)) !== undefined || (await hasMaven()));
  if (javaOk && maven) {
    let basePort = opts.basePort;
    if (basePort === undefined) {
      // Another run may hold the default ports: move along rather than fail.
      basePort = (await freeBasePort(nodes, DEFAULT_BASE_PORT)) ?? DEFAULT_BASE_PORT;
    }
    const cluster = await startKafka({ ...opts, nodes, basePort });
    return {
      brokers: cluster.brokers,
      version: cluster.version,
      source: 'local',
      cluster,
      stop: () => cluster.stop(),
    };
  }

  if (await dockerAvailable()) {
    const started = await startWithTestcontainers({
      nodes,
      version,
      ...(opts.basePort !== undefined ? { basePort: opts.basePort } : {}),
      ...(opts.containerLabels ? { labels: opts.containerLabels } : {}),
      ...(logger ? { logger } : {}),
    });
    return { ...started, source: 'testcontainers' };
  }

  const found =
    java === undefined
      ? `no Java (${javaCommand()} cannot be run)`
      : java < 17
        ? `Java ${java} (too old)`
        : 'Java but no Maven (mvn)';
  throw new Error(
    `No Kafka broker available (found ${found}, and no container engine answers${process.env.DOCKER_HOST ? ` at DOCKER_HOST=${process.env.DOCKER_HOST}` : ''}). Do one of: ` +
      'install Java 17+ and Maven (e.g. `apt-get install openjdk-17-jdk-headless maven`) so that Kafka is fetched ' +
      "from Maven Central and run locally; or run a Docker engine, or podman's Docker-compatible API with " +
      'DOCKER_HOST pointing at it (with the testcontainers package installed); ' +
      'or set KAFKA_BROKERS=host:port to use an existing cluster.',
  );
}
