// The `fifo` policy: the oldest queued message runs first, across all queues of all apps on the worker.
import type { PolicyOptions, QueueView, SchedulingPolicy, WorkerView } from '../types.ts';
import { checkKnown, pickOldest } from './shared.ts';

/**
 * `fifo`: dispatches the eligible head with the smallest `enqueuedAt` across all queues; admits everything.
 *
 * Starvation bound: none can occur; a message waits at most for the messages enqueued before it (plus, for a
 * busy key, the earlier messages of that key). Takes no options.
 *
 * @example createPolicy('fifo', {})
 */
export function fifoPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, []);
  return {
    name: 'fifo',
    pickNext(view: WorkerView): QueueView | undefined {
      return pickOldest(view);
    },
  };
}
