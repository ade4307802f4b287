// Internal: a step's messages as the dispatcher keeps them. A step runner gives them as columns (each message's
// key, ingest time, deadline and marks; the step's app, function, queue and priority once), and a
// `ScheduledMessage` object is made only when a policy is shown the message (its arrival hook, a queue's `head`,
// its completion or send hook), once per message: with the default policy (edf: no arrival, completion or send
// hook) that is one object per run of messages instead of one per record. Callers that give objects
// (`Dispatcher.submit` of an array) keep them: those are the ones policies see.
import type { PriorityClass } from '@dirigo/core';
import type { ScheduledMessage } from './types.ts';

/** A message's marks (`StepMessages.marks`): critical, leasable. */
export const MARK_CRITICAL = 1;
export const MARK_LEASABLE = 2;

/** The columns of one step's messages (all of one queue, in order). */
export class StepMessages {
  readonly length: number;
  /** App, function, queue and priority class of every message (columns; given objects may differ per message). */
  readonly app: string;
  readonly fn: string;
  readonly queue: string;
  readonly priority: PriorityClass;
  /** Each message's actor key. */
  readonly keys: readonly string[];
  /** Each message's ingest time and deadline, ms since epoch. */
  readonly ingest: Float64Array;
  readonly deadline: Float64Array;
  /** Each message's MARK_* bits; undefined when no message has any. */
  readonly marks: Uint8Array | undefined;
  /** When the step was enqueued (stamped by `Dispatcher.submit`), ms since epoch. */
  enqueuedAt: number;
  /** The objects made so far, by index (every one when the caller gave objects). */
  private objects: (ScheduledMessage | undefined)[] | undefined;
  /** The caller gave objects: app and function are read from each. */
  private readonly given: boolean;

  /**
   * Columns of `keys.length` messages. `enqueuedAt` should be a time such as the fetch time (see
   * `ScheduledMessage.enqueuedAt`); `Dispatcher.submit` stamps it.
   */
  constructor(
    app: string,
    fn: string,
    queue: string,
    priority: PriorityClass,
    keys: readonly string[],
    ingest: Float64Array,
    deadline: Float64Array,
    marks: Uint8Array | undefined,
    enqueuedAt: number,
    objects?: readonly ScheduledMessage[],
  ) {
    this.length = keys.length;
    this.app = app;
    this.fn = fn;
    this.queue = queue;
    this.priority = priority;
    this.keys = keys;
    this.ingest = ingest;
    this.deadline = deadline;
    this.marks = marks;
    this.enqueuedAt = enqueuedAt;
    this.given = objects !== undefined;
    this.objects = objects as (ScheduledMessage | undefined)[] | undefined;
  }

  /** The columns of messages given as objects (which stay the ones policies see). `messages` must not be empty. */
  static of(messages: readonly ScheduledMessage[]): StepMessages {
    const n = messages.length;
    const keys: string[] = new Array(n);
    const ingest = new Float64Array(n);
    const deadline = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      keys[i] = m.key;
      ingest[i] = m.ingest;
      deadline[i] = m.deadline;
    }
    const f = messages[0]!;
    return new StepMessages(
      f.app,
      f.fn,
      f.queue,
      f.priority,
      keys,
      ingest,
      deadline,
      undefined,
      f.enqueuedAt,
      messages,
    );
  }

  /** Stamps the step's enqueue time (and every given object's). */
  stamp(now: number): void {
    this.enqueuedAt = now;
    if (!this.given) return;
    const objects = this.objects!;
    for (let i = 0; i < objects.length; i++) objects[i]!.enqueuedAt = now;
  }

  appAt(i: number): string {
    return this.given ? this.objects![i]!.app : this.app;
  }

  fnAt(i: number): string {
    return this.given ? this.objects![i]!.fn : this.fn;
  }

  /** A critical message (it skips the arrival hook). */
  criticalAt(i: number): boolean {
    if (this.given) return this.objects![i]!.critical === true;
    return this.marks !== undefined && (this.marks[i]! & MARK_CRITICAL) !== 0;
  }

  /** Message `i` as a policy sees it: made on first use, the same object after that. */
  at(i: number): ScheduledMessage {
    let objects = this.objects;
    if (objects === undefined) {
      objects = new Array(this.length);
      this.objects = objects;
    }
    const made = objects[i];
    if (made !== undefined) return made;
    const mark = this.marks === undefined ? 0 : this.marks[i]!;
    // One shape for every message (no spread): the flags are true or undefined.
    const m: ScheduledMessage = {
      app: this.app,
      fn: this.fn,
      key: this.keys[i]!,
      queue: this.queue,
      priority: this.priority,
      ingest: this.ingest[i]!,
      deadline: this.deadline[i]!,
      enqueuedAt: this.enqueuedAt,
      critical: (mark & MARK_CRITICAL) !== 0 ? true : undefined,
      leasable: (mark & MARK_LEASABLE) !== 0 ? true : undefined,
    };
    objects[i] = m;
    return m;
  }
}
