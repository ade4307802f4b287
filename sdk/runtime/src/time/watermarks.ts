// The event-time watermark of one input partition (a function's or a router's task). Inputs:
// - the partition's own records when it reads an ingress topic (external): watermark = highest event time read
//   minus `maxOutOfOrdernessMs`; idle once no step has read any of them for `idleTimeoutMs` of processing time,
//   counted from the end of the last step that did (a step that waited long behind other apps' work, as a
//   best-effort app does under EDF, leaves its partition busy, not idle: the next batch is already due);
// - WATERMARK records of the partitions that send here (topology.ts), each with its watermark and idle flag.
// The input watermark is the lowest among the inputs that are not idle (-Infinity while one of them has not
// reported yet), or, when every input is idle, the highest among those that have a watermark (as Flink's
// StatusWatermarkValve: nothing holds the partition back, so it goes as far as what it has seen; an input that
// wakes up says so first); it never goes back. A step's records each see the watermark as of their position in
// the partition: the StepRunner observes and marks them in order and asks for the watermark in between.
//
// The task sends its *outgoing* watermark on to the partitions it sends to, in the transaction of a step, after
// that step's records, when it moved (at most every `watermarkIntervalMs`) or when its idleness changed. The
// outgoing watermark is the input watermark held below the due time of every event-time timer the partition
// fired to itself whose message has not run yet (`hold` / `release`): that message runs in a later step of the
// partition, and what it sends is stamped with the timer's time, so the watermark must not pass it before
// (see docs/architecture.md, "Event time"). The marks, the highest external event time and the holds are kept in
// the task's state (internal map `__watermarks`), so a new owner goes on from them.
import type { OutgoingRecord, ResolvedEventTime, TopicPartition } from '@dirigo/core';
import { encodeControl, H_KIND, KIND_CONTROL } from '../protocol/index.ts';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';

const KIND_CONTROL_BUF = Buffer.from(KIND_CONTROL);
/** The entry of `__watermarks` holding the highest external event time. */
const EXTERNAL = '#external';
/** Prefix of the entries of `__watermarks` counting the fired self-timers in flight per due time. */
const HOLD = '#hold:';

interface Mark {
  readonly wm: number | null;
  readonly idle: boolean;
}

/** Where a tracker keeps its marks: the task's state layer and the store key of its `__watermarks` map. */
export interface WatermarkStore {
  readonly layer: StateLayer;
  readonly ck: string;
}

export interface WatermarkTrackerOptions {
  readonly app: string;
  /** This partition's source id, '<fn>/<partition>'. */
  readonly self: string;
  /** The source ids that can send here. */
  readonly sources: readonly string[];
  /** The partition reads an ingress topic: its own records are an input. */
  readonly external: boolean;
  readonly options: ResolvedEventTime;
  /** Where watermarks go. */
  readonly targets: readonly TopicPartition[];
  /** Persistence (absent for routers, which keep no state: they start from scratch after a rebalance). */
  readonly store?: WatermarkStore;
  /** Test-only: take the highest input instead of the lowest (a broken invariant the tests must notice). */
  readonly faultMax?: boolean;
}

export class WatermarkTracker {
  private readonly o: WatermarkTrackerOptions;
  private readonly marks = new Map<string, Mark>();
  private readonly scratch: UndoEntry[] = [];
  private maxTs = Number.NEGATIVE_INFINITY;
  private lastExternalAt: number;
  /** A record of the partition's own input was read in the step running now (see `stepEnded`). */
  private readInStep = false;
  private current = Number.NEGATIVE_INFINITY;
  private sent: { wm: number; idle: boolean; at: number } | undefined;
  /** Due time -> fired self-timers of that due time whose message has not run yet (mirrors `#hold:` entries). */
  private readonly holds = new Map<number, number>();
  /** The lowest key of `holds` (Infinity: none). */
  private minHold = Number.POSITIVE_INFINITY;
  /** `store.layer.discards` when the in-memory holds and `sent` last matched the state layer. */
  private discards = 0;

  constructor(options: WatermarkTrackerOptions, now: number) {
    this.o = options;
    this.lastExternalAt = now;
    const store = options.store;
    if (store !== undefined) {
      this.discards = store.layer.discards;
      for (const [src, v] of store.layer.entries(store.ck)) {
        if (src === EXTERNAL) this.maxTs = (v as { maxTs: number }).maxTs;
        else if (src.startsWith(HOLD)) this.holds.set(Number(src.slice(HOLD.length)), v as number);
        else this.marks.set(src, v as Mark);
      }
      this.minHold = lowest(this.holds);
    }
  }

  /**
   * A data record with event time `ts` was read from this partition. True when the watermark may have moved
   * (the highest event time rose, or the partition's own input was idle until now).
   */
  observe(ts: number, now: number): boolean {
    if (!this.o.external) return false;
    const wasIdle = this.externalIdle(now);
    this.lastExternalAt = now;
    this.readInStep = true;
    if (ts > this.maxTs && Number.isFinite(ts)) {
      this.maxTs = ts;
      this.persist(EXTERNAL, { maxTs: ts });
      return true;
    }
    return wasIdle;
  }

  /**
   * A WATERMARK record of source `source`. Marks of partitions that do not send here are ignored. True when it
   * changed the source's mark.
   */
  mark(source: string, wm: number | null, idle: boolean): boolean {
    if (!this.o.sources.includes(source)) return false;
    const prev = this.marks.get(source);
    // A source's watermark never goes back (a late duplicate cannot move it).
    const next: Mark = { wm: prev?.wm != null && (wm === null || wm < prev.wm) ? prev.wm : wm, idle };
    if (prev !== undefined && prev.wm === next.wm && prev.idle === next.idle) return false;
    this.marks.set(source, next);
    this.persist(source, next);
    return true;
  }

  /**
   * The step that read this partition's records ended at `now`: idleness counts from here, not from when the
   * records were read. Without it a step that waited longer than `idleTimeoutMs` in the dispatcher would find
   * its own partition idle at its end, tell the next functions so, and its next records would be late there.
   */
  stepEnded(now: number): void {
    if (!this.readInStep) return;
    this.readInStep = false;
    if (now > this.lastExternalAt) this.lastExternalAt = now;
  }

  private persist(entry: string, value: unknown): void {
    const s = this.o.store;
    if (s === undefined) return;
    this.scratch.length = 0;
    s.layer.setEntry(s.ck, entry, value, this.scratch);
  }

  private externalIdle(now: number): boolean {
    return now - this.lastExternalAt >= this.o.options.idleTimeoutMs;
  }

  /** The input watermark at `now` (monotonic). */
  watermark(now: number): number {
    // Inputs that are not idle count (the lowest); when every input is idle, the highest of those that have a
    // watermark counts (the partition goes as far as what it has seen, and an input that wakes up says so
    // first).
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    let active = 0;
    let idleHigh = Number.NEGATIVE_INFINITY;
    if (this.o.external) {
      const wm = this.maxTs - this.o.options.maxOutOfOrdernessMs;
      if (!this.externalIdle(now)) {
        active++;
        low = wm;
        high = wm;
      } else if (Number.isFinite(wm)) idleHigh = wm;
    }
    const sources = this.o.sources;
    for (let i = 0; i < sources.length; i++) {
      const m = this.marks.get(sources[i]!);
      const wm = m?.wm ?? Number.NEGATIVE_INFINITY;
      if (m?.idle === true) {
        if (Number.isFinite(wm) && wm > idleHigh) idleHigh = wm;
        continue;
      }
      active++;
      if (wm < low) low = wm;
      if (wm > high) high = wm;
    }
    const wm = active > 0 ? (this.o.faultMax === true ? high : low) : idleHigh;
    if (Number.isFinite(wm) && wm > this.current) this.current = wm;
    return this.current;
  }

  /** Every input is idle (nothing to read anywhere for the idle timeout). */
  idle(now: number): boolean {
    if (this.o.external && !this.externalIdle(now)) return false;
    if (!this.o.external && this.o.sources.length === 0) return true;
    for (const src of this.o.sources) if (this.marks.get(src)?.idle !== true) return false;
    return true;
  }

  /**
   * An event-time timer due at `due` fired a message to this very partition: until it has run (`release`),
   * the outgoing watermark stays below `due`. Persisted with the step that fires the timer.
   */
  hold(due: number): void {
    if (!Number.isFinite(due)) return;
    this.resync();
    const n = (this.holds.get(due) ?? 0) + 1;
    this.holds.set(due, n);
    if (due < this.minHold) this.minHold = due;
    this.persist(HOLD + String(due), n);
  }

  /** The message of a fired self-timer due at `due` runs now (its outputs are in this step). */
  release(due: number): void {
    this.resync();
    const n = this.holds.get(due);
    if (n === undefined) return; // not ours (or released already): nothing held
    if (n > 1) {
      this.holds.set(due, n - 1);
      this.persist(HOLD + String(due), n - 1);
      return;
    }
    this.holds.delete(due);
    this.persist(HOLD + String(due), undefined);
    if (due === this.minHold) this.minHold = lowest(this.holds);
  }

  /**
   * A failed step discarded the pending state since the holds and `sent` were last in sync: reload the holds
   * from the committed state, and forget what was sent (that step's WATERMARK records were not committed).
   */
  private resync(): void {
    const s = this.o.store;
    if (s === undefined || s.layer.discards === this.discards) return;
    this.discards = s.layer.discards;
    this.sent = undefined;
    this.holds.clear();
    for (const [entry, v] of s.layer.entries(s.ck))
      if (entry.startsWith(HOLD)) this.holds.set(Number(entry.slice(HOLD.length)), v as number);
    this.minHold = lowest(this.holds);
  }

  /**
   * The watermark this partition sends on at `now`: the input watermark, held 1 ms below the earliest due time
   * of the fired self-timers in flight (never below what was sent already: it never goes back), and idle only
   * when every input is idle and nothing is in flight.
   */
  outgoing(now: number): { wm: number; idle: boolean } {
    this.resync();
    let wm = this.watermark(now);
    const held = this.minHold !== Number.POSITIVE_INFINITY;
    if (held && this.minHold - 1 < wm) {
      const floor = this.sent?.wm ?? Number.NEGATIVE_INFINITY;
      wm = Math.max(this.minHold - 1, floor);
    }
    return { wm, idle: !held && this.idle(now) };
  }

  /** True when a step should run to send the watermark on, or to notice an input going idle. */
  wantsStep(now: number): boolean {
    if (this.o.targets.length === 0) return false;
    const { wm, idle } = this.outgoing(now);
    const s = this.sent;
    if (s === undefined) return wm > Number.NEGATIVE_INFINITY || idle;
    if (idle !== s.idle) return true;
    return wm > s.wm && now - s.at >= this.o.options.watermarkIntervalMs;
  }

  /**
   * Sends the outgoing watermark on (appends WATERMARK records to `out`) when it moved or its idleness
   * changed.
   */
  broadcast(now: number, out: OutgoingRecord[]): void {
    if (!this.wantsStep(now)) return;
    const { wm, idle } = this.outgoing(now);
    const value = encodeControl({
      v: 1,
      type: 'watermark',
      app: this.o.app,
      source: this.o.self,
      wm: Number.isFinite(wm) ? wm : null,
      idle,
    });
    const headers = { [H_KIND]: KIND_CONTROL_BUF };
    for (const t of this.o.targets)
      out.push({ topic: t.topic, partition: t.partition, key: null, value, headers });
    this.sent = { wm, idle, at: now };
  }
}

/** The lowest key of `m`, Infinity when empty. */
function lowest(m: ReadonlyMap<number, number>): number {
  let min = Number.POSITIVE_INFINITY;
  for (const k of m.keys()) if (k < min) min = k;
  return min;
}
