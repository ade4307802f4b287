// Running a worker as an OS process: load app modules, connect to Kafka, stop gracefully on SIGTERM/SIGINT
// (finish in-flight steps, commit, leave the groups). Used by the `dirigo worker` CLI, the demo and the
// chaos tests.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AppDefinition, ConfigError, createLogger, type Logger, type Transport } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { Worker, type WorkerOptions } from './worker.ts';

/** Imports app modules: each default-exports an app (or an array of apps), or exports `app`/`apps`. */
export async function loadApps(paths: readonly string[]): Promise<AppDefinition[]> {
  const apps: AppDefinition[] = [];
  for (const p of paths) {
    const mod = (await import(pathToFileURL(resolve(p)).href)) as Record<string, unknown>;
    const found = mod.default ?? mod.apps ?? mod.app;
    if (found === undefined) {
      throw new ConfigError(
        p,
        'the module must `export default defineApp({...})` (or export `app` / `apps`)',
      );
    }
    apps.push(...((Array.isArray(found) ? found : [found]) as AppDefinition[]));
  }
  return apps;
}

export interface WorkerProcessOptions extends Omit<WorkerOptions, 'transport' | 'logger'> {
  /** Comma-separated bootstrap servers. Default: env KAFKA_BROKERS. */
  readonly brokers?: string;
  readonly transport?: Transport;
  readonly logger?: Logger;
}

/** Starts a worker and stops it gracefully on SIGTERM/SIGINT. Resolves with the running worker. */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<Worker> {
  const logger = options.logger ?? createLogger();
  const transport = options.transport ?? kafkajsFromEnv(options.brokers, logger);
  const worker = new Worker({ ...options, transport, logger });
  stopOnSignals(worker, transport, logger);
  await worker.start();
  return worker;
}

function kafkajsFromEnv(brokers: string | undefined, logger: Logger): Transport {
  const list = brokers ?? process.env.KAFKA_BROKERS;
  if (!list) {
    throw new ConfigError(
      'brokers',
      'no Kafka to connect to: pass --brokers host:port or set KAFKA_BROKERS (`npm run kafka -- start` runs a local one)',
    );
  }
  return new KafkajsTransport({ brokers: list.split(','), logger, clientId: 'dirigo-worker' });
}

/**
 * On the first SIGTERM or SIGINT: `beforeStop()` (if given), then a graceful `worker.stop()` (in-flight steps
 * finish and commit, groups are left), then `transport.close()`, then exit 0 (1 if the stop failed).
 */
export function stopOnSignals(
  worker: Worker,
  transport: Transport,
  logger: Logger,
  beforeStop?: () => void,
): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping on signal');
    beforeStop?.();
    worker
      .stop()
      .then(() => transport.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          logger.error({ err: e }, 'graceful stop failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
