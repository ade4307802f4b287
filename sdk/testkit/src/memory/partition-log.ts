// One partition of the in-memory Kafka: an append-only log with offsets, watermarks, transactional visibility
// (last stable offset, aborted records, commit/abort markers that occupy an offset, as in Kafka) and compaction.
import type { IncomingRecord, Isolation } from '@dirigo/core';

/** The state of a transaction, shared by every record it wrote. */
export interface TxnState {
  status: 'open' | 'committed' | 'aborted';
}

interface Entry {
  readonly offset: number;
  /** `null` for a transaction marker (a control record: it takes an offset but is never delivered). */
  readonly record: IncomingRecord | null;
  readonly txn: TxnState | null;
}

/** The result of a fetch: visible records, and the position after everything scanned (records or not). */
export interface Fetched {
  readonly records: IncomingRecord[];
  readonly next: number;
}

export class PartitionLog {
  readonly topic: string;
  readonly partition: number;
  private entries: Entry[] = [];
  private nextOffset = 0;
  /** The low watermark (see `deleteBefore`). */
  private start = 0;
  /** Open transactions that wrote here, with the offset of their first record (bounds the last stable offset). */
  private readonly open = new Map<TxnState, number>();

  constructor(topic: string, partition: number) {
    this.topic = topic;
    this.partition = partition;
  }

  /** Earliest available offset: 0 until `deleteBefore` moves it (compaction leaves it alone, as in Kafka). */
  get low(): number {
    return this.start;
  }

  /**
   * Deletes every entry below `offset` (Kafka's DeleteRecords): the low watermark moves up to it, never down.
   * The admin checked that it is at most the high watermark.
   */
  deleteBefore(offset: number): void {
    if (offset <= this.start) return;
    this.start = offset;
    this.entries = this.entries.slice(this.indexOf(offset));
  }

  /** High watermark: the offset the next entry gets. */
  get high(): number {
    return this.nextOffset;
  }

  /** Offset of the first record of the oldest open transaction, else the high watermark. */
  lastStable(): number {
    let lso = this.nextOffset;
    for (const first of this.open.values()) if (first < lso) lso = first;
    return lso;
  }

  /** Appends a record (offset, topic and partition are filled in here) and returns its offset. */
  append(record: Omit<IncomingRecord, 'offset' | 'topic' | 'partition'>, txn: TxnState | null): number {
    const offset = this.nextOffset++;
    const stored: IncomingRecord = { ...record, topic: this.topic, partition: this.partition, offset };
    this.entries.push({ offset, record: stored, txn });
    if (txn !== null && !this.open.has(txn)) this.open.set(txn, offset);
    return offset;
  }

  /** Writes the commit/abort marker of a finished transaction that wrote here. */
  appendMarker(txn: TxnState): void {
    this.entries.push({ offset: this.nextOffset++, record: null, txn });
    this.open.delete(txn);
  }

  /**
   * Visible records from `from`, below `limit` and below the isolation bound (last stable offset for
   * read_committed, high watermark otherwise), at most `maxRecords` and about `maxBytes` (at least one record).
   */
  fetch(from: number, isolation: Isolation, maxRecords: number, maxBytes: number, limit = Infinity): Fetched {
    const bound = Math.min(limit, isolation === 'read_committed' ? this.lastStable() : this.nextOffset);
    const records: IncomingRecord[] = [];
    if (from >= bound) return { records, next: from };
    let bytes = 0;
    let i = this.indexOf(from);
    for (; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.offset >= bound || records.length >= maxRecords || (records.length > 0 && bytes >= maxBytes))
        break;
      if (e.record === null) continue;
      if (isolation === 'read_committed' && e.txn !== null && e.txn.status !== 'committed') continue;
      records.push(e.record);
      bytes += (e.record.key?.length ?? 0) + (e.record.value?.length ?? 0);
    }
    const stoppedAt = this.entries[i];
    const next = stoppedAt !== undefined && stoppedAt.offset < bound ? stoppedAt.offset : bound;
    return { records, next: Math.max(next, from) };
  }

  /**
   * Keeps only the latest record per key below the last stable offset; drops tombstones, aborted records and
   * transaction markers there. Offsets are preserved, so gaps appear. Key-less records are kept.
   */
  compact(): void {
    const lso = this.lastStable();
    const latest = new Map<string, number>();
    const visible = (e: Entry): boolean =>
      e.record !== null && (e.txn === null || e.txn.status === 'committed');
    this.entries.forEach((e, i) => {
      if (e.offset < lso && visible(e) && e.record!.key !== null)
        latest.set(e.record!.key.toString('latin1'), i);
    });
    this.entries = this.entries.filter((e, i) => {
      if (e.offset >= lso) return true;
      if (!visible(e)) return false;
      const r = e.record!;
      if (r.key === null) return true;
      return r.value !== null && latest.get(r.key.toString('latin1')) === i;
    });
  }

  /** Index of the first entry with an offset >= `offset`. O(1) while the log has no gaps, else binary search. */
  private indexOf(offset: number): number {
    const first = this.entries[0];
    if (first === undefined || offset <= first.offset) return 0;
    const guess = offset - first.offset;
    if (this.entries[guess]?.offset === offset) return guess;
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
