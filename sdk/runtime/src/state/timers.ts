// Durable timers of one task: delayed sends (`ctx.send(..., { delayMs })`) and held sends (the scheduler's send
// hook). Each timer is an entry of the internal map state `__timers` of the task's space, so it is written to
// the changelog with the step that set it, moves with the partition, and fires in the step that removes it,
// which also sends its record: a timer fires exactly once under exactly-once.
import type { OutgoingRecord, RecordHeaders } from '@dirigo/core';
import { TIMERS } from './catalog.ts';
import { type CellSpace, spacePrefix, storeKey } from './cell-key.ts';
import type { StateLayer, UndoEntry } from './state-layer.ts';

/** A timer entry, kept in the task's `__timers` map until it fires. */
export interface TimerEntry {
  /** Due time, ms since epoch: processing time, or event time for an event-time timer. */
  readonly due: number;
  /** An event-time timer: it fires when the task's watermark reaches `due`. */
  readonly event?: boolean;
  /** The fired record's timestamp (apps using event time); default: the produce time. */
  readonly ts?: number;
  /** Target topic and partition. */
  readonly topic: string;
  readonly partition: number;
  /** Key and value, base64. */
  /** The record key, base64; null for a record without a key. */
  readonly k: string | null;
  readonly v: string;
  /** Ingest time of the message that set it (carried to the fired record's headers). */
  readonly ingest: number;
  /** The record is a critical message at its target. */
  readonly critical?: boolean;
}

let timerSeq = 0;

export class Timers {
  private readonly layer: StateLayer;
  private readonly ck: string;
  /** Earliest known due time (processing time, and event time); 0 at first (and after a failed step), so the
   * next check scans the whole map. */
  private nextDue = 0;
  private nextEventDue = 0;

  constructor(layer: StateLayer, space: CellSpace) {
    this.layer = layer;
    this.ck = storeKey(spacePrefix(space), TIMERS, '');
  }

  /** Sets a timer (in the pending layer, undone with the message's other writes if its handler throws). */
  add(entry: TimerEntry, undo: UndoEntry[]): void {
    timerSeq = (timerSeq + 1) % 1_000_000_000;
    const id = `${String(entry.due).padStart(15, '0')}:${process.pid}:${timerSeq}`;
    this.layer.setEntry(this.ck, id, entry, undo);
    if (entry.event === true) {
      if (entry.due < this.nextEventDue) this.nextEventDue = entry.due;
    } else if (entry.due < this.nextDue) this.nextDue = entry.due;
  }

  /** True when a timer may be due at `now` or at watermark `wm` (cheap). */
  due(now: number, wm = Number.NEGATIVE_INFINITY): boolean {
    return now >= this.nextDue || wm >= this.nextEventDue;
  }

  /** The step failed or the store was caught up: scan everything at the next check. */
  rescan(): void {
    this.nextDue = 0;
    this.nextEventDue = 0;
  }

  /**
   * Removes the timers due at `now` (processing time) or at watermark `wm` (event-time timers) in the pending
   * layer and appends their records to `out`, in due order (processing and event time interleaved by due time);
   * cheap when none is due. `headers(entry)` gives each fired record its metadata headers.
   */
  fire(
    now: number,
    wm: number,
    out: OutgoingRecord[],
    headers: (entry: TimerEntry) => RecordHeaders,
  ): number {
    if (!this.due(now, wm)) return 0;
    const due: [string, TimerEntry][] = [];
    let next = Number.POSITIVE_INFINITY;
    let nextEvent = Number.POSITIVE_INFINITY;
    for (const [id, entry] of this.layer.entries(this.ck)) {
      const e = entry as TimerEntry;
      if (e.event === true) {
        if (e.due <= wm) due.push([id, e]);
        else if (e.due < nextEvent) nextEvent = e.due;
      } else if (e.due <= now) due.push([id, e]);
      else if (e.due < next) next = e.due;
    }
    this.nextDue = next;
    this.nextEventDue = nextEvent;
    if (due.length === 0) return 0;
    due.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const scratch: UndoEntry[] = [];
    for (const [id, t] of due) {
      this.layer.setEntry(this.ck, id, undefined, scratch);
      out.push({
        topic: t.topic,
        partition: t.partition,
        key: t.k === null ? null : Buffer.from(t.k, 'base64'),
        value: Buffer.from(t.v, 'base64'),
        headers: headers(t),
        ...(t.ts === undefined ? {} : { timestamp: t.ts }),
      });
    }
    return due.length;
  }
}
