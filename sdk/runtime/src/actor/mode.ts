// The mode of a dual-mode actor at its lessor (the paper's three states), per key:
// - RUNNABLE: ordinary messages run here or at lessees, in parallel where the key is leased;
// - BLOCKED: a critical message arrived while lessees hold partial state: its sync round is out, and this
//   key's messages wait (durably, in the lessor's state) until every partial is merged;
// - CRITICAL: the lessor runs the waiting messages alone, critical ones first in line, with the merged state.
// Transitions are checked against the table; each is one debug log line. Other keys of the partition keep
// running whatever mode a key is in.
import type { Logger } from '@dirigo/core';

export type ActorMode = 'RUNNABLE' | 'BLOCKED' | 'CRITICAL';

export const MODE_TRANSITIONS: Readonly<Record<ActorMode, readonly ActorMode[]>> = {
  RUNNABLE: ['BLOCKED', 'CRITICAL'],
  BLOCKED: ['CRITICAL'],
  CRITICAL: ['RUNNABLE'],
};

/** Where transitions are counted (metrics); see `ModeObserver` in metrics/function-metrics.ts. */
export interface ModeCounter {
  transition(from: ActorMode, to: ActorMode): void;
}

/**
 * Checks, logs and counts (in `counter`, when given) one transition of actor `key`; throws on a transition the
 * table does not allow (a bug).
 */
export function transition(
  logger: Logger,
  key: string,
  from: ActorMode,
  to: ActorMode,
  counter?: ModeCounter,
): ActorMode {
  if (!MODE_TRANSITIONS[from].includes(to)) {
    throw new Error(`internal: actor '${key}' cannot go from ${from} to ${to}`);
  }
  logger.debug({ key, from, to }, `actor ${to}`);
  counter?.transition(from, to);
  return to;
}
