// The `dirigo` command line: `dirigo worker <app-module>... [--brokers host:port,...]`.
import { parseArgs } from 'node:util';
import { ConfigError, createLogger } from '@dirigo/core';
import { loadApps, runWorkerProcess } from './process.ts';
import type { PolicyOptions } from './scheduler/types.ts';
import { SECURITY_FLAGS, SECURITY_USAGE, securityFromSettings } from './security-settings.ts';
import type { SchedulerOptions } from './worker.ts';

const USAGE = `usage: dirigo worker <app-module.ts>... [--brokers host:port,...] [--worker-id ID] [--log-level info]
                     [--session-timeout-ms 10000] [--control-topic dirigo.control]
                     [--metrics-port PORT] [--ready-file PATH] [--policy edf] [--policy-options JSON]
  Runs a worker hosting the apps the modules export (default export: defineApp({...}) or an array of apps).
  Brokers default to $KAFKA_BROKERS. Stops gracefully on SIGTERM/SIGINT (send signals to this node process,
  not to an npm/npx wrapper around it).
  --metrics-port  serves GET /metrics (Prometheus), /healthz (200 while live) and /readyz (200 once ready)
  --ready-file    exists while the worker is ready (every function joined its group, state restored)
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
      'ready-file': { type: 'string' },
      policy: { type: 'string' },
      'policy-options': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...SECURITY_FLAGS,
    },
  });

async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  const [command, ...modules] = positionals;
  if (values.help || command !== 'worker' || modules.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const logger = createLogger({ ...(values['log-level'] ? { level: values['log-level'] } : {}) });
  try {
    const apps = await loadApps(modules);
    const scheduler = schedulerOf(values.policy, values['policy-options']);
    const security = securityFromSettings(values, process.env);
    await runWorkerProcess({
      apps,
      logger,
      ...(values.brokers ? { brokers: values.brokers } : {}),
      ...(values['worker-id'] ? { workerId: values['worker-id'] } : {}),
      ...(values['session-timeout-ms'] ? { sessionTimeoutMs: Number(values['session-timeout-ms']) } : {}),
      ...(values['control-topic'] ? { controlTopic: values['control-topic'] } : {}),
      ...(values['metrics-port'] ? { metricsPort: Number(values['metrics-port']) } : {}),
      ...(values['ready-file'] ? { readyFile: values['ready-file'] } : {}),
      ...(scheduler === undefined ? {} : { scheduler }),
      ...(security === undefined ? {} : { security }),
    });
  } catch (e) {
    logger.fatal({ err: e }, (e as Error).message);
    process.exit(1);
  }
}

/** `--policy` and `--policy-options` as the worker's scheduler options. */
function schedulerOf(policy: string | undefined, options: string | undefined): SchedulerOptions | undefined {
  if (policy === undefined && options === undefined) return undefined;
  let parsed: unknown = {};
  if (options !== undefined) {
    try {
      parsed = JSON.parse(options);
    } catch (e) {
      throw new ConfigError(
        '--policy-options',
        `not JSON (${(e as Error).message}); e.g. '{"agingMs":2000}'`,
      );
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError('--policy-options', 'must be a JSON object of the policy options');
    }
  }
  return { ...(policy === undefined ? {} : { policy }), options: parsed as PolicyOptions };
}

void main(process.argv.slice(2));
