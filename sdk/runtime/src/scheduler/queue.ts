// Internal: one partition queue of the dispatcher. Holds the submitted steps (batches) in order, per-message
// flags, the keys in flight, and computes the eligible head that enforces per-key order. Not exported from
// the package.
import type { PriorityClass } from '@dirigo/core';
import type { AppMetricsSink } from './metrics.ts';
import type { StepMessages } from './step-messages.ts';
import type { QueueView, ScheduledMessage } from './types.ts';

/** Message flags. */
export const TAKEN = 1; // started, finished or abandoned: no longer queued
export const DEFERRED = 2;
export const DEPRIORITISED = 4;

/** Observed cost of one function (EWMA). */
export interface CostStats {
  estimate: number;
  samples: number;
}

/** Where a step's messages go: run here, or (a forward decision) handed to a lessee. */
export interface StepOutlet {
  /** Runs message `index` of the step; may return a promise (async handler). */
  run(index: number): void | Promise<void>;
  /**
   * Hands message `index` to the lessee the policy named (`{ forward: to }`) instead of running it here.
   * Returns false when it cannot (the key is not leasable, no lessee is available): the decision's fallback
   * applies. Without it, every forward decision falls back.
   */
  forward?(index: number, to: string): boolean;
}

/** One `submit` call: a step's messages, in order, and how to run them. */
export class Batch {
  readonly messages: StepMessages;
  readonly outlet: StepOutlet;
  readonly queue: PartitionQueue;
  readonly flags: Uint8Array;
  /** Messages enqueued so far (they are admitted one by one). */
  end = 0;
  /** First index not TAKEN. */
  next = 0;
  /** Messages not finished yet (completed, failed or abandoned). */
  remaining: number;
  failed = false;
  error: unknown;
  resolve: () => void = () => {};
  reject: (e: unknown) => void = () => {};

  constructor(messages: StepMessages, outlet: StepOutlet, queue: PartitionQueue) {
    this.messages = messages;
    this.outlet = outlet;
    this.queue = queue;
    this.flags = new Uint8Array(messages.length);
    this.remaining = messages.length;
  }
}

/** Messages of one app running now (async handlers), and how many it may run at once. */
export interface AppLoad {
  inFlight: number;
  readonly cap: number;
  /** The app's queues (to refresh their heads when the app crosses its cap). */
  readonly queues: Set<PartitionQueue>;
}

/** A partition queue; the dispatcher shows it to policies as a `QueueView`. */
export class PartitionQueue implements QueueView {
  readonly id: string;
  readonly app: string;
  readonly fn: string;
  readonly priority: PriorityClass;
  readonly cost: CostStats;
  readonly sink: AppMetricsSink;
  length = 0;
  inFlight = 0;
  headDeprioritised = false;
  /** The head's step and index in it (undefined, -1: no head). */
  headBatch: Batch | undefined;
  headIndex = -1;
  /** Batches with queued messages, in submit order. */
  readonly batches: Batch[] = [];
  readonly inFlightKeys = new Set<string>();
  deferred = 0;
  deprioritised = 0;
  maxConcurrentKeys = 16;
  /** Input records behind the submitted ones (see QueueView.backlog), as of the latest submit. */
  backlog = 0;
  dirty = false;
  /** Position in the dispatcher's active list, or -1. */
  activeIndex = -1;

  /** Its app's in-flight count and cap: the queue has no head while the app is at its cap. */
  readonly load: AppLoad;

  constructor(first: StepMessages, cost: CostStats, sink: AppMetricsSink, load: AppLoad) {
    this.load = load;
    this.id = first.queue;
    this.app = first.appAt(0);
    this.fn = first.fnAt(0);
    this.priority = first.priority;
    this.cost = cost;
    this.sink = sink;
  }

  /** The message that runs next if this queue is picked (made for the policy when it reads it). */
  get head(): ScheduledMessage | undefined {
    const b = this.headBatch;
    return b === undefined ? undefined : b.messages.at(this.headIndex);
  }

  get oldestEnqueuedAt(): number {
    const b = this.batches[0];
    return b === undefined || this.length === 0 ? Number.NaN : b.messages.enqueuedAt;
  }

  get firstDeadline(): number {
    const b = this.batches[0];
    return b === undefined || this.length === 0 ? Number.NaN : b.messages.deadline[b.next]!;
  }

  get lastDeadline(): number {
    const b = this.batches[this.batches.length - 1];
    return b === undefined || this.length === 0 || b.end === 0 ? Number.NaN : b.messages.deadline[b.end - 1]!;
  }

  get queuedCostMs(): number {
    return (this.length - this.deprioritised) * this.cost.estimate;
  }

  /**
   * Recomputes `head`: the first queued message whose key is not in flight, not preceded by a queued message
   * of the same key, and not deferred; preferring one that is not deprioritised. Scans at most `scanLimit`
   * queued messages; `scratch` is a reusable set.
   */
  refreshHead(scratch: Set<string>, scanLimit: number): void {
    this.dirty = false;
    this.headBatch = undefined;
    this.headIndex = -1;
    this.headDeprioritised = false;
    if (this.length === 0 || this.inFlight >= this.maxConcurrentKeys || this.load.inFlight >= this.load.cap)
      return;
    const b0 = this.batches[0]!;
    if (this.firstIsHead()) {
      this.setHead(b0, b0.next, false);
      return;
    }
    scratch.clear();
    const busy = this.inFlightKeys;
    let deprioBatch: Batch | undefined;
    let deprioIndex = -1;
    let scanned = 0;
    for (let j = 0; j < this.batches.length; j++) {
      const b = this.batches[j]!;
      const flags = b.flags;
      for (let i = b.next; i < b.end; i++) {
        const f = flags[i]!;
        if ((f & TAKEN) !== 0) continue;
        if (++scanned > scanLimit) {
          j = this.batches.length;
          break;
        }
        const key = b.messages.keys[i]!;
        if (busy.has(key) || scratch.has(key)) continue;
        if ((f & DEFERRED) !== 0) {
          scratch.add(key);
        } else if ((f & DEPRIORITISED) !== 0) {
          if (deprioBatch === undefined) {
            deprioBatch = b;
            deprioIndex = i;
          }
          scratch.add(key);
        } else {
          this.setHead(b, i, false);
          return;
        }
      }
    }
    if (deprioBatch !== undefined) this.setHead(deprioBatch, deprioIndex, true);
  }

  /**
   * During a run (the head was just taken): makes the next queued message the head when it is eligible without a
   * scan (nothing in flight, deferred or deprioritised here, the app under its cap) and of function `app`/`fn`;
   * false otherwise (the head is then left to `refreshHead`).
   */
  nextInRun(app: string, fn: string): boolean {
    if (this.length === 0 || this.load.inFlight >= this.load.cap || !this.firstIsHead()) return false;
    const b0 = this.batches[0]!;
    if (b0.next >= b0.end) return false;
    const next = b0.next;
    if (b0.messages.fnAt(next) !== fn || b0.messages.appAt(next) !== app) return false;
    this.setHead(b0, b0.next, false);
    return true;
  }

  /** Nothing of this queue runs, waits for a tick or was moved back: its first queued message is its head. */
  private firstIsHead(): boolean {
    return this.inFlight === 0 && this.deferred === 0 && this.deprioritised === 0;
  }

  private setHead(b: Batch, i: number, deprioritised: boolean): void {
    this.headBatch = b;
    this.headIndex = i;
    this.headDeprioritised = deprioritised;
  }

  /** Marks the head as started and removes it from the queue. */
  takeHead(): void {
    const b = this.headBatch!;
    const i = this.headIndex;
    const f = b.flags[i]!;
    b.flags[i] = f | TAKEN;
    this.length--;
    if ((f & DEPRIORITISED) !== 0) this.deprioritised--;
    this.headBatch = undefined;
    this.headIndex = -1;
    if (i === b.next) this.advance(b);
  }

  /** Message `i` of `b`, being admitted, left this worker (forwarded): it is never queued. */
  skipArriving(b: Batch, i: number): void {
    b.flags[i] = TAKEN;
    b.remaining--;
    if (i === b.next) this.advance(b);
  }

  private advance(b: Batch): void {
    const flags = b.flags;
    let n = b.next;
    while (n < b.end && (flags[n]! & TAKEN) !== 0) n++;
    b.next = n;
    if (n === b.messages.length && b.end === b.messages.length) {
      const at = this.batches.indexOf(b);
      if (at === 0) this.batches.shift();
      else if (at > 0) this.batches.splice(at, 1);
    }
  }

  /** Drops the queued messages of `b` (its step failed); returns how many. */
  abandon(b: Batch): number {
    let n = 0;
    const flags = b.flags;
    for (let i = b.next; i < b.end; i++) {
      const f = flags[i]!;
      if ((f & TAKEN) !== 0) continue;
      if ((f & DEFERRED) !== 0) this.deferred--;
      if ((f & DEPRIORITISED) !== 0) this.deprioritised--;
      flags[i] = f | TAKEN;
      n++;
    }
    this.length -= n;
    // Messages not yet enqueued (abandon during the arrival loop) count as dropped too.
    for (let i = b.end; i < b.messages.length; i++) flags[i] = TAKEN;
    n += b.messages.length - b.end;
    b.end = b.messages.length;
    b.next = b.messages.length;
    const at = this.batches.indexOf(b);
    if (at >= 0) this.batches.splice(at, 1);
    return n;
  }
}
