// The `dirigo` command line: `dirigo worker <app-module>... [--brokers host:port,...]`.
//
// Exit codes: 0 after a graceful stop (or --help); 2 for a usage error (a bad flag, environment value, module
// path or app definition), reported before anything connects to Kafka; 1 when the start fails, when a graceful
// stop fails or misses --stop-timeout-ms, and when no app has been running for 5 s (each stopped or failed).
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, createLogger, type Logger } from '@dirigo/core';
import { isVerb, runVerb } from './cli/verbs.ts';
import {
  checkHost,
  checkPath,
  checkTopicName,
  MAX_INT32,
  parseBrokers,
  parseExactlyOnceVersion,
  parseOnOff,
  parseGroupProtocol,
  parseInteger,
  parseJsonObject,
  parseLogLevel,
  parsePort,
  parseTransportName,
} from './config-values.ts';
import { createWorkerProcess, loadApps, type WorkerProcessOptions } from './process.ts';
import type { PolicyOptions } from './scheduler/types.ts';
import { SECURITY_FLAGS, SECURITY_USAGE, securityFromSettings } from './security-settings.ts';
import type { SchedulerOptions } from './worker.ts';

const USAGE = `usage: dirigo worker <app-module.ts>... [--brokers host:port,...] [--worker-id ID] [--log-level info]
                     [--session-timeout-ms 10000] [--control-topic dirigo.control]
                     [--metrics-port PORT] [--metrics-host 127.0.0.1] [--ready-file PATH]
                     [--stop-timeout-ms 30000] [--assignment-timeout-ms 120000] [--purge-interval-ms 30000]
                     [--policy edf] [--policy-options JSON] [--transport platformatic]
                     [--group-protocol classic] [--exactly-once v2] [--exactly-once-fence-v1 on]
                     [--pipeline-steps on]
  Runs a worker hosting the apps the modules export (default export: defineApp({...}) or an array of apps).
  Brokers default to $KAFKA_BROKERS, the log level to $DIRIGO_LOG_LEVEL (fatal, error, warn, info, debug,
  trace, silent). Stops gracefully on SIGTERM/SIGINT (send signals to this node process, not to an npm/npx
  wrapper around it), and exits 1 when the stop takes longer than --stop-timeout-ms (0: no limit) or when no
  app has been running for 5 s.
  --metrics-port  serves GET /metrics (Prometheus), /healthz (200 while live) and /readyz (200 once ready)
                  on --metrics-host (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)
  --ready-file    exists while the worker is ready (every function joined its group, state restored)
  --assignment-timeout-ms  an app whose consumer has had no partition assignment this long (its Kafka client
                  stopped for good) fails on this worker (0: never)
  --purge-interval-ms  how often committed records are deleted from the internal topics (function inputs fed by
                  sends, lease topics), which have no time retention (0: never; they then grow without bound)
  --transport     the Kafka client: platformatic (@platformatic/kafka, the default) or kafkajs; default
                  $DIRIGO_TRANSPORT
  --group-protocol  classic (default; eager: every member stops while one joins or leaves) or consumer
                  (KIP-848, Kafka 4.0+, platformatic only: only the partitions that move stop); default
                  $DIRIGO_GROUP_PROTOCOL
  --exactly-once  v2 (default where the transport supports it: both built-in transports; one
                  transactional producer per function group, several partitions' steps per transaction) or
                  v1 (one transactional producer per input partition); default $DIRIGO_EXACTLY_ONCE
  --exactly-once-fence-v1  on (default): a v2 worker registers each opened partition's v1 transactional id
                  (<group>.<partition>) first, fencing v1 workers of the app left from a rolling upgrade; off
                  skips it; default $DIRIGO_EXACTLY_ONCE_FENCE_V1
  --pipeline-steps  on (default): a partition's next step runs while the previous one commits; off waits for
                  each commit; default $DIRIGO_PIPELINE_STEPS
  --policy        the scheduling policy: fifo, priority, edf (default), laxity, weighted-fair, dirigo, or one an
                  app module registered (registerPolicy); --policy-options its options as JSON
${SECURITY_USAGE}`;

const parse = (argv: string[]) =>
  parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      brokers: { type: 'string' },
      'worker-id': { type: 'string' },
      'log-level': { type: 'string' },
      'session-timeout-ms': { type: 'string' },
      'control-topic': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'ready-file': { type: 'string' },
      'stop-timeout-ms': { type: 'string' },
      'assignment-timeout-ms': { type: 'string' },
      'purge-interval-ms': { type: 'string' },
      policy: { type: 'string' },
      'policy-options': { type: 'string' },
      transport: { type: 'string' },
      'group-protocol': { type: 'string' },
      'exactly-once': { type: 'string' },
      'exactly-once-fence-v1': { type: 'string' },
      'pipeline-steps': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...SECURITY_FLAGS,
    },
  });

type Values = ReturnType<typeof parse>['values'];

/** A usage error: the message, then a pointer to the usage, exit 2. */
function usageError(message: string): never {
  process.stderr.write(`dirigo: ${message}\nRun 'dirigo worker --help' for the usage.\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  if (isVerb(argv[0])) return runVerb(argv[0]!, argv.slice(1)); // record, replay, topics, state, lag, dlq: cli/
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`dirigo: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  const [command, ...modules] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (command !== 'worker' || modules.length === 0) {
    process.stderr.write(
      `dirigo: ${command === undefined ? 'no command' : command !== 'worker' ? `unknown command '${command}'` : 'no app module'}\n${USAGE}\n`,
    );
    process.exit(2);
  }
  let options: Omit<WorkerProcessOptions, 'apps' | 'logger' | 'scheduler'>;
  let level: string;
  try {
    level = logLevelOf(values);
    options = optionsOf(values);
    for (const m of modules) checkModule(m);
  } catch (e) {
    usageError((e as Error).message);
  }
  const logger = createLogger({ level });
  // Before connecting, any configuration error (modules, app definitions, policy) is a usage error.
  let prepared: ReturnType<typeof createWorkerProcess>;
  try {
    const apps = await loadApps(modules);
    const scheduler = schedulerOf(values.policy, values['policy-options']);
    const security = securityFromSettings(values, process.env);
    prepared = createWorkerProcess({
      ...options,
      apps,
      logger,
      ...(scheduler === undefined ? {} : { scheduler }),
      ...(security === undefined ? {} : { security }),
    });
  } catch (e) {
    if (e instanceof ConfigError) usageError(asFlag(e));
    fatal(logger, e);
  }
  try {
    await prepared.start();
  } catch (e) {
    fatal(logger, e);
  }
}

/** The worker options the CLI sets from flags, named as the flags in errors. */
const FLAGS: Readonly<Record<string, string>> = {
  'scheduler.policy': '--policy',
  'scheduler.options': '--policy-options',
  sessionTimeoutMs: '--session-timeout-ms',
  metricsPort: '--metrics-port',
  metricsHost: '--metrics-host',
  controlTopic: '--control-topic',
};

function asFlag(e: ConfigError): string {
  const flag = FLAGS[e.field];
  return flag === undefined ? e.message : `${flag}${e.message.slice(e.field.length)}`;
}

function fatal(logger: Logger, e: unknown): never {
  logger.fatal({ err: e }, (e as Error).message);
  process.exit(1);
}

/** `--log-level`, else `$DIRIGO_LOG_LEVEL`, else info. */
function logLevelOf(values: Values): string {
  if (values['log-level'] !== undefined) return parseLogLevel(values['log-level'], '--log-level');
  const env = process.env.DIRIGO_LOG_LEVEL;
  return env === undefined || env === '' ? 'info' : parseLogLevel(env, 'DIRIGO_LOG_LEVEL');
}

/** Every flag (and KAFKA_BROKERS) checked and converted; throws ConfigError naming the flag. */
function optionsOf(values: Values): Omit<WorkerProcessOptions, 'apps' | 'logger' | 'scheduler'> {
  const v = values;
  const envBrokers = process.env.KAFKA_BROKERS;
  let brokers: string;
  if (v.brokers !== undefined) brokers = parseBrokers(v.brokers, '--brokers').join(',');
  else if (envBrokers !== undefined && envBrokers !== '')
    brokers = parseBrokers(envBrokers, 'KAFKA_BROKERS').join(',');
  else {
    throw new ConfigError(
      '--brokers',
      'no Kafka to connect to: pass --brokers host:port or set KAFKA_BROKERS (`npm run kafka -- start` runs a local one)',
    );
  }
  const workerId = v['worker-id'];
  if (workerId !== undefined && !/^[\x21-\x7e]{1,200}$/.test(workerId)) {
    throw new ConfigError(
      '--worker-id',
      `${JSON.stringify(workerId)} is not a worker id: 1-200 printable characters without spaces, e.g. --worker-id w1`,
    );
  }
  const int = (flag: keyof Values, min: number, example: string): number | undefined => {
    const raw = v[flag];
    return typeof raw === 'string' ? parseInteger(raw, `--${flag}`, min, MAX_INT32, example) : undefined;
  };
  const sessionTimeoutMs = int('session-timeout-ms', 1, '--session-timeout-ms 10000');
  if (sessionTimeoutMs !== undefined && sessionTimeoutMs <= 1_000) {
    throw new ConfigError(
      '--session-timeout-ms',
      `${sessionTimeoutMs} must be greater than the heartbeat interval (1000 ms); e.g. --session-timeout-ms 10000`,
    );
  }
  const stopTimeoutMs = int('stop-timeout-ms', 0, '--stop-timeout-ms 30000 (0: no limit)');
  const assignmentTimeoutMs = int('assignment-timeout-ms', 0, '--assignment-timeout-ms 120000 (0: never)');
  const purgeIntervalMs = int('purge-interval-ms', 0, '--purge-interval-ms 30000 (0: never)');
  const controlTopic = v['control-topic'] && checkTopicName(v['control-topic'], '--control-topic');
  const metricsPort =
    v['metrics-port'] === undefined ? undefined : parsePort(v['metrics-port'], '--metrics-port', true);
  const metricsHost =
    v['metrics-host'] === undefined ? undefined : checkHost(v['metrics-host'], '--metrics-host');
  if (metricsHost !== undefined && metricsPort === undefined) {
    throw new ConfigError('--metrics-host', 'needs --metrics-port (the endpoint is off without a port)');
  }
  const readyFile = v['ready-file'] === undefined ? undefined : checkReadyFile(v['ready-file']);
  const transport = v.transport === undefined ? undefined : parseTransportName(v.transport, '--transport');
  const groupProtocol =
    v['group-protocol'] === undefined
      ? undefined
      : parseGroupProtocol(v['group-protocol'], '--group-protocol');
  const exactlyOnce =
    v['exactly-once'] === undefined
      ? undefined
      : parseExactlyOnceVersion(v['exactly-once'], '--exactly-once');
  const fenceV1 =
    v['exactly-once-fence-v1'] === undefined
      ? undefined
      : parseOnOff(v['exactly-once-fence-v1'], '--exactly-once-fence-v1');
  const pipelineSteps =
    v['pipeline-steps'] === undefined ? undefined : parseOnOff(v['pipeline-steps'], '--pipeline-steps');
  return {
    brokers,
    ...(exactlyOnce === undefined ? {} : { exactlyOnce }),
    ...(fenceV1 === undefined ? {} : { exactlyOnceFenceV1: fenceV1 }),
    ...(pipelineSteps === undefined ? {} : { pipelineSteps }),
    ...(workerId === undefined ? {} : { workerId }),
    ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
    ...(controlTopic ? { controlTopic } : {}),
    ...(metricsPort === undefined ? {} : { metricsPort }),
    ...(metricsHost === undefined ? {} : { metricsHost }),
    ...(readyFile === undefined ? {} : { readyFile }),
    ...(stopTimeoutMs === undefined ? {} : { stopTimeoutMs }),
    ...(assignmentTimeoutMs === undefined ? {} : { assignmentTimeoutMs }),
    ...(purgeIntervalMs === undefined ? {} : { purgeIntervalMs }),
    ...(transport === undefined ? {} : { transport }),
    ...(groupProtocol === undefined ? {} : { groupProtocol }),
  };
}

/** The ready file's directory must exist and be writable. */
function checkReadyFile(raw: string): string {
  const path = resolve(checkPath(raw, '--ready-file'));
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new ConfigError(
      '--ready-file',
      `cannot write a file in ${dir} (${(e as Error).message}); create the directory or choose another path`,
    );
  }
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new ConfigError('--ready-file', `${path} is a directory; give a file path, e.g. ${path}/ready`);
  }
  return path;
}

function checkModule(path: string): void {
  if (!existsSync(path)) {
    throw new ConfigError(path, 'no such app module; give the path of a module that exports an app');
  }
  if (statSync(path).isDirectory()) {
    throw new ConfigError(path, 'is a directory; give the path of a module that exports an app');
  }
}

/** `--policy` and `--policy-options` as the worker's scheduler options. */
function schedulerOf(policy: string | undefined, options: string | undefined): SchedulerOptions | undefined {
  if (policy === undefined && options === undefined) return undefined;
  const parsed =
    options === undefined ? {} : parseJsonObject(options, '--policy-options', '{"agingMs":2000}');
  return { ...(policy === undefined ? {} : { policy }), options: parsed as PolicyOptions };
}

void main(process.argv.slice(2));
