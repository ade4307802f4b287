// Which state cells a task's store may hold, by space: the declared states of the functions whose cells it
// keeps (one function at a lessor; the leasable functions of an app at a lease slot) plus the runtime's
// internal states (timers everywhere; lease bookkeeping at lessors and slots), each with its kind and serde.
import { json, type ResolvedState } from '@dirigo/core';

/** Durable timers (delayed sends) of a task: a map cell under actor key ''. */
export const TIMERS = '__timers';

/** An internal map state with JSON values. */
export const internalMap = (name: string): ResolvedState => ({
  name,
  kind: 'map',
  serde: json(),
  merge: undefined,
});

/** The states of one space (`app`/`fn`), the internal timers included. */
export interface SpaceStates {
  readonly app: string;
  readonly fn: string;
  readonly states: readonly ResolvedState[];
}

export class StateCatalog {
  private readonly specs = new Map<string, ResolvedState>();

  constructor(spaces: readonly SpaceStates[]) {
    for (const space of spaces) {
      for (const s of [...space.states, internalMap(TIMERS)])
        this.specs.set(catalogKey(space.app, space.fn, s.name), s);
    }
  }

  /** The spec of state `state` of `app`/`fn`, or undefined when unknown (its changelog records are kept as bytes). */
  spec(app: string, fn: string, state: string): ResolvedState | undefined {
    return this.specs.get(catalogKey(app, fn, state));
  }
}

const catalogKey = (app: string, fn: string, state: string): string => `${app}\u0000${fn}\u0000${state}`;
