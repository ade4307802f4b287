// Running a worker as an OS process: load app modules, connect to Kafka, stop gracefully on SIGTERM/SIGINT
// (finish in-flight steps, commit, leave the groups). Used by the `dirigo worker` CLI, the demo and the
// chaos tests.

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AppDefinition, ConfigError, createLogger, type Logger, type Transport } from '@dirigo/core';
import { KafkajsTransport, type KafkaSecurity } from '@dirigo/kafkajs';
import { securityFromSettings } from './security-settings.ts';

export { SECURITY_SETTINGS, securityFromSettings } from './security-settings.ts';

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
  /**
   * TLS and SASL of the kafkajs transport built from `brokers` (not used with `transport`). Default: from the
   * environment (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SSL_CA_LOCATION, ...; see
   * docs/operations.md), else PLAINTEXT. OAUTHBEARER (a token callback) can only be given here.
   */
  readonly security?: KafkaSecurity;
  readonly transport?: Transport;
  readonly logger?: Logger;
  /**
   * A readiness file for supervisors without HTTP probes: it exists (holding the worker's health as JSON) while
   * the worker is ready (see `WorkerHealth`), and is removed when it stops being ready and when it stops.
   */
  readonly readyFile?: string;
  /**
   * Stop gracefully when the parent process goes away (checked every second). Default: true when started
   * through npm or npx (`npm_execpath` is set), where a supervisor's SIGKILL reaches only the npm process and
   * would otherwise leave this worker running as an orphan.
   */
  readonly exitWithParent?: boolean;
}

/** How often an orphaned worker is noticed, in ms. */
const PARENT_CHECK_MS = 1_000;

/** How often the ready file follows the worker's readiness, in ms. */
const READY_FILE_INTERVAL_MS = 250;

/** Starts a worker and stops it gracefully on SIGTERM/SIGINT. Resolves with the running worker. */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<Worker> {
  const logger = options.logger ?? createLogger();
  const transport =
    options.transport ??
    kafkajsFromEnv(options.brokers, logger, options.security ?? securityFromSettings({}, process.env));
  const worker = new Worker({ ...options, transport, logger });
  const readyFile = options.readyFile === undefined ? undefined : followReadiness(worker, options.readyFile);
  const stop = stopOnSignals(worker, transport, logger, readyFile?.stop);
  if (options.exitWithParent ?? process.env.npm_execpath !== undefined) watchParent(logger, stop);
  await worker.start();
  return worker;
}

/** Stops the worker when this process's parent changes (it died; the process was re-parented). */
function watchParent(logger: Logger, stop: (signal: string) => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    logger.warn({ parent, now: process.ppid }, 'the parent process is gone; stopping');
    stop('parent exit');
  }, PARENT_CHECK_MS);
  timer.unref();
}

/** Keeps `path` in step with the worker's readiness (written atomically, removed when not ready). */
function followReadiness(worker: Worker, path: string): { stop(): void } {
  rmSync(path, { force: true });
  let written = false;
  const timer = setInterval(() => {
    const health = worker.health();
    if (health.ready && !written) {
      writeFileSync(`${path}.tmp`, `${JSON.stringify(health)}\n`);
      renameSync(`${path}.tmp`, path);
      written = true;
    } else if (!health.ready && written) {
      rmSync(path, { force: true });
      written = false;
    }
  }, READY_FILE_INTERVAL_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      rmSync(path, { force: true });
    },
  };
}

function kafkajsFromEnv(
  brokers: string | undefined,
  logger: Logger,
  security: KafkaSecurity | undefined,
): Transport {
  const list = brokers ?? process.env.KAFKA_BROKERS;
  if (!list) {
    throw new ConfigError(
      'brokers',
      'no Kafka to connect to: pass --brokers host:port or set KAFKA_BROKERS (`npm run kafka -- start` runs a local one)',
    );
  }
  return new KafkajsTransport({
    brokers: list.split(','),
    logger,
    clientId: 'dirigo-worker',
    ...(security === undefined ? {} : { security }),
  });
}

/**
 * On the first SIGTERM or SIGINT: `beforeStop()` (if given), then a graceful `worker.stop()` (in-flight steps
 * finish and commit, groups are left), then `transport.close()`, then exit 0 (1 if the stop failed). Returns
 * the same stop, to trigger it for another reason.
 */
export function stopOnSignals(
  worker: Worker,
  transport: Transport,
  logger: Logger,
  beforeStop?: () => void,
): (reason: string) => void {
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
  return stop;
}
