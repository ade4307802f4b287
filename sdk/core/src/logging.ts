// Logging: an injected pino logger. Library code never uses `console`; components log through child loggers
// that carry their context (worker, app, function, partition). On a terminal the lines are pretty-printed
// (pino-pretty); anywhere else they are JSON, one object per line, for log shippers.
import { createRequire } from 'node:module';
import { type DestinationStream, pino } from 'pino';

/** The logger type used across Dirigo: a pino logger (or anything with the same shape). */
export type Logger = pino.Logger;

/** `json`: one JSON object per line; `pretty`: human-readable (pino-pretty). */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** Default: `DIRIGO_LOG_LEVEL`, else 'info'. */
  readonly level?: string;
  /** Defaults to `{ name: 'dirigo' }`. */
  readonly base?: Record<string, unknown>;
  /**
   * Default: `DIRIGO_LOG_FORMAT` ('json' or 'pretty'), else 'pretty' when stderr (where the lines go) is a
   * terminal and 'json' otherwise.
   */
  readonly format?: LogFormat;
  /**
   * A file to append JSON lines to instead of stderr (created with its directory when missing; written
   * synchronously, so nothing is lost when the process ends). `format` does not apply.
   */
  readonly file?: string;
}

/** The format `createLogger` picks: the option, else `DIRIGO_LOG_FORMAT`, else pretty on a terminal. */
export function logFormat(
  option: LogFormat | undefined,
  env: string | undefined = process.env.DIRIGO_LOG_FORMAT,
  tty: boolean = process.stderr.isTTY === true,
): LogFormat {
  if (option !== undefined) return option;
  if (env === 'json' || env === 'pretty') return env;
  return tty ? 'pretty' : 'json';
}

/**
 * A logger on stderr (stdout stays free for program output such as benchmark JSON): pretty-printed on a
 * terminal, JSON lines otherwise (see `LoggerOptions.format`); or JSON lines in `file`.
 *
 * @example
 * const logger = createLogger({ level: 'debug' });
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? process.env.DIRIGO_LOG_LEVEL ?? 'info',
    base: options.base ?? { name: 'dirigo' },
  };
  if (options.file !== undefined) {
    return pino(settings, pino.destination({ dest: options.file, mkdir: true, sync: true }));
  }
  return pino(settings, logFormat(options.format) === 'pretty' ? prettyStderr() : pino.destination(2));
}

/** pino-pretty writing synchronously to stderr (loaded only when used). */
function prettyStderr(): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.hasColors?.() ?? false,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
  });
}

/** A logger that drops everything: the default when none is injected. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
