// A small guarded state machine: allowed transitions in a table, one structured log line per transition.
import type { Logger } from '@dirigo/core';

export class Lifecycle<S extends string> {
  private current: S;
  private readonly allowed: Readonly<Record<S, readonly S[]>>;
  private readonly logger: Logger;
  private readonly what: string;
  private readonly level: 'info' | 'debug';

  constructor(
    what: string,
    initial: S,
    allowed: Readonly<Record<S, readonly S[]>>,
    logger: Logger,
    level: 'info' | 'debug' = 'info',
  ) {
    this.what = what;
    this.level = level;
    this.current = initial;
    this.allowed = allowed;
    this.logger = logger;
  }

  get state(): S {
    return this.current;
  }

  is(...states: S[]): boolean {
    return states.includes(this.current);
  }

  /** Moves to `to`; throws when the table does not allow it. */
  to(to: S, detail?: Record<string, unknown>): void {
    const from = this.current;
    if (!this.allowed[from].includes(to)) {
      throw new Error(`${this.what}: illegal transition ${from} -> ${to}`);
    }
    this.current = to;
    this.logger[this.level]({ ...detail, from, to }, `${this.what} ${to}`);
  }
}
