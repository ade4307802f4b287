// Running a worker as an OS process: load app modules, connect to Kafka, stop gracefully on SIGTERM/SIGINT
// (finish in-flight steps, commit, leave the groups) within a deadline, and exit 1 once no app runs any more.
// Used by the `dirigo worker` CLI, the demo and the chaos tests.

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AppDefinition, ConfigError, createLogger, type Logger, type Transport } from '@dirigo/core';
import { KafkajsTransport, type KafkaSecurity } from '@dirigo/kafkajs';
import {
  checkIntOption,
  DEFAULT_TRANSPORT,
  MAX_INT32,
  parseBrokers,
  type ExactlyOnceVersion,
  type GroupProtocolName,
  parseExactlyOnceVersion,
  parseOnOff,
  parseGroupProtocol,
  parseTransportName,
  type TransportName,
} from './config-values.ts';
import { securityFromSettings } from './security-settings.ts';

export { SECURITY_SETTINGS, securityFromSettings } from './security-settings.ts';

import { Worker, type WorkerOptions } from './worker.ts';

export { DEFAULT_TRANSPORT, TRANSPORTS, type TransportName } from './config-values.ts';

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
  /** Comma-separated bootstrap servers, each `host:port`. Default: env KAFKA_BROKERS. */
  readonly brokers?: string;
  /**
   * TLS and SASL of the transport built from `brokers` (not used when `transport` is a transport you built;
   * the kafkajs client only). Default: from the environment (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
   * KAFKA_SSL_CA_LOCATION, ...; see docs/operations.md), else PLAINTEXT. OAUTHBEARER (a token callback) can only
   * be given here.
   */
  readonly security?: KafkaSecurity;
  /**
   * The Kafka client: a transport you built, or the name of one to build from `brokers`: 'platformatic'
   * (@platformatic/kafka) or 'kafkajs'; each client is loaded only when chosen. Default: env DIRIGO_TRANSPORT,
   * else 'platformatic' (see docs/operations.md, "Transports").
   */
  readonly transport?: Transport | TransportName;
  /**
   * The consumer group protocol of a transport built here: 'classic' (eager: every member stops while one joins
   * or leaves) or 'consumer' (KIP-848, Kafka 4.0+: only the partitions that move stop; the platformatic transport
   * only). Default: env DIRIGO_GROUP_PROTOCOL, else 'classic'.
   */
  readonly groupProtocol?: GroupProtocolName;
  /**
   * The exactly-once protocol (see `WorkerOptions.exactlyOnceV2`): 'v2' or 'v1'. Default: `exactlyOnceV2` if
   * given, else env DIRIGO_EXACTLY_ONCE, else v2 where the transport supports it.
   */
  readonly exactlyOnce?: ExactlyOnceVersion;
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
  /**
   * How long a graceful stop may take, in ms. When it has not finished by then, the process logs what is still
   * running and exits 1 (an open transaction is never committed: the broker aborts it). Default 30000; 0: no
   * limit.
   */
  readonly stopTimeoutMs?: number;
  /**
   * Once no app has been running on the worker for this long (every app stopped by its error policy, or failed
   * because its consumers died), the process logs why, stops, and exits 1, so a supervisor restarts it.
   * Default 5000; 0: never.
   */
  readonly noAppExitMs?: number;
  /** Ends the process with an exit code. Default `process.exit` (tests pass their own). */
  readonly exit?: (code: number) => void;
}

/** How often an orphaned worker is noticed, in ms. */
const PARENT_CHECK_MS = 1_000;

/** How often the ready file follows the worker's readiness, and the no-app watch looks, in ms. */
const READY_FILE_INTERVAL_MS = 250;

/** A worker of this process, built and checked but not started (see `createWorkerProcess`). */
export interface WorkerProcess {
  readonly worker: Worker;
  readonly transport: Transport;
  /** Installs the signal handling and the watches, and starts the worker. Resolves with the running worker. */
  start(): Promise<Worker>;
}

/**
 * Builds the worker of this process: checks every option (brokers, numbers, apps) and throws `ConfigError`
 * naming the field before anything connects to Kafka. `start()` then runs it as `runWorkerProcess` does.
 */
export function createWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  checkIntOption(options.stopTimeoutMs, 'stopTimeoutMs', 0, MAX_INT32);
  checkIntOption(options.noAppExitMs, 'noAppExitMs', 0, MAX_INT32);
  const logger = options.logger ?? createLogger();
  const transport =
    typeof options.transport === 'object'
      ? options.transport
      : transportFromSettings({ ...options, transport: options.transport }, logger);
  const version = optionOrEnv<ExactlyOnceVersion | undefined>(
    options.exactlyOnce,
    'exactlyOnce',
    'DIRIGO_EXACTLY_ONCE',
    parseExactlyOnceVersion,
    undefined,
  );
  const exactlyOnceV2 = options.exactlyOnceV2 ?? (version === undefined ? undefined : version === 'v2');
  // `exactlyOnceFenceV1` (the CLI's --exactly-once-fence-v1), else env DIRIGO_EXACTLY_ONCE_FENCE_V1 (on|off).
  const fenceV1 = switchOrEnv(options.exactlyOnceFenceV1, 'DIRIGO_EXACTLY_ONCE_FENCE_V1');
  // `pipelineSteps` (the CLI's --pipeline-steps), else env DIRIGO_PIPELINE_STEPS (on|off).
  const pipelineSteps = switchOrEnv(options.pipelineSteps, 'DIRIGO_PIPELINE_STEPS');
  const worker = new Worker({
    ...options,
    transport,
    logger,
    ...(exactlyOnceV2 === undefined ? {} : { exactlyOnceV2 }),
    ...(fenceV1 === undefined ? {} : { exactlyOnceFenceV1: fenceV1 }),
    ...(pipelineSteps === undefined ? {} : { pipelineSteps }),
  });
  return {
    worker,
    transport,
    async start() {
      const readyFile =
        options.readyFile === undefined ? undefined : followReadiness(worker, options.readyFile);
      const stop = stopOnSignals(worker, transport, logger, readyFile?.stop, {
        stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
        ...(options.exit === undefined ? {} : { exit: options.exit }),
      });
      if (options.exitWithParent ?? process.env.npm_execpath !== undefined) watchParent(logger, stop);
      await worker.start();
      const noAppExitMs = options.noAppExitMs ?? 5_000;
      if (noAppExitMs > 0) exitWhenNoApp(worker, logger, stop, noAppExitMs);
      return worker;
    },
  };
}

/** Starts a worker and stops it gracefully on SIGTERM/SIGINT. Resolves with the running worker. */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<Worker> {
  return createWorkerProcess(options).start();
}

/** Stops the worker when this process's parent changes (it died; the process was re-parented). */
function watchParent(logger: Logger, stop: StopFunction): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    logger.warn({ parent, now: process.ppid }, 'the parent process is gone; stopping');
    stop('parent exit');
  }, PARENT_CHECK_MS);
  timer.unref();
}

/**
 * Ends the process (exit 1, after a graceful stop) once the running worker has had no running app for
 * `graceMs`: nothing restarts a stopped app inside a process, so it would sit there doing nothing.
 */
function exitWhenNoApp(worker: Worker, logger: Logger, stop: StopFunction, graceMs: number): void {
  let since: number | undefined;
  const timer = setInterval(() => {
    if (worker.state !== 'running') {
      if (worker.state !== 'starting') clearInterval(timer);
      return;
    }
    const health = worker.health();
    if (health.live) {
      since = undefined;
      return;
    }
    since ??= Date.now();
    if (Date.now() - since < graceMs) return;
    clearInterval(timer);
    logger.error(
      { apps: health.apps, graceMs },
      'no app is running on this worker (each stopped or failed; see the errors above); exiting with code 1 so that a supervisor restarts it',
    );
    stop('no app running', 1);
  }, READY_FILE_INTERVAL_MS);
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

/** A boolean worker option when given, else the on|off environment variable `env` when set, else undefined. */
function switchOrEnv(option: boolean | undefined, env: string): boolean | undefined {
  return option ?? optionOrEnv<boolean | undefined>(undefined, env, env, parseOnOff, undefined);
}

/** `option` when given, else the environment variable `env` when set and not empty, else `fallback`. */
function optionOrEnv<T>(
  option: string | undefined,
  field: string,
  env: string,
  parse: (raw: string, source: string) => T,
  fallback: T,
): T {
  if (option !== undefined) return parse(option, field);
  const raw = process.env[env];
  return raw === undefined || raw === '' ? fallback : parse(raw, env);
}

/** What `transportFromSettings` builds a transport from; each setting falls back to its environment variable. */
export interface TransportSettings {
  /** 'platformatic' or 'kafkajs'. Default: env DIRIGO_TRANSPORT, else `DEFAULT_TRANSPORT`. */
  readonly transport?: TransportName;
  /** Bootstrap servers, `host:port,...`. Default: env KAFKA_BROKERS. */
  readonly brokers?: string;
  /** TLS and SASL. Default: from the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_* variables. */
  readonly security?: KafkaSecurity;
  /** 'classic' or 'consumer' (KIP-848, platformatic only). Default: env DIRIGO_GROUP_PROTOCOL, else 'classic'. */
  readonly groupProtocol?: GroupProtocolName;
  /** Default 'dirigo-worker'. */
  readonly clientId?: string;
}

/**
 * The transport a worker process (or a `dirigo` tool) uses: the one named by `settings.transport` (else
 * DIRIGO_TRANSPORT, else `DEFAULT_TRANSPORT`) on `brokers` (else KAFKA_BROKERS), with `settings.security` (else
 * the KAFKA_* security variables). Throws `ConfigError` naming the setting before anything connects.
 */
export function transportFromSettings(options: TransportSettings, logger: Logger): Transport {
  const name = optionOrEnv(
    options.transport,
    'transport',
    'DIRIGO_TRANSPORT',
    parseTransportName,
    DEFAULT_TRANSPORT,
  );
  const security = options.security ?? securityFromSettings({}, process.env);
  const list = options.brokers ?? process.env.KAFKA_BROKERS;
  if (!list) {
    throw new ConfigError(
      'brokers',
      'no Kafka to connect to: pass --brokers host:port or set KAFKA_BROKERS (`npm run kafka -- start` runs a local one)',
    );
  }
  const brokers = parseBrokers(list, options.brokers === undefined ? 'KAFKA_BROKERS' : 'brokers');
  const clientId = options.clientId ?? 'dirigo-worker';
  const groupProtocol = optionOrEnv(
    options.groupProtocol,
    'groupProtocol',
    'DIRIGO_GROUP_PROTOCOL',
    parseGroupProtocol,
    'classic',
  );
  if (groupProtocol === 'consumer' && name !== 'platformatic') {
    throw new ConfigError(
      'groupProtocol',
      "the 'consumer' group protocol (KIP-848) needs the platformatic transport: add --transport platformatic (or DIRIGO_TRANSPORT=platformatic), or use the 'classic' protocol",
    );
  }
  if (name === 'kafkajs')
    return new KafkajsTransport({
      brokers,
      logger,
      clientId,
      ...(security === undefined ? {} : { security }),
    });
  // Loaded only when chosen (@platformatic/kafka takes a while to load); synchronous, so this stays a plain call.
  const { PlatformaticTransport } = createRequire(import.meta.url)(
    '@dirigo/platformatic',
  ) as typeof import('@dirigo/platformatic');
  return new PlatformaticTransport({
    brokers,
    logger,
    clientId,
    groupProtocol,
    ...(security === undefined ? {} : { security }),
  });
}

/** Stops the process's worker for `reason`, then exits with `exitCode` (0 unless given; 1 if the stop fails). */
export type StopFunction = (reason: string, exitCode?: number) => void;

export interface StopOptions {
  /**
   * The graceful stop's deadline, in ms: when it has not finished by then, what is still running is logged and
   * the process exits 1. Default 30000; 0: no deadline.
   */
  readonly stopTimeoutMs?: number;
  /** Ends the process. Default `process.exit`. */
  readonly exit?: (code: number) => void;
}

/**
 * On the first SIGTERM or SIGINT: `beforeStop()` (if given), then a graceful `worker.stop()` (in-flight steps
 * finish and commit, groups are left), then `transport.close()`, then exit 0 (1 if the stop failed, or if it
 * has not finished within `stopTimeoutMs`, default 30 s: then what is still running is logged first). Returns
 * the same stop, to trigger it for another reason (and exit code).
 */
export function stopOnSignals(
  worker: Worker,
  transport: Transport,
  logger: Logger,
  beforeStop?: () => void,
  options: StopOptions = {},
): StopFunction {
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  checkIntOption(stopTimeoutMs, 'stopTimeoutMs', 0, MAX_INT32);
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const stop: StopFunction = (signal, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info(
      { signal, ...(stopTimeoutMs > 0 ? { stopTimeoutMs } : {}) },
      signal.startsWith('SIG') ? 'stopping on signal' : 'stopping',
    );
    let closing = false;
    let ended = false;
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      exit(code);
    };
    // Not unref'd: it must fire even when the stop waits on nothing that keeps Node alive.
    const deadline =
      stopTimeoutMs > 0
        ? setTimeout(() => {
            const progress = worker.stopProgress();
            logger.error(
              {
                stopTimeoutMs,
                phase: closing ? 'transport' : progress.phase,
                stillRunning: progress.running,
              },
              `the graceful stop did not finish within ${stopTimeoutMs} ms; exiting with code 1. ` +
                'Steps still running are not committed: the broker aborts their open transactions when the next owner ' +
                'of the partitions fences this worker, or at the transaction timeout',
            );
            end(1);
          }, stopTimeoutMs)
        : undefined;
    try {
      beforeStop?.();
    } catch (e) {
      logger.warn({ err: e }, 'before-stop hook failed');
    }
    worker
      .stop()
      .then(() => {
        closing = true;
        return transport.close();
      })
      .then(
        () => end(exitCode),
        (e: unknown) => {
          logger.error({ err: e }, 'graceful stop failed');
          end(1);
        },
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return stop;
}
