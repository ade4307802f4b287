// The committed-state store of one partition: a small key-value interface so the in-memory store (default)
// and a persistent store share the PartitionState layer above them. Values are already deserialised.

/**
 * Committed cells of one partition (addresses: state/cell-key.ts). A value cell is addressed by its store-key
 * `head` (app, function, slot and state: `storeHead`) and its actor `key` apart, its store key being their
 * concatenation: a lookup per message then hashes the actor key alone (a memory store keeps one map per head). A
 * map cell is addressed by its whole store key `ck` (`storeKey`) and the entry's `mapKey`.
 */
export interface KeyValueStore {
  getValue(head: string, key: string): unknown;
  setValue(head: string, key: string, value: unknown): void;
  deleteValue(head: string, key: string): void;
  getEntry(ck: string, mapKey: string): unknown;
  setEntry(ck: string, mapKey: string, value: unknown): void;
  deleteEntry(ck: string, mapKey: string): void;
  entries(ck: string): Iterable<[string, unknown]>;
  /** Number of value cells plus map entries. */
  size(): number;
  /**
   * The changelog offset a catch-up must read from for this store to be current, or -1 when the store is
   * empty and must be restored from the beginning.
   */
  readonly restoredFrom: number;
  setRestoredFrom(offset: number): void;
  /** Drops every cell (the store became inconsistent, e.g. after being fenced). */
  clear(): void;
  /**
   * Runs `fn`, whose writes (cells and `setRestoredFrom`) are applied together: a persistent store commits them
   * in one transaction, so a crash keeps all or none of them. Returns what `fn` returns.
   */
  batch<T>(fn: () => T): T;
  /**
   * True when the store outlives the process (on disk): it is closed rather than cached between assignments,
   * and its `restoredFrom` is checkpointed so a restart reads only the changelog's tail.
   */
  readonly persistent: boolean;
  close(): Promise<void>;
}

/** The map under `key` in `outer`, made (empty) when there is none. */
export function innerMap<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = outer.get(key);
  if (m === undefined) {
    m = new Map();
    outer.set(key, m);
  }
  return m;
}

/** The default store: JS Maps in memory (value cells: one map of actor keys per head). */
export class MemoryStore implements KeyValueStore {
  private readonly values = new Map<string, Map<string, unknown>>();
  private readonly maps = new Map<string, Map<string, unknown>>();
  private valuesCount = 0;
  private entriesCount = 0;
  restoredFrom = -1;
  readonly persistent = false;

  getValue(head: string, key: string): unknown {
    return this.values.get(head)?.get(key);
  }
  setValue(head: string, key: string, value: unknown): void {
    const m = innerMap(this.values, head);
    const before = m.size;
    m.set(key, value);
    this.valuesCount += m.size - before;
  }
  deleteValue(head: string, key: string): void {
    if (this.values.get(head)?.delete(key)) this.valuesCount--;
  }
  getEntry(ck: string, mapKey: string): unknown {
    return this.maps.get(ck)?.get(mapKey);
  }
  setEntry(ck: string, mapKey: string, value: unknown): void {
    const m = innerMap(this.maps, ck);
    if (!m.has(mapKey)) this.entriesCount++;
    m.set(mapKey, value);
  }
  deleteEntry(ck: string, mapKey: string): void {
    const m = this.maps.get(ck);
    if (m?.delete(mapKey)) {
      this.entriesCount--;
      if (m.size === 0) this.maps.delete(ck);
    }
  }
  entries(ck: string): Iterable<[string, unknown]> {
    return this.maps.get(ck)?.entries() ?? [];
  }
  size(): number {
    return this.valuesCount + this.entriesCount;
  }
  setRestoredFrom(offset: number): void {
    this.restoredFrom = offset;
  }
  clear(): void {
    this.values.clear();
    this.maps.clear();
    this.valuesCount = 0;
    this.entriesCount = 0;
    this.restoredFrom = -1;
  }
  batch<T>(fn: () => T): T {
    return fn();
  }
  async close(): Promise<void> {}
}
