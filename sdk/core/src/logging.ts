// Logging: an injected pino logger. Library code never uses `console`; components log through child loggers
// that carry their context (worker, app, function, partition).
import { pino } from 'pino';

/** The logger type used across Dirigo: a pino logger (or anything with the same shape). */
export type Logger = pino.Logger;

export interface LoggerOptions {
  /** Default: `DIRIGO_LOG_LEVEL`, else 'info'. */
  readonly level?: string;
  /** Defaults to `{ name: 'dirigo' }`. */
  readonly base?: Record<string, unknown>;
}

/** A JSON logger on stderr (stdout stays free for program output such as benchmark JSON). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.DIRIGO_LOG_LEVEL ?? 'info',
      base: options.base ?? { name: 'dirigo' },
    },
    pino.destination(2),
  );
}

/** A logger that drops everything: the default when none is injected. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
