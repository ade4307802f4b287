// The state of one task (an input partition): committed cells in a store (what the changelog holds) plus the
// pending writes of the step being processed. Writes go to the pending layer with an undo journal, so a failing
// handler's writes are rolled back alone; a committed step applies its pending layer and yields the changelog
// records of exactly the cells that changed. Cells are addressed by store keys (state/cell-key.ts).
//
// Pipelined steps (`WorkerOptions.pipelineSteps`): a step whose commit is in flight keeps its writes in a sealed
// layer, between the pending layer of the next step (which reads through it) and the store; the commit applies
// it to the store, a failure discards it with the pending one.
import { type OutgoingRecord, type Serde, SerdeError } from '@dirigo/core';
import type { StateCatalog } from './catalog.ts';
import {
  type CellSpace,
  ChangelogKeys,
  decodeChangelogKey,
  spacePrefix,
  storeHead,
  storeKey,
} from './cell-key.ts';
import { innerMap, type KeyValueStore } from './store.ts';

/** Marks a deleted cell or map entry in the pending layer. */
const DELETED: unique symbol = Symbol('deleted');

/**
 * A pending write of a value cell or a map entry: the value (DELETED for a delete) and, when a serde encoded it
 * on write, its bytes for the changelog (one map lookup finds both).
 */
class PendingWrite {
  readonly value: unknown;
  readonly bytes: Buffer | undefined;

  constructor(value: unknown, bytes: Buffer | undefined) {
    this.value = value;
    this.bytes = bytes;
  }
}

/** One write of a message, to undo if its handler throws. */
export interface UndoEntry {
  readonly map: Map<string, PendingWrite>;
  readonly key: string;
  /** The write this one replaced in the step's pending layer (undefined: none). */
  readonly prev: PendingWrite | undefined;
}

/**
 * Committed and pending state of one task. `store` holds committed values (deserialised); the pending layer
 * lives here until `commit()`.
 */
export class StateLayer {
  readonly changelogTopic: string;
  readonly partition: number;
  readonly store: KeyValueStore;
  private readonly catalog: StateCatalog;
  /** The space of changelog keys written before keys named their space. */
  private readonly legacy: CellSpace;
  /** Pending writes of value cells: per store-key head, per actor key (see KeyValueStore). */
  private pendingValues = new Map<string, Map<string, PendingWrite>>();
  private pendingMaps = new Map<string, Map<string, PendingWrite>>();
  /** The writes of the step whose commit is in flight (pipelined steps), or undefined. */
  private sealedValues: Map<string, Map<string, PendingWrite>> | undefined;
  private sealedMaps: Map<string, Map<string, PendingWrite>> | undefined;
  private discarded = 0;
  /** Changelog keys of store keys (the JSON of each space and state made once). */
  private readonly changelogKeys = new ChangelogKeys();

  constructor(
    changelogTopic: string,
    partition: number,
    catalog: StateCatalog,
    store: KeyValueStore,
    legacy: CellSpace,
  ) {
    this.changelogTopic = changelogTopic;
    this.partition = partition;
    this.catalog = catalog;
    this.store = store;
    this.legacy = legacy;
  }

  /** Applies one changelog record during restore (or catch-up). Values of unknown states are kept as bytes. */
  applyChangelog(key: Buffer | null, value: Buffer | null): void {
    if (key === null) return;
    const cell = decodeChangelogKey(key, this.legacy);
    if (cell === undefined) return;
    const spec = this.catalog.spec(cell.app, cell.fn, cell.state);
    let decoded = value === null ? undefined : spec ? spec.serde.deserialize(value) : value;
    // Bytes that are a view of the fetched answer (the bytes serde, a state of an unknown app) are copied: kept
    // in the store, a view would keep the whole answer it came in alive.
    if (Buffer.isBuffer(decoded) && value !== null && decoded.buffer === value.buffer)
      decoded = Buffer.from(decoded);
    if (cell.entry === undefined) {
      const head = storeHead(spacePrefix(cell), cell.state);
      if (decoded === undefined) this.store.deleteValue(head, cell.key);
      else this.store.setValue(head, cell.key, decoded);
      return;
    }
    const ck = storeKey(spacePrefix(cell), cell.state, cell.key);
    if (decoded === undefined) this.store.deleteEntry(ck, cell.entry);
    else this.store.setEntry(ck, cell.entry, decoded);
  }

  /** The value of the cell of actor `key` under store-key head `head` (`storeHead`). */
  getValue(head: string, key: string): unknown {
    // The pending layer never holds undefined (a delete is DELETED): one lookup tells a pending write apart.
    const p = this.pendingValues.get(head)?.get(key) ?? this.sealedValues?.get(head)?.get(key);
    if (p !== undefined) return p.value === DELETED ? undefined : p.value;
    return this.store.getValue(head, key);
  }

  /**
   * Writes a value cell (undefined deletes it). With `serde`, the value is encoded now, so a value the serde
   * cannot encode fails the message that wrote it (SerdeError naming the state), not the step's commit; the
   * bytes are kept for the changelog.
   */
  setValue(
    head: string,
    key: string,
    value: unknown,
    undo: UndoEntry[],
    serde?: Serde<unknown>,
    state?: string,
  ): void {
    write(innerMap(this.pendingValues, head), key, value, undo, serde, state);
  }

  getEntry(ck: string, mapKey: string): unknown {
    const p = this.pendingMaps.get(ck)?.get(mapKey) ?? this.sealedMaps?.get(ck)?.get(mapKey);
    if (p !== undefined) return p.value === DELETED ? undefined : p.value;
    return this.store.getEntry(ck, mapKey);
  }

  /** Writes a map entry (undefined deletes it); `serde` as in `setValue`. */
  setEntry(
    ck: string,
    mapKey: string,
    value: unknown,
    undo: UndoEntry[],
    serde?: Serde<unknown>,
    state?: string,
  ): void {
    write(innerMap(this.pendingMaps, ck), mapKey, value, undo, serde, state);
  }

  entries(ck: string): [string, unknown][] {
    const out = new Map<string, unknown>(this.store.entries(ck));
    const sm = this.sealedMaps?.get(ck);
    if (sm) for (const [k, p] of sm) p.value === DELETED ? out.delete(k) : out.set(k, p.value);
    const pm = this.pendingMaps.get(ck);
    if (pm) for (const [k, p] of pm) p.value === DELETED ? out.delete(k) : out.set(k, p.value);
    return [...out];
  }

  /** Undoes one message's writes (its handler threw), newest first. */
  rollback(undo: readonly UndoEntry[]): void {
    for (let i = undo.length - 1; i >= 0; i--) {
      const u = undo[i]!;
      if (u.prev !== undefined) u.map.set(u.key, u.prev);
      else u.map.delete(u.key);
    }
  }

  /** Changelog records for every pending change (tombstones for deletes), appended to `out`. */
  changelogRecords(out: OutgoingRecord[]): void {
    const topic = this.changelogTopic;
    const partition = this.partition;
    const keys = this.changelogKeys;
    const specOf = (cell: { app: string; fn: string; state: string }): Serde<unknown> | undefined =>
      this.catalog.spec(cell.app, cell.fn, cell.state)?.serde;
    /** A write's bytes: null for a delete, those encoded on write, else encoded now (no serde: the value is bytes). */
    const bytesOf = (p: PendingWrite, serde: Serde<unknown> | undefined): Buffer | null => {
      if (p.value === DELETED) return null;
      if (p.bytes !== undefined) return p.bytes;
      return serde === undefined ? (p.value as Buffer) : serde.serialize(p.value);
    };
    // forEach: no entry array per pending cell.
    this.pendingValues.forEach((pv, head) => {
      const serde = specOf(keys.cellOfHead(head));
      pv.forEach((p, key) => {
        out.push({ topic, partition, key: keys.ofCell(head, key), value: bytesOf(p, serde) });
      });
    });
    this.pendingMaps.forEach((pm, ck) => {
      const serde = specOf(keys.cellOf(ck));
      pm.forEach((p, mk) => {
        out.push({ topic, partition, key: keys.of(ck, mk), value: bytesOf(p, serde) });
      });
    });
  }

  /**
   * How many times a step's pending writes were discarded (failed steps). A cache of state kept beside the
   * layer (e.g. the watermark holds) compares it to know when to reload from the committed state.
   */
  get discards(): number {
    return this.discarded;
  }

  /** True when the step changed something (a rolled-back write leaves an empty map behind: not a change). */
  get dirty(): boolean {
    for (const pv of this.pendingValues.values()) if (pv.size > 0) return true;
    for (const pm of this.pendingMaps.values()) if (pm.size > 0) return true;
    return false;
  }

  /** The step committed: its pending writes become committed state, in one store batch. */
  commit(): void {
    if (!this.dirty) return;
    this.apply(this.pendingValues, this.pendingMaps);
    this.clearPending();
  }

  /** Whether a sealed step (its commit in flight) is held. */
  get sealed(): boolean {
    return this.sealedValues !== undefined;
  }

  /**
   * Pipelined steps: the step's pending writes become the sealed layer while its commit is in flight (the next
   * step reads through them), to be applied by `applySealed` once it committed. One sealed step at a time.
   */
  seal(): void {
    if (this.sealedValues !== undefined) throw new Error('StateLayer.seal: a sealed step is still held');
    this.sealedValues = this.pendingValues;
    this.sealedMaps = this.pendingMaps;
    this.pendingValues = new Map();
    this.pendingMaps = new Map();
  }

  /** The sealed step committed: its writes become committed state, in one store batch. */
  applySealed(): void {
    const values = this.sealedValues;
    const maps = this.sealedMaps;
    this.sealedValues = undefined;
    this.sealedMaps = undefined;
    if (values !== undefined && maps !== undefined) this.apply(values, maps);
  }

  private apply(
    values: Map<string, Map<string, PendingWrite>>,
    maps: Map<string, Map<string, PendingWrite>>,
  ): void {
    if (values.size === 0 && maps.size === 0) return;
    const store = this.store;
    store.batch(() => {
      // forEach: no entry array per pending cell.
      values.forEach((pv, head) => {
        pv.forEach((p, key) => {
          if (p.value === DELETED) store.deleteValue(head, key);
          else store.setValue(head, key, p.value);
        });
      });
      maps.forEach((pm, ck) => {
        pm.forEach((p, mk) => {
          if (p.value === DELETED) store.deleteEntry(ck, mk);
          else store.setEntry(ck, mk, p.value);
        });
      });
    });
  }

  /** The step failed: forget its pending writes, and those of a sealed step (its commit failed, or may have). */
  discard(): void {
    this.discarded++;
    this.clearPending();
    this.sealedValues = undefined;
    this.sealedMaps = undefined;
  }

  private clearPending(): void {
    if (this.pendingValues.size > 0) this.pendingValues = new Map();
    if (this.pendingMaps.size > 0) this.pendingMaps = new Map();
  }
}

/**
 * Records a pending write of `key` in `pending` (undefined deletes), journalled in `undo`. With `serde`, the value
 * is encoded now (the bytes kept for the changelog), so a value it cannot encode fails the message that wrote it.
 */
function write(
  pending: Map<string, PendingWrite>,
  key: string,
  value: unknown,
  undo: UndoEntry[],
  serde: Serde<unknown> | undefined,
  state: string | undefined,
): void {
  const bytes = serde !== undefined && value !== undefined ? encode(serde, value, state) : undefined;
  undo.push({ map: pending, key, prev: pending.get(key) });
  pending.set(key, new PendingWrite(value === undefined ? DELETED : value, bytes));
}

/** Encodes a state value now, naming the state when the serde cannot. */
function encode(serde: Serde<unknown>, value: unknown, state: string | undefined): Buffer {
  try {
    return serde.serialize(value);
  } catch (e) {
    throw new SerdeError(
      `state '${state ?? '?'}': the ${serde.name} serde cannot encode the value (${(e as Error).message}); store values it can encode (e.g. a BigInt as a string)`,
      { cause: e },
    );
  }
}
