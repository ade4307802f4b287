// Runtime errors, named after the recovery they need.
import { DirigoError } from '@dirigo/core';

/**
 * A record failed under the app's `stop` policy: the app stops (the worker and other apps go on). The message
 * names the record and the reason.
 */
export class AppStoppedError extends DirigoError {
  readonly app: string;
  constructor(app: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.app = app;
  }
}

/**
 * The runtime reached a state it should never be in (a bug, or an inconsistency it cannot repair, e.g. a topic
 * whose partition count it does not know). Retrying cannot help: a partition that fails to open with it stops
 * its app, with this message, instead of retrying forever. The message starts with `internal:`.
 */
export class InternalError extends DirigoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`internal: ${message}`, options);
  }
}
