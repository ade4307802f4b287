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
