// The state of one input partition of one function: committed cells (what the changelog holds) plus the
// pending writes of the step being processed. Writes go to the pending layer with an undo journal, so a
// failing handler's writes are rolled back alone; a committed step applies its pending layer and yields the
// changelog records of exactly the cells that changed.
import { json, type OutgoingRecord, type ResolvedState } from '@dirigo/core';
import type { KeyValueStore } from './store.ts';

/** Marks a deleted cell or map entry in the pending layer. */
const DELETED: unique symbol = Symbol('deleted');
type Pending = unknown | typeof DELETED;

/** The internal map state holding durable timers (delayed sends) of a partition, under actor key ''. */
export const TIMERS = '__timers';

/** Cell key of a value cell or of a whole map: `state \0 actorKey`. */
export const cellKey = (stateName: string, actorKey: string): string => `${stateName}\u0000${actorKey}`;

/** Changelog record key: JSON of [state, actorKey] or [state, actorKey, mapKey]. */
export const changelogKey = (stateName: string, actorKey: string, mapKey?: string): Buffer =>
  Buffer.from(JSON.stringify(mapKey === undefined ? [stateName, actorKey] : [stateName, actorKey, mapKey]));

/** One write of a message, to undo if its handler throws. */
export interface UndoEntry {
  readonly map: Map<string, Pending> | Map<string, Map<string, Pending>>;
  readonly key: string;
  readonly had: boolean;
  readonly prev: unknown;
}

/**
 * Committed and pending state of one partition. `store` holds committed values (deserialised); the pending
 * layer lives here until `commit()`.
 */
export class PartitionState {
  readonly changelogTopic: string;
  readonly partition: number;
  readonly store: KeyValueStore;
  private readonly kinds: Map<string, ResolvedState>;
  /** Earliest known timer due time; 0 at first, so the first step scans the timers the store already holds. */
  private nextDue = 0;
  private pendingValues = new Map<string, Pending>();
  private pendingMaps = new Map<string, Map<string, Pending>>();

  constructor(
    changelogTopic: string,
    partition: number,
    states: readonly ResolvedState[],
    store: KeyValueStore,
  ) {
    this.changelogTopic = changelogTopic;
    this.partition = partition;
    this.store = store;
    this.kinds = new Map(states.map((s) => [s.name, s]));
    this.kinds.set(TIMERS, { name: TIMERS, kind: 'map', serde: json(), merge: undefined });
  }

  /** Applies one changelog record during restore (or catch-up). Unknown state names are kept as-is. */
  applyChangelog(key: Buffer | null, value: Buffer | null): void {
    if (key === null) return;
    const parts = JSON.parse(key.toString('utf8')) as [string, string, string?];
    const [stateName, actorKey, mapKey] = parts;
    const spec = this.kinds.get(stateName);
    const decoded = value === null ? undefined : spec ? spec.serde.deserialize(value) : value;
    const ck = cellKey(stateName, actorKey);
    if (mapKey === undefined) {
      if (decoded === undefined) this.store.deleteValue(ck);
      else this.store.setValue(ck, decoded);
    } else if (decoded === undefined) this.store.deleteEntry(ck, mapKey);
    else {
      this.store.setEntry(ck, mapKey, decoded);
      if (stateName === TIMERS) this.noteTimer((decoded as { due: number }).due);
    }
  }

  /** True when a timer may be due at `now` (cheap). */
  timersDue(now: number): boolean {
    return now >= this.nextDue;
  }

  /** A timer due at `due` exists (restored or just set). */
  noteTimer(due: number): void {
    if (due < this.nextDue) this.nextDue = due;
  }

  /**
   * Removes the timers due at `now` (in the pending layer) and returns them, oldest first; cheap when none is
   * due.
   */
  takeDueTimers<T extends { due: number }>(now: number): T[] {
    if (now < this.nextDue) return [];
    const ck = cellKey(TIMERS, '');
    const due: [string, T][] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [id, entry] of this.entries(ck)) {
      const e = entry as T;
      if (e.due <= now) due.push([id, e]);
      else if (e.due < next) next = e.due;
    }
    this.nextDue = next;
    due.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const scratch: UndoEntry[] = [];
    for (const [id] of due) this.setEntry(ck, id, undefined, scratch);
    return due.map((d) => d[1]);
  }

  getValue(ck: string): unknown {
    const p = this.pendingValues.get(ck);
    if (p !== undefined || this.pendingValues.has(ck)) return p === DELETED ? undefined : p;
    return this.store.getValue(ck);
  }

  setValue(ck: string, value: unknown, undo: UndoEntry[]): void {
    undo.push({
      map: this.pendingValues,
      key: ck,
      had: this.pendingValues.has(ck),
      prev: this.pendingValues.get(ck),
    });
    this.pendingValues.set(ck, value === undefined ? DELETED : value);
  }

  getEntry(ck: string, mapKey: string): unknown {
    const pm = this.pendingMaps.get(ck);
    if (pm?.has(mapKey)) {
      const p = pm.get(mapKey);
      return p === DELETED ? undefined : p;
    }
    return this.store.getEntry(ck, mapKey);
  }

  setEntry(ck: string, mapKey: string, value: unknown, undo: UndoEntry[]): void {
    let pm = this.pendingMaps.get(ck);
    if (pm === undefined) {
      pm = new Map();
      this.pendingMaps.set(ck, pm);
    }
    undo.push({ map: pm, key: mapKey, had: pm.has(mapKey), prev: pm.get(mapKey) });
    pm.set(mapKey, value === undefined ? DELETED : value);
  }

  entries(ck: string): [string, unknown][] {
    const out = new Map<string, unknown>(this.store.entries(ck));
    const pm = this.pendingMaps.get(ck);
    if (pm) for (const [k, v] of pm) v === DELETED ? out.delete(k) : out.set(k, v);
    return [...out];
  }

  /** Undoes one message's writes (its handler threw), newest first. */
  rollback(undo: readonly UndoEntry[]): void {
    for (let i = undo.length - 1; i >= 0; i--) {
      const u = undo[i]!;
      const m = u.map as Map<string, unknown>;
      if (u.had) m.set(u.key, u.prev);
      else m.delete(u.key);
    }
  }

  /** Changelog records for every pending change (tombstones for deletes), to write in this step. */
  changelogRecords(out: OutgoingRecord[]): void {
    const topic = this.changelogTopic;
    const partition = this.partition;
    for (const [ck, v] of this.pendingValues) {
      const sep = ck.indexOf('\u0000');
      const stateName = ck.slice(0, sep);
      const spec = this.kinds.get(stateName);
      const value = v === DELETED || spec === undefined ? null : spec.serde.serialize(v);
      out.push({ topic, partition, key: changelogKey(stateName, ck.slice(sep + 1)), value });
    }
    for (const [ck, pm] of this.pendingMaps) {
      const sep = ck.indexOf('\u0000');
      const stateName = ck.slice(0, sep);
      const actorKey = ck.slice(sep + 1);
      const spec = this.kinds.get(stateName);
      for (const [mk, v] of pm) {
        const value = v === DELETED || spec === undefined ? null : spec.serde.serialize(v);
        out.push({ topic, partition, key: changelogKey(stateName, actorKey, mk), value });
      }
    }
  }

  /** True when the step changed something. */
  get dirty(): boolean {
    return this.pendingValues.size > 0 || this.pendingMaps.size > 0;
  }

  /** The step committed: its pending writes become committed state, in one store batch. */
  commit(): void {
    if (!this.dirty) return;
    this.store.batch(() => {
      for (const [ck, v] of this.pendingValues) {
        if (v === DELETED) this.store.deleteValue(ck);
        else this.store.setValue(ck, v);
      }
      for (const [ck, pm] of this.pendingMaps) {
        for (const [mk, v] of pm) {
          if (v === DELETED) this.store.deleteEntry(ck, mk);
          else this.store.setEntry(ck, mk, v);
        }
      }
    });
    this.clearPending();
  }

  /** The step failed: forget its pending writes (timers taken by it will be found again). */
  discard(): void {
    this.clearPending();
    this.nextDue = 0;
  }

  private clearPending(): void {
    if (this.pendingValues.size > 0) this.pendingValues = new Map();
    if (this.pendingMaps.size > 0) this.pendingMaps = new Map();
  }
}
