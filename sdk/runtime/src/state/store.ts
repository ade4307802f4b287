// The committed-state store of one partition: a small key-value interface so the in-memory store (default)
// and a persistent store share the PartitionState layer above them. Values are already deserialised.

/** Committed cells of one partition. `ck` is a cell key (`state \0 actorKey`). */
export interface KeyValueStore {
  getValue(ck: string): unknown;
  setValue(ck: string, value: unknown): void;
  deleteValue(ck: string): void;
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

/** The default store: JS Maps in memory. */
export class MemoryStore implements KeyValueStore {
  private readonly values = new Map<string, unknown>();
  private readonly maps = new Map<string, Map<string, unknown>>();
  private entriesCount = 0;
  restoredFrom = -1;
  readonly persistent = false;

  getValue(ck: string): unknown {
    return this.values.get(ck);
  }
  setValue(ck: string, value: unknown): void {
    this.values.set(ck, value);
  }
  deleteValue(ck: string): void {
    this.values.delete(ck);
  }
  getEntry(ck: string, mapKey: string): unknown {
    return this.maps.get(ck)?.get(mapKey);
  }
  setEntry(ck: string, mapKey: string, value: unknown): void {
    let m = this.maps.get(ck);
    if (m === undefined) {
      m = new Map();
      this.maps.set(ck, m);
    }
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
    return this.values.size + this.entriesCount;
  }
  setRestoredFrom(offset: number): void {
    this.restoredFrom = offset;
  }
  clear(): void {
    this.values.clear();
    this.maps.clear();
    this.entriesCount = 0;
    this.restoredFrom = -1;
  }
  batch<T>(fn: () => T): T {
    return fn();
  }
  async close(): Promise<void> {}
}
