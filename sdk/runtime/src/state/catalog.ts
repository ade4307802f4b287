// Which state cells a task's store may hold: the declared states of the functions whose cells it keeps (one
// function at a lessor; the leasable functions of an app at a lease slot), plus the runtime's internal states
// (timers and, at a lessor, lease bookkeeping), each with its kind and serde.
import { json, type ResolvedFunction, type ResolvedState } from '@dirigo/core';

/** Durable timers (delayed sends) of a task: a map cell under actor key ''. */
export const TIMERS = '__timers';

/** Internal states every space has. */
const INTERNAL: readonly ResolvedState[] = [{ name: TIMERS, kind: 'map', serde: json() }];

export class StateCatalog {
  private readonly specs = new Map<string, ResolvedState>();

  /** A catalog of the declared states of `functions` of `app`, plus the internal ones. */
  constructor(app: string, functions: readonly ResolvedFunction[], internal: readonly ResolvedState[] = []) {
    for (const fn of functions) {
      for (const s of [...fn.states, ...INTERNAL, ...internal])
        this.specs.set(catalogKey(app, fn.name, s.name), s);
    }
  }

  /** The spec of state `state` of `app`/`fn`, or undefined when unknown (its changelog records are kept as bytes). */
  spec(app: string, fn: string, state: string): ResolvedState | undefined {
    return this.specs.get(catalogKey(app, fn, state));
  }
}

const catalogKey = (app: string, fn: string, state: string): string => `${app}\u0000${fn}\u0000${state}`;
