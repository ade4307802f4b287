// A pino-shaped logger for tests that records every line.
import type { Logger } from '@dirigo/core';

/** One log line: merged bindings, fields and message. */
export type Line = Record<string, unknown>;

/** A pino-shaped logger that records every line. */
export function recordingLogger(lines: Line[], bindings: Line = {}): Logger {
  const log = (obj: unknown, msg?: string) =>
    lines.push(typeof obj === 'string' ? { ...bindings, msg: obj } : { ...bindings, ...(obj as Line), msg });
  const logger = {
    level: 'info',
    child: (b: Line) => recordingLogger(lines, { ...bindings, ...b }),
    trace: log,
    debug: log,
    info: log,
    warn: log,
    error: log,
    fatal: log,
  };
  return logger as unknown as Logger;
}
