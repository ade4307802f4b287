// Command line of the CLI (`npm run kafka -- <command> [options]`), parsed without side effects.
import { parseArgs } from 'node:util';
import { DEFAULT_BASE_PORT, DEFAULT_KAFKA_VERSION, type NodeCount } from './config.ts';
import { SECURITY_MODES, type SecurityMode } from './secure-config.ts';

export type Command = 'start' | 'stop' | 'status' | 'fetch' | 'help';

export interface CliArgs {
  readonly command: Command;
  readonly nodes: NodeCount;
  readonly basePort: number;
  readonly version: string;
  /** Secured listeners (start): which one's bootstrap servers to print; undefined for PLAINTEXT only. */
  readonly security?: SecurityMode;
}

export const USAGE = `Usage: npm run kafka -- <command> [options]

Commands:
  start    start a local Apache Kafka (KRaft) cluster in the background; prints the bootstrap servers
  stop     stop the cluster started by \`start\` and delete its data
  status   tell whether it runs (exit code 0) or not (1), and its bootstrap servers
  fetch    only download Kafka into the cache (CI does this first, so its time shows apart)

Options (start):
  --nodes <1|3>       number of combined broker+controller nodes (default 1)
  --base-port <port>  PLAINTEXT port of node 1 (default ${DEFAULT_BASE_PORT}); node i uses
                      base+(i-1)*10000 and the controller the port after it
  --version <x.y.z>   Kafka version from Maven Central (default ${DEFAULT_KAFKA_VERSION})
  --security <mode>   also listen with TLS and SASL: SASL_SSL on base+2, SSL with required client
                      certificates on base+3, SASL_PLAINTEXT on base+4 (certificates made by keytool,
                      a SCRAM/PLAIN user with a random password); prints the listener of <mode>:
                      sasl_ssl, ssl or sasl_plaintext, and the file of client settings on stderr

Needs Java 17+ and Maven (mvn) on PATH; Kafka is fetched once into .cache/kafka.
If KAFKA_BROKERS is set, start and status only report it.`;

/** Parses argv (without node and script); throws an Error with a message for the user on bad input. */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      nodes: { type: 'string', short: 'n' },
      'base-port': { type: 'string', short: 'p' },
      version: { type: 'string' },
      security: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [first, ...rest] = positionals;
  if (rest.length > 0) throw new Error(`unexpected argument: ${rest.join(' ')}`);
  const command = values.help ? 'help' : (first ?? 'help');
  if (
    command !== 'start' &&
    command !== 'stop' &&
    command !== 'status' &&
    command !== 'fetch' &&
    command !== 'help'
  ) {
    throw new Error(`unknown command: ${command}`);
  }
  let nodes: NodeCount = 1;
  if (values.nodes !== undefined) {
    if (values.nodes !== '1' && values.nodes !== '3')
      throw new Error(`--nodes must be 1 or 3, got ${values.nodes}`);
    nodes = values.nodes === '3' ? 3 : 1;
  }
  let basePort = DEFAULT_BASE_PORT;
  if (values['base-port'] !== undefined) {
    basePort = Number(values['base-port']);
    if (!/^\d+$/.test(values['base-port']) || basePort < 1024 || basePort > 65_534) {
      throw new Error(`--base-port must be a port number from 1024 to 65534, got ${values['base-port']}`);
    }
  }
  const version = values.version ?? DEFAULT_KAFKA_VERSION;
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`--version must look like 4.2.2, got ${version}`);
  let security: SecurityMode | undefined;
  if (values.security !== undefined) {
    const mode = values.security.toLowerCase() as SecurityMode;
    if (!SECURITY_MODES.includes(mode)) {
      throw new Error(`--security must be one of ${SECURITY_MODES.join(', ')}, got ${values.security}`);
    }
    security = mode;
  }
  return { command, nodes, basePort, version, ...(security ? { security } : {}) };
}
