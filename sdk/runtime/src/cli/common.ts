// What the `dirigo` verbs share: argument parsing with `--help`, a Kafka transport from --brokers or
// KAFKA_BROKERS, loading app modules, and output that respects pipes (results on stdout, progress on stderr).
import { once } from 'node:events';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  type AppDefinition,
  ConfigError,
  createLogger,
  type ResolvedApp,
  resolveApp,
  type Transport,
} from '@dirigo/core';
import { transportFromSettings } from '../process.ts';

// kafkajs 2.2.4 sets a negative timeout on Node 24 (tulios/kafkajs#1751): harmless, but it would print a
// warning in the middle of a verb's output.
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
  const first = rest[0];
  const type = typeof first === 'string' ? first : (first as { type?: string } | undefined)?.type;
  if (
    type === 'TimeoutNegativeWarning' ||
    (warning instanceof Error && warning.name === 'TimeoutNegativeWarning')
  )
    return;
  (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
} as typeof process.emitWarning;

// `dirigo record ... | head`: the reader went away; that is the end of the output, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

/** A verb's result: the process exit code. 0 done, 1 failed or found problems, 2 bad usage. */
export type ExitCode = 0 | 1 | 2;

/** Options every verb that talks to Kafka takes. */
export const KAFKA_OPTIONS = {
  brokers: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Parses a verb's arguments; prints its usage for --help (exit 0) or a bad argument (exit 2). */
export function parseVerb<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
  usage: string,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } | ExitCode {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options }) as typeof parsed;
  } catch (e) {
    say(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return parsed as ReturnType<typeof parseVerb>;
}

/** A line of progress or a message for the user: stderr. */
export const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Writes results to stdout, waiting when a pipe is full. */
export async function out(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/** Resolves once everything written to stdout is flushed (before process.exit). */
export const flushStdout = (): Promise<void> => new Promise((r) => process.stdout.write('', () => r()));

/**
 * The worker's transport (DIRIGO_TRANSPORT, else the default, platformatic) to --brokers, else KAFKA_BROKERS,
 * secured by the KAFKA_* security variables as a worker is; throws with what to do when no broker is given.
 */
export function transportFrom(values: Record<string, unknown>, clientId: string): Transport {
  const list = (values.brokers as string | undefined) ?? process.env.KAFKA_BROKERS;
  if (!list) {
    throw new ConfigError(
      '--brokers',
      'no Kafka to connect to: pass --brokers host:port or set KAFKA_BROKERS',
    );
  }
  const logger = createLogger({ level: (values['log-level'] as string | undefined) ?? 'warn' });
  return transportFromSettings({ brokers: list, clientId }, logger);
}

/** Imports app modules (like `dirigo worker`) and resolves them; `--app` picks one by name. */
export async function appsFrom(modules: readonly string[], pick?: string): Promise<ResolvedApp[]> {
  if (modules.length === 0)
    throw new ConfigError('<app-module>', 'give the app module(s), as for `dirigo worker`');
  const { loadApps } = await import('../process.ts');
  const defs: AppDefinition[] = await loadApps(modules);
  const apps = defs.map((d) => resolveApp(d));
  if (pick === undefined) return apps;
  const found = apps.filter((a) => a.name === pick);
  if (found.length === 0) {
    throw new ConfigError(
      '--app',
      `no app '${pick}' in ${modules.join(', ')}; apps there: ${apps.map((a) => a.name).join(', ')}`,
    );
  }
  return found;
}

/** The one app a verb works on: `--app`, or the only app of the modules. */
export async function oneApp(modules: readonly string[], pick?: string): Promise<ResolvedApp> {
  const apps = await appsFrom(modules, pick);
  if (apps.length > 1) {
    throw new ConfigError(
      '--app',
      `the modules define ${apps.length} apps (${apps.map((a) => a.name).join(', ')}); choose one with --app`,
    );
  }
  return apps[0]!;
}

/** Parses a positive number flag. */
export function positive(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(flag, `expected a positive number, got '${text}'`);
  return n;
}

/** Formats rows as an aligned table. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  return `${all
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
