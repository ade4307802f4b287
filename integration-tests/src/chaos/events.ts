// The chaos run's event log: every fault and phase with its time since the run began, to the harness logger
// and to `events.log` in the run's log directory (next to the worker logs), so a failed run can be read later.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@dirigo/core';

export class EventLog {
  private readonly t0 = Date.now();
  private readonly file: string;
  private readonly logger: Logger;
  constructor(logDir: string, logger: Logger) {
    this.file = join(logDir, 'events.log');
    this.logger = logger;
  }

  /** Milliseconds since the run began. */
  elapsed(): number {
    return Date.now() - this.t0;
  }

  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('info', msg, fields);
    this.logger.info(fields, `chaos: ${msg}`);
  }

  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', msg, fields);
    this.logger.warn(fields, `chaos: ${msg}`);
  }

  private write(level: string, msg: string, fields: Record<string, unknown>): void {
    const line = JSON.stringify({ t: this.elapsed(), at: new Date().toISOString(), level, msg, ...fields });
    appendFileSync(this.file, `${line}\n`);
  }
}
