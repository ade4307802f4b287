// The `edf` policy: earliest deadline first across all queues of all apps.
import type { PolicyOptions, QueueView, SchedulingPolicy, WorkerView } from '../types.ts';
import { checkKnown, pickEarliestDeadline, positiveNumber } from './shared.ts';

/** Options of the `edf` policy. */
export interface EdfPolicyOptions {
  /** Deadline assumed for a message whose deadline is not a finite number: enqueuedAt + this. Default 1000. */
  readonly missingDeadlineMs?: number;
}

/**
 * `edf`: dispatches the head with the earliest deadline (ties: oldest `enqueuedAt`); admits everything.
 * Late messages are not dropped: they have the earliest deadlines and run first, which under overload makes
 * EDF degrade (a late message delays ones that could still make it; `laxity` avoids that).
 *
 * Starvation bound: deadlines are finite (a missing one becomes enqueuedAt + `missingDeadlineMs`), and the
 * runtime clamps a message arriving at `t` to a deadline >= t - (its app's latency target), whatever its
 * headers say (see `deadlineOf`). So a message with deadline D waits at most for the messages that arrive
 * before D + (largest latency target among the apps), plus those already queued with earlier deadlines.
 *
 * @example createPolicy('edf', {})
 */
export function edfPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, ['missingDeadlineMs']);
  const missing = positiveNumber(options, 'missingDeadlineMs', 1000);
  return {
    name: 'edf',
    pickNext: (view: WorkerView): QueueView | undefined => pickEarliestDeadline(view, missing),
  };
}
