// The accessor of a mergeable state cell (state.mergeable) inside a handler. The same code serves the lessor
// (its cell holds the authoritative value plus whatever partials were merged into it) and a lessee (its cell,
// in the lease slot's space, holds the partial of the messages it processed since the last sync, starting
// from identity). `merge` combines a delta in; `set` and `clear` need exclusive access (see
// MessageContext.exclusiveWrite).
import type { Mergeable, MergeableState, ResolvedState } from '@dirigo/core';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';

/** What the accessor needs of the message it belongs to. */
export interface MergeableOwner {
  journal(): UndoEntry[];
  exclusiveWrite(state: string, what: 'set' | 'clear'): void;
}

export function mergeableAccessor(
  layer: StateLayer,
  head: string,
  key: string,
  spec: ResolvedState,
  owner: MergeableOwner,
): MergeableState<unknown> {
  const m = spec.merge!;
  const state = spec.name;
  const get = (): unknown => {
    const v = layer.getValue(head, key);
    return v === undefined ? m.identity() : v;
  };
  return {
    get,
    merge: (delta: unknown) =>
      layer.setValue(head, key, m.combine(get(), delta), owner.journal(), spec.serde, state),
    set: (value: unknown) => {
      owner.exclusiveWrite(state, 'set');
      if (value === undefined)
        throw new Error(`state '${state}': set(undefined) is not allowed; use clear()`);
      layer.setValue(head, key, value, owner.journal(), spec.serde, state);
    },
    clear: () => {
      owner.exclusiveWrite(state, 'clear');
      layer.setValue(head, key, undefined, owner.journal());
    },
  };
}

/** Combines a partial `delta` (from a lessee) into the lessor's cell of actor `key` under head `head`. */
export function mergeInto(
  layer: StateLayer,
  head: string,
  key: string,
  m: Mergeable<unknown>,
  delta: unknown,
  undo: UndoEntry[],
): void {
  const v = layer.getValue(head, key);
  layer.setValue(head, key, m.combine(v === undefined ? m.identity() : v, delta), undo);
}
