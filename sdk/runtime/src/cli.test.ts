// `dirigo worker` fails loudly on a bad flag or environment value: exit 2, one line naming the flag (or
// variable) and the fix, before connecting to anything (the brokers below do not exist, so a CLI that tried to
// connect would retry for half a minute instead of exiting at once).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, 'cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'dirigo-cli-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const core = pathToFileURL(resolve(here, '../../core/src/index.ts')).href;
const appModule = join(dir, 'app.ts');
writeFileSync(
  appModule,
  `import { defineApp, fn } from '${core}';\nexport default defineApp({ name: 'cli', ingresses: [{ topic: 'in', to: 'f' }], functions: { f: fn({ handler() {} }) } });\n`,
);
const noExport = join(dir, 'empty.ts');
writeFileSync(noExport, 'export const nothing = 1;\n');

/** A broker address nothing listens on. */
const NOWHERE = '127.0.0.1:9';

function run(args: string[], env: Record<string, string | undefined> = {}) {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    DIRIGO_LOG_LEVEL: undefined,
    ...env,
  };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const began = Date.now();
  const r = spawnSync(process.execPath, ['--conditions=source', cli, ...args], {
    env: childEnv as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, ms: Date.now() - began };
}

describe('dirigo worker: usage errors exit 2 before connecting', () => {
  it.each([
    [['--session-timeout-ms', 'abc'], {}, '--session-timeout-ms: "abc" is not an integer'],
    [
      ['--session-timeout-ms', '500'],
      {},
      '--session-timeout-ms: 500 must be greater than the heartbeat interval',
    ],
    [
      ['--log-level', 'verbose'],
      {},
      '--log-level: "verbose" is not a log level; use one of fatal, error, warn',
    ],
    [[], { DIRIGO_LOG_LEVEL: 'loud' }, 'DIRIGO_LOG_LEVEL: "loud" is not a log level'],
    [['--brokers', 'host'], {}, '--brokers: "host" is not host:port; add the port, e.g. host:9092'],
    [['--brokers', 'host:notaport'], {}, '--brokers: "host:notaport" is not host:port'],
    [
      ['--brokers', 'host:70000'],
      {},
      '--brokers: "host:70000" has port 70000; a port is an integer from 1 to 65535',
    ],
    [[], { KAFKA_BROKERS: 'broker1:9092,broker2' }, 'KAFKA_BROKERS: "broker2" is not host:port'],
    [[], { KAFKA_BROKERS: undefined }, '--brokers: no Kafka to connect to'],
    [['--metrics-port', '70000'], {}, '--metrics-port: "70000" is not an integer from 0 to 65535'],
    [
      ['--metrics-port', '0', '--metrics-host', 'two words'],
      {},
      '--metrics-host: "two words" is not a host name',
    ],
    [['--metrics-host', '0.0.0.0'], {}, '--metrics-host: needs --metrics-port'],
    [['--stop-timeout-ms', '1e3'], {}, '--stop-timeout-ms: "1e3" is not an integer'],
    [['--assignment-timeout-ms', 'soon'], {}, '--assignment-timeout-ms: "soon" is not an integer'],
    [['--purge-interval-ms', '0.5'], {}, '--purge-interval-ms: "0.5" is not an integer'],
    [['--control-topic', 'bad topic'], {}, '--control-topic: "bad topic" is not a Kafka topic name'],
    [['--worker-id', 'a b'], {}, '--worker-id: "a b" is not a worker id'],
    [['--ready-file', '/no/such/dir/ready'], {}, '--ready-file: cannot write a file in /no/such/dir'],
    [['--policy', 'nope'], {}, "--policy: unknown scheduling policy 'nope'"],
    [['--policy-options', '[1]'], {}, '--policy-options: must be a JSON object'],
    [['--policy-options', '{'], {}, '--policy-options: not JSON'],
    [
      ['--transport', 'rdkafka'],
      {},
      '--transport: "rdkafka" is not a transport; use one of kafkajs, platformatic',
    ],
    [[], { DIRIGO_TRANSPORT: 'confluent' }, 'DIRIGO_TRANSPORT: "confluent" is not a transport'],
    [
      ['--group-protocol', 'cooperative'],
      {},
      '--group-protocol: "cooperative" is not a group protocol; use one of classic, consumer',
    ],
    [
      ['--group-protocol', 'consumer'],
      { DIRIGO_TRANSPORT: 'kafkajs' },
      "groupProtocol: the 'consumer' group protocol (KIP-848) needs the platformatic transport",
    ],
    [[], { DIRIGO_GROUP_PROTOCOL: 'eager' }, 'DIRIGO_GROUP_PROTOCOL: "eager" is not a group protocol'],
    [['--exactly-once', 'v3'], {}, '--exactly-once: "v3" is not an exactly-once version; use v1 or v2'],
    [[], { DIRIGO_EXACTLY_ONCE: 'two' }, 'DIRIGO_EXACTLY_ONCE: "two" is not an exactly-once version'],
    [['--exactly-once-fence-v1', 'no'], {}, '--exactly-once-fence-v1: "no" is not a switch; use on or off'],
    [[], { DIRIGO_EXACTLY_ONCE_FENCE_V1: 'false' }, 'DIRIGO_EXACTLY_ONCE_FENCE_V1: "false" is not a switch'],
    [['--pipeline-steps', 'yes'], {}, '--pipeline-steps: "yes" is not a switch; use on or off'],
    [[], { DIRIGO_PIPELINE_STEPS: '1' }, 'DIRIGO_PIPELINE_STEPS: "1" is not a switch'],
  ] as [string[], Record<string, string | undefined>, string][])('%j %j', (flags, env, message) => {
    const withBrokers = flags.includes('--brokers') || 'KAFKA_BROKERS' in env ? [] : ['--brokers', NOWHERE];
    const r = run(['worker', appModule, ...withBrokers, ...flags], env);
    expect(r.stderr).toContain(message);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toContain('    at '); // no stack trace
    expect(r.stderr).not.toContain('worker running');
    expect(r.ms).toBeLessThan(10_000);
  });

  it('names a missing module, and a module without an app', () => {
    const missing = run(['worker', join(dir, 'nope.ts'), '--brokers', NOWHERE]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('nope.ts: no such app module');
    const empty = run(['worker', noExport, '--brokers', NOWHERE]);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toContain('the module must `export default defineApp({...})`');
  });

  it('--help prints the usage and exits 0', () => {
    const r = run(['worker', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--stop-timeout-ms');
    expect(r.stdout).toContain('--metrics-host');
  });
});
