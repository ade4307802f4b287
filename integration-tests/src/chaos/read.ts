// Reading back what a chaos run committed: whole topics (read_committed, through `transport.readToEnd`) and
// the final state in the compacted changelogs. All knowledge of the changelog key format is in
// `decodeChangelogKey`, so a format change touches one function.
import type { IncomingRecord, Transport } from '@dirigo/core';
import { decodeChangelogKey as decodeRuntimeKey } from '@dirigo/runtime';

/** A committed record with its value parsed as JSON. */
export interface ReadRecord<T> {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: T;
}

/** Every committed record of `topic` from the beginning, values parsed as JSON (null values are skipped). */
export async function readTopic<T>(transport: Transport, topic: string): Promise<ReadRecord<T>[]> {
  const admin = await transport.admin();
  const offsets = await admin.fetchTopicOffsets(topic);
  const out: ReadRecord<T>[] = [];
  await transport.readToEnd(
    offsets.map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
    (records: readonly IncomingRecord[]) => {
      for (const r of records) {
        if (r.value === null) continue;
        out.push({
          partition: r.partition,
          offset: r.offset,
          key: r.key?.toString() ?? null,
          value: JSON.parse(r.value.toString()) as T,
        });
      }
    },
  );
  return out;
}

/** A changelog record's key: the state cell it belongs to (and the map entry, for map states). */
export interface ChangelogKey {
  readonly state: string;
  readonly actor: string;
  readonly mapKey?: string;
  /** The cell's function ('__lease' for a lease slot's own bookkeeping) and lease slot (null at the lessor). */
  readonly fn: string;
  readonly slot: number | null;
}

/**
 * THE decoder of changelog keys, through the runtime's cell-key codec (`[app, fn, slot, state, actorKey]`, plus
 * the map entry key for map entries). Returns undefined for a key it does not understand.
 */
export function decodeChangelogKey(key: Buffer): ChangelogKey | undefined {
  // The runtime's one cell-key codec: [app, fn, slot, state, key(, entry)] (and the legacy [state, key(, entry)]).
  const cell = decodeRuntimeKey(key, { app: '', fn: '', slot: null });
  if (cell === undefined) return undefined;
  const where = { fn: cell.fn, slot: cell.slot };
  return cell.entry === undefined
    ? { state: cell.state, actor: cell.key, ...where }
    : { state: cell.state, actor: cell.key, mapKey: cell.entry, ...where };
}

/** The final state of one function, as its changelog says (last record per cell wins; null deletes). */
export class FinalState {
  /** state -> actor -> value */
  readonly values = new Map<string, Map<string, unknown>>();
  /** state -> actor -> map key -> value */
  readonly maps = new Map<string, Map<string, Map<string, unknown>>>();
  /** Records whose key `decodeChangelogKey` did not understand. */
  undecodable = 0;

  apply(key: Buffer | null, value: Buffer | null): void {
    const k = key === null ? undefined : decodeChangelogKey(key);
    if (k === undefined) {
      this.undecodable++;
      return;
    }
    const v = value === null ? undefined : (JSON.parse(value.toString('utf8')) as unknown);
    if (k.mapKey === undefined) {
      const cells = getOrCreate(this.values, k.state, () => new Map<string, unknown>());
      if (v === undefined) cells.delete(k.actor);
      else cells.set(k.actor, v);
      return;
    }
    const actors = getOrCreate(this.maps, k.state, () => new Map<string, Map<string, unknown>>());
    const entries = getOrCreate(actors, k.actor, () => new Map<string, unknown>());
    if (v === undefined) entries.delete(k.mapKey);
    else entries.set(k.mapKey, v);
    if (entries.size === 0) actors.delete(k.actor);
  }

  /** The value state `state` of every actor that has one. */
  value<T>(state: string): ReadonlyMap<string, T> {
    return (this.values.get(state) ?? new Map<string, unknown>()) as ReadonlyMap<string, T>;
  }

  /** The non-empty maps of map state `state`, per actor. */
  map<T>(state: string): ReadonlyMap<string, ReadonlyMap<string, T>> {
    return (this.maps.get(state) ?? new Map<string, Map<string, unknown>>()) as ReadonlyMap<
      string,
      ReadonlyMap<string, T>
    >;
  }
}

function getOrCreate<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

/** Reads a function's changelog topic to its end (read_committed). */
export async function readChangelog(transport: Transport, topic: string): Promise<FinalState> {
  const admin = await transport.admin();
  const offsets = await admin.fetchTopicOffsets(topic);
  const state = new FinalState();
  await transport.readToEnd(
    offsets.map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records) state.apply(r.key, r.value);
    },
  );
  return state;
}

/** Occurrences per id. */
export class Tally<K> {
  readonly counts = new Map<K, number>();
  add(id: K): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }
  get(id: K): number {
    return this.counts.get(id) ?? 0;
  }
  /** Copies beyond the first, summed over all ids. */
  extra(): number {
    let n = 0;
    for (const c of this.counts.values()) if (c > 1) n += c - 1;
    return n;
  }
}
