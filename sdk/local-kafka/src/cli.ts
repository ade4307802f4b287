#!/usr/bin/env node
// `npm run kafka -- start|stop|status`: a local Kafka cluster that outlives the command, for development.
// stdout carries only results (the bootstrap servers, the status); progress and errors go to stderr.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '@dirigo/core';
import { type CliArgs, parseCliArgs, USAGE } from './args.ts';
import { looksLikeDataDir, startKafka } from './cluster.ts';
import { cachedKafka, fetchKafka } from './fetch.ts';
import { cacheRoot, runDir } from './paths.ts';
import {
  type ClusterStatus,
  liveNodes,
  readStatus,
  removeStatus,
  type StatusNode,
  writeStatus,
} from './status.ts';
import { terminate } from './tools.ts';

// kafkajs 2.2.4 sets a negative timeout on Node 24 (tulios/kafkajs#1751): harmless, but it would print a
// warning on every command.
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
  const first = rest[0];
  const type = typeof first === 'string' ? first : (first as { type?: string } | undefined)?.type;
  if (type === 'TimeoutNegativeWarning') return;
  (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
} as typeof process.emitWarning;

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function describe(s: ClusterStatus): string {
  const n = s.nodes.length;
  return `Kafka ${s.version}, ${n} node${n === 1 ? '' : 's'}, pid${n === 1 ? '' : 's'} ${s.nodes.map((x) => x.pid).join(',')}`;
}

async function stopNodes(nodes: readonly StatusNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => terminate(n.pid, n.marker, { signal: 'SIGTERM', graceMs: 30_000 })));
}

async function removeData(dataDir: string): Promise<void> {
  if (await looksLikeDataDir(dataDir)) await rm(dataDir, { recursive: true, force: true });
}

async function start(args: CliArgs): Promise<number> {
  const status = await readStatus();
  if (status) {
    const live = liveNodes(status);
    if (live.length === status.nodes.length) {
      if (status.nodes.length !== args.nodes || status.security?.mode !== args.security) {
        say(
          `A ${status.nodes.length}-node cluster${status.security ? ` with --security ${status.security.mode}` : ''} is already running (${status.brokers}); run \`npm run kafka -- stop\` first.`,
        );
        return 1;
      }
      say(`Already running: ${describe(status)}`);
      out(status.security ? status.security.bootstrap[status.security.mode] : status.brokers);
      return 0;
    }
    if (live.length > 0) {
      say(`Some nodes of the last cluster are down (${status.brokers}); stopping the rest first.`);
      await stopNodes(live);
    }
    await removeStatus();
    await removeData(status.dataDir);
  }

  const dataDir = join(runDir(), 'data');
  if (!(await cachedKafka(args.version))) {
    say(`Fetching Apache Kafka ${args.version} from Maven Central into ${cacheRoot()} (once)...`);
  }
  say(`Starting Kafka ${args.version} (${args.nodes} node${args.nodes === 1 ? '' : 's'})...`);
  const began = Date.now();
  const spawned: StatusNode[] = [];
  // Ctrl+C during the start: the JVMs are detached, so end them here.
  const interrupt = () => {
    void stopNodes(spawned)
      .then(() => removeData(dataDir))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const cluster = await startKafka({
    nodes: args.nodes,
    basePort: args.basePort,
    version: args.version,
    dataDir,
    keepData: false,
    detached: true,
    ...(args.security ? { security: true } : {}),
    logger: createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn', base: { name: 'local-kafka' } }),
    onSpawn: (node) => {
      spawned.push({ id: node.id, port: 0, controllerPort: 0, pid: node.pid, marker: node.marker });
    },
  });
  process.removeListener('SIGINT', interrupt);
  process.removeListener('SIGTERM', interrupt);
  const next: ClusterStatus = {
    version: cluster.version,
    brokers: cluster.brokers,
    basePort: args.basePort,
    dataDir: cluster.dataDir,
    startedAt: new Date().toISOString(),
    ...(args.security && cluster.security
      ? {
          security: {
            mode: args.security,
            bootstrap: cluster.security.bootstrap,
            envFiles: cluster.security.envFiles,
            caLocation: cluster.security.caLocation,
          },
        }
      : {}),
    nodes: cluster.nodes.map((n) => ({
      id: n.id,
      port: n.port,
      controllerPort: n.controllerPort,
      pid: n.pid,
      marker: join(n.dir, 'server.properties'),
    })),
  };
  await writeStatus(next);
  say(
    `Kafka ${cluster.version} is ready in ${((Date.now() - began) / 1000).toFixed(1)} s: ${describe(next)}`,
  );
  say(`Logs (WARN+): ${join(dataDir, 'node-<id>', 'broker.log')}. Stop it with \`npm run kafka -- stop\`.`);
  if (args.security && cluster.security) {
    const s = cluster.security;
    say(
      `Secured listeners: SASL_SSL ${s.bootstrap.sasl_ssl}, SSL (client certificate required) ${s.bootstrap.ssl}, ` +
        `SASL_PLAINTEXT ${s.bootstrap.sasl_plaintext}; PLAINTEXT ${cluster.brokers}.`,
    );
    say(
      `User "${s.credentials.username}" (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); CA ${s.caLocation}; client certificate ${s.client.certificateLocation}.`,
    );
    say(
      `Client settings for ${args.security}, password included: \`set -a; . ${s.envFiles[args.security]}; set +a\``,
    );
    out(s.bootstrap[args.security]);
    return 0;
  }
  out(cluster.brokers);
  return 0;
}

async function stop(): Promise<number> {
  const status = await readStatus();
  if (!status) {
    say(
      process.env.KAFKA_BROKERS
        ? `Nothing to stop here: KAFKA_BROKERS=${process.env.KAFKA_BROKERS} is an external cluster.`
        : 'No Kafka started by `npm run kafka -- start` is running.',
    );
    return 0;
  }
  const live = liveNodes(status);
  if (live.length > 0) say(`Stopping ${describe(status)}...`);
  await stopNodes(live);
  await removeStatus();
  await removeData(status.dataDir);
  say(live.length > 0 ? 'Stopped.' : 'It was not running any more; cleaned up.');
  return 0;
}

async function status(): Promise<number> {
  const s = await readStatus();
  if (s) {
    const live = liveNodes(s);
    if (live.length === s.nodes.length) {
      const secured = s.security
        ? `; ${s.security.mode} ${s.security.bootstrap[s.security.mode]}, client settings ${s.security.envFiles[s.security.mode]}`
        : '';
      out(`running: ${s.brokers} (${describe(s)}${secured})`);
      return 0;
    }
    const down = s.nodes.filter((n) => !live.includes(n)).map((n) => n.id);
    out(
      `not running: node${down.length === 1 ? '' : 's'} ${down.join(',')} of ${s.brokers} down (run \`npm run kafka -- stop\`)`,
    );
    return 1;
  }
  out('not running');
  return 1;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    say(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const env = process.env.KAFKA_BROKERS?.trim();
  switch (args.command) {
    case 'help':
      out(USAGE);
      return 0;
    case 'start':
      if (env) {
        say(`KAFKA_BROKERS is set: using that cluster, not starting one.`);
        out(env);
        return 0;
      }
      return start(args);
    case 'fetch': {
      const began = Date.now();
      const dist = await fetchKafka(args.version, { logger: createLogger({ level: 'warn' }) });
      say(
        `Kafka ${args.version} is ${dist.fetched ? 'fetched' : 'already cached'} in ${dist.libsDir} (${((Date.now() - began) / 1000).toFixed(1)} s)`,
      );
      return 0;
    }
    case 'status':
      if (env) {
        out(`external: ${env} (KAFKA_BROKERS)`);
        return 0;
      }
      return status();
    case 'stop':
      return stop();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // Nothing half-started stays behind: startKafka ends its processes when it fails.
  say(`kafka: ${(e as Error).message}`);
  process.exitCode = 1;
}
// Detached brokers and closed clients leave nothing that should keep us here.
process.exit(process.exitCode);
