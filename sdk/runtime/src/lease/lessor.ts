// The lessor side of a leasable function, in the function's input task: per key, it forwards ordinary
// messages to lessees (lease slots) when the scheduling policy asks, and turns a critical message into a
// barrier: stop forwarding the key, ask every lessee holding partials for them (SYNC, in the lease slot's
// partition, so it comes after everything forwarded there), queue the key's messages durably until every
// PARTIAL reply (which arrives on this task's own input partition) is merged, then run the queue here in order
// (the critical messages see every prior message's effect and no later one's), and go back to RUNNABLE. Idle
// leases are revoked (a final PARTIAL, merged back). Everything it writes (forwards, syncs, lease records,
// queued messages, merged state) is part of the step's transaction.

import type { IncomingRecord, Logger, OutgoingRecord } from '@dirigo/core';
import { actorKeyBytes } from '@dirigo/core';
import type { FunctionEnv } from '../actor/function-env.ts';
import { type ActorMode, transition } from '../actor/mode.ts';
import type { StepRunner } from '../actor/step-runner.ts';
import type { ModeObserver } from '../metrics/function-metrics.ts';
import {
  decodeCells,
  decodeControl,
  encodeControl,
  encodeLeaseHeader,
  H_KIND,
  H_LEASE,
  H_WATERMARK,
  KIND_CONTROL,
  KIND_FORWARD,
} from '../protocol/index.ts';
import type { ScheduledMessage } from '../scheduler/types.ts';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';
import type { StepOutput } from '../task/step-output.ts';
import type { LeaseCounters, SlotDirectory } from './lease-metrics.ts';
import { type LeaseRecord, LeaseTable, type SlotWait } from './lease-table.ts';
import { mergeInto } from './mergeable-state.ts';

const KIND_FORWARD_BUF = Buffer.from(KIND_FORWARD);
const KIND_CONTROL_BUF = Buffer.from(KIND_CONTROL);

export interface LessorDeps {
  readonly env: FunctionEnv;
  readonly layer: StateLayer;
  readonly partition: number;
  readonly runner: StepRunner;
  readonly directory: SlotDirectory;
  readonly counters: LeaseCounters;
  readonly logger: Logger;
  /** Test-only faults that break an invariant on purpose (the tests prove they would notice). */
  readonly faults?: LeaseFaults;
  /** Counts this function's mode transitions and blocked time (metrics). */
  readonly modes?: ModeObserver;
}

/** Faults a test can inject to check that the invariants' tests fail when an invariant is broken. */
export interface LeaseFaults {
  /** Partial replies are accepted but not merged into the lessor's state. */
  readonly skipMerge?: boolean;
  /** Replies of another epoch or round are merged as if current. */
  readonly acceptStale?: boolean;
}

/** One lease, as shown to policies and health views. */
export interface LeaseView {
  readonly app: string;
  readonly fn: string;
  readonly key: string;
  readonly partition: number;
  readonly epoch: number;
  readonly slots: readonly number[];
  readonly mode: ActorMode;
  /** Replies awaited. */
  readonly waiting: number;
}

export class Lessor {
  private readonly d: LessorDeps;
  private readonly table: LeaseTable;
  private readonly app: string;
  private readonly fn: string;
  private readonly leaseTopic: string;
  private out: StepOutput | undefined;
  /** Writes made at arrival and in bookkeeping, outside any message's undo journal (the step commits or not). */
  private readonly scratch: UndoEntry[] = [];
  /** Earliest time an active lease may be idle long enough to revoke; Infinity: none. */
  private nextRevoke = 0;
  /** Keys the policy wanted to forward in this step (forwarded or not). */
  private readonly touched = new Set<string>();
  /**
   * Per leased key, the end of the last step in which the policy wanted to forward it: a lease is idle from
   * there (not from the forward, which happens when the step's batch arrives, before its local work). In
   * memory: a new lessor counts its leases active from its first step.
   */
  private readonly lastActive = new Map<string, number>();

  constructor(deps: LessorDeps) {
    this.d = deps;
    this.app = deps.env.app.name;
    this.fn = deps.env.fn.name;
    this.leaseTopic = deps.env.app.lease!.topic;
    this.table = new LeaseTable(deps.layer, deps.env.cellPrefix);
  }

  /** A new step starts: its outputs go to `out`. */
  beginStep(out: StepOutput): void {
    this.out = out;
    this.scratch.length = 0;
  }

  /**
   * True when no key has a lease with a slot, so `isLeased` is false for every key: no revoke is due at any time
   * (every lease with a slot keeps `nextRevoke` finite). A check per step instead of a lookup per record.
   */
  get unleased(): boolean {
    return this.nextRevoke === Number.POSITIVE_INFINITY;
  }

  /** Whether `key` has a lease that takes forwards now (RUNNABLE, with a slot): the policy may forward its messages. */
  isLeased(key: string): boolean {
    const rec = this.table.get(key);
    return rec !== undefined && rec.mode === 'RUNNABLE' && rec.slots.length > 0;
  }

  /**
   * The policy decided to forward `record` (an ordinary message of `key`) toward `to` (a worker id, or '' for
   * any lessee). Returns false when it stays here: the key is blocked or no lease slot of another worker is
   * available. A key whose lease is being revoked is leased again under a new epoch. The message goes to
   * `to`'s slot when the lease has one (a new slot of `to` is added up to `maxLessees`), else round-robin over
   * the lease's slots. (The step never asks for a message after a critical one of its key.)
   */
  forward(record: IncomingRecord, key: string, to: string, eventTime: number, watermark: number): boolean {
    // A late message (behind the watermark) runs here: forwarded messages are never late at the lessee.
    if (eventTime < watermark) return false;
    this.touched.add(key);
    const now = this.d.env.clock.now();
    let rec = this.table.get(key);
    if (rec !== undefined && rec.mode !== 'RUNNABLE') return false;
    const leasing = this.d.env.app.options.leasing;
    const slots = rec?.slots ?? [];
    let slot = slots.length === 0 ? undefined : this.d.directory.ownedBy(this.app, to, slots);
    if (slot === undefined && (slots.length === 0 || (to !== '' && slots.length < leasing.maxLessees))) {
      const picked = this.d.directory.pick(this.app, to, slots);
      if (picked !== undefined) {
        rec = this.grant(key, rec, picked, now);
        slot = picked;
      } else if (slots.length === 0) return false;
    }
    const r = rec!;
    slot ??= r.slots[r.next % r.slots.length]!;
    this.out!.forwards.push({
      topic: this.leaseTopic,
      partition: slot,
      key: record.key,
      value: record.value,
      timestamp: record.timestamp,
      headers: {
        ...record.headers,
        [H_KIND]: KIND_FORWARD_BUF,
        ...(Number.isFinite(watermark) ? { [H_WATERMARK]: Buffer.from(String(watermark)) } : {}),
        [H_LEASE]: encodeLeaseHeader({
          v: 1,
          app: this.app,
          fn: this.fn,
          epoch: r.epoch,
          slot,
          origin: { topic: record.topic, partition: record.partition, offset: record.offset },
          at: now,
        }),
      },
    });
    const dirty = r.dirty.includes(slot) ? r.dirty : [...r.dirty, slot];
    this.table.put(key, { ...r, dirty, lastForward: now, next: r.next + 1 }, this.scratch);
    this.nextRevoke = Math.min(this.nextRevoke, now + leasing.idleRevokeMs);
    this.out!.forwarded++;
    const c = this.d.counters;
    c.forwarded++;
    if (c.firstForwardAt === 0) c.firstForwardAt = now;
    c.lastForwardAt = now;
    return true;
  }

  /**
   * Grants `slot` to `key`'s lease: a new epoch when the key has no lessee (final replies of a lease being
   * revoked are still awaited under their own epoch), else one more slot of the current epoch.
   */
  private grant(key: string, rec: LeaseRecord | undefined, slot: number, now: number): LeaseRecord {
    const fresh = rec === undefined || rec.slots.length === 0;
    const epoch = fresh ? (rec?.epoch ?? 0) + 1 : rec!.epoch;
    const next: LeaseRecord = fresh
      ? {
          epoch,
          slots: [slot],
          dirty: [],
          seq: rec?.seq ?? 0,
          waiting: rec?.waiting ?? [],
          mode: 'RUNNABLE',
          blockedSince: 0,
          queued: rec?.queued ?? 0,
          lastForward: now,
          next: 0,
        }
      : { ...rec!, slots: [...rec!.slots, slot] };
    this.control(slot, {
      v: 1,
      type: 'lease-grant',
      app: this.app,
      fn: this.fn,
      key,
      epoch,
      slot,
      lessor: this.d.env.workerId,
      at: now,
    });
    if (fresh) this.d.counters.granted++;
    else this.d.counters.slotsAdded++;
    this.d.logger.info({ key, epoch, slot, slots: next.slots }, fresh ? 'lease granted' : 'lessee added');
    return next;
  }

  /**
   * Runs one message of `key` at its turn (the dispatcher keeps per-key order): a PARTIAL reply is merged; a
   * message of a BLOCKED key is queued; a critical message starts a barrier (or runs at once when no lessee
   * holds partials); an ordinary one runs here.
   */
  handle(
    record: IncomingRecord,
    key: string,
    critical: boolean,
    scheduled: ScheduledMessage | undefined,
    decoded: { message: unknown } | undefined,
  ): void | Promise<void> {
    const out = this.out!;
    if (record.headers[H_KIND] !== undefined) return this.onReply(record, key);
    const rec = this.table.get(key);
    if (rec?.mode === 'BLOCKED') {
      this.table.put(key, this.table.enqueue(key, rec, record, critical, this.scratch), this.scratch);
      return;
    }
    if (!critical) return this.d.runner.execute(record, key, out, scheduled, false, decoded);
    if (rec !== undefined && (rec.dirty.length > 0 || rec.waiting.length > 0)) {
      const blocked = this.startSync(key, rec);
      this.table.put(key, this.table.enqueue(key, blocked, record, true, this.scratch), this.scratch);
      return;
    }
    // No lessee holds a partial: the lessor's state is complete, the barrier is this message alone.
    transition(this.d.logger, key, 'RUNNABLE', 'CRITICAL', this.d.modes);
    this.d.counters.barriers++;
    const done = this.d.runner.execute(record, key, out, scheduled, true, decoded);
    const back = () => void transition(this.d.logger, key, 'CRITICAL', 'RUNNABLE', this.d.modes);
    if (done === undefined) return back();
    return done.then(back);
  }

  /** SYNC to every slot that got forwards since its last round; the key blocks until all replies are in. */
  private startSync(key: string, rec: LeaseRecord): LeaseRecord {
    const seq = rec.dirty.length > 0 ? rec.seq + 1 : rec.seq;
    const waits: SlotWait[] = [...rec.waiting];
    for (const slot of rec.dirty) {
      this.request('sync', key, rec.epoch, seq, slot);
      waits.push({ slot, seq, final: false, epoch: rec.epoch });
    }
    if (rec.dirty.length > 0) this.d.counters.syncs++;
    transition(this.d.logger, key, 'RUNNABLE', 'BLOCKED', this.d.modes);
    return { ...rec, seq, dirty: [], waiting: waits, mode: 'BLOCKED', blockedSince: this.d.env.clock.now() };
  }

  /** A PARTIAL reply on this partition: merge it if it is awaited; run the barrier when it was the last one. */
  private onReply(record: IncomingRecord, key: string): void | Promise<void> {
    const decoded = decodeControl(record.value);
    if (decoded.kind === 'unknown' || decoded.message.type !== 'partial') {
      this.d.counters.unknown++;
      this.d.logger.warn(
        { offset: record.offset, reason: decoded.kind === 'unknown' ? decoded.reason : decoded.message.type },
        'skipping a control record this lessor does not understand',
      );
      return;
    }
    const m = decoded.message;
    const rec = this.table.get(key);
    const wait = rec?.waiting.find((w) => w.slot === m.slot && w.seq === m.seq && w.epoch === m.epoch);
    const current = wait !== undefined;
    if (!current && this.d.faults?.acceptStale !== true) {
      this.d.counters.stale++;
      this.d.logger.warn(
        { key, epoch: m.epoch, seq: m.seq, slot: m.slot, current: rec?.epoch },
        'skipping a stale partial reply',
      );
      return;
    }
    if (m.app !== this.app || m.fn !== this.fn || m.key !== key) {
      this.d.counters.unknown++;
      return;
    }
    if (this.d.faults?.skipMerge !== true) {
      for (const cell of decodeCells(m.cells)) {
        if (cell.value === null) continue;
        const i = this.d.env.fn.states.findIndex((s) => s.name === cell.state);
        const spec = this.d.env.fn.states[i];
        if (spec?.merge === undefined) {
          this.d.counters.unknown++;
          continue;
        }
        const delta = spec.serde.deserialize(cell.value);
        mergeInto(this.d.layer, this.d.env.cellHeads[i]!, key, spec.merge, delta, this.scratch);
      }
    }
    this.d.counters.merged++;
    if (m.final) this.d.counters.lastFinalMergeAt = this.d.env.clock.now();
    if (rec === undefined) return;
    const waiting = wait === undefined ? rec.waiting : rec.waiting.filter((w) => w !== wait);
    const next = { ...rec, waiting };
    if (waiting.length === 0 && next.slots.length === 0)
      this.d.logger.info({ key, epoch: rec.epoch }, 'lease ended');
    if (next.mode === 'BLOCKED' && waiting.length === 0) return this.runBarrier(key, next);
    this.table.put(key, next, this.scratch);
  }

  /** Every reply is in: run the key's queued messages here, alone and in order, then back to RUNNABLE. */
  private async runBarrier(key: string, rec: LeaseRecord): Promise<void> {
    transition(this.d.logger, key, 'BLOCKED', 'CRITICAL', this.d.modes);
    const now = this.d.env.clock.now();
    this.d.counters.blockedMs += Math.max(0, now - rec.blockedSince);
    this.d.modes?.blocked(now - rec.blockedSince);
    this.d.counters.blockedPeriods++;
    this.d.counters.barriers++;
    const queued = this.table.drain(key, this.scratch);
    this.table.put(key, { ...rec, mode: 'RUNNABLE', blockedSince: 0 }, this.scratch);
    for (const q of queued) {
      const done = this.d.runner.execute(q.record, key, this.out!, undefined, q.critical, undefined);
      if (done !== undefined) await done;
    }
    transition(this.d.logger, key, 'CRITICAL', 'RUNNABLE', this.d.modes);
    for (const slot of rec.slots) {
      this.control(slot, {
        v: 1,
        type: 'unsync',
        app: this.app,
        fn: this.fn,
        key,
        epoch: rec.epoch,
        seq: rec.seq,
        slot,
      });
    }
  }

  /** True when an idle lease may be due for revocation (cheap). */
  wantsStep(now: number): boolean {
    return now >= this.nextRevoke;
  }

  /**
   * At the end of every step: revokes the leases the policy has not wanted to forward to for `idleRevokeMs`
   * since the end of a step (each lessee replies a final partial). A lease used in this step is never revoked
   * by it, however long its local work took.
   */
  maintain(now: number, out: StepOutput): void {
    if (this.touched.size > 0) {
      for (const key of this.touched) this.lastActive.set(key, now);
      this.touched.clear();
    }
    if (now < this.nextRevoke) return;
    this.out = out;
    const idle = this.d.env.app.options.leasing.idleRevokeMs;
    let next = Number.POSITIVE_INFINITY;
    for (const [key, rec] of this.table.all()) {
      if (rec.slots.length === 0) {
        this.lastActive.delete(key);
        continue;
      }
      let last = this.lastActive.get(key);
      if (last === undefined) {
        last = now;
        this.lastActive.set(key, now);
      }
      if (rec.mode !== 'RUNNABLE' || now - last < idle) {
        next = Math.min(next, last + idle);
        continue;
      }
      const seq = rec.seq + 1;
      const waits: SlotWait[] = [...rec.waiting];
      for (const slot of rec.slots) {
        this.request('lease-revoke', key, rec.epoch, seq, slot);
        waits.push({ slot, seq, final: true, epoch: rec.epoch });
      }
      this.d.counters.revoked += rec.slots.length;
      this.d.logger.info({ key, epoch: rec.epoch, slots: rec.slots }, 'lease revoked');
      this.table.put(key, { ...rec, seq, slots: [], dirty: [], waiting: waits }, this.scratch);
    }
    this.nextRevoke = next;
  }

  /** The leases of this partition (for policies and health views). */
  leases(): LeaseView[] {
    const views: LeaseView[] = [];
    for (const [key, rec] of this.table.all()) {
      if (rec.slots.length === 0 && rec.waiting.length === 0) continue;
      views.push({
        app: this.app,
        fn: this.fn,
        key,
        partition: this.d.partition,
        epoch: rec.epoch,
        slots: rec.slots,
        mode: rec.mode,
        waiting: rec.waiting.length,
      });
    }
    return views;
  }

  /** Asks `slot` for its partials of `key` (a SYNC, or a LEASE_REVOKE that also ends its part of the lease). */
  private request(
    type: 'sync' | 'lease-revoke',
    key: string,
    epoch: number,
    seq: number,
    slot: number,
  ): void {
    const replyTo = { topic: this.d.env.fn.topic, partition: this.d.partition };
    this.control(slot, { v: 1, type, app: this.app, fn: this.fn, key, epoch, seq, slot, replyTo });
  }

  /** A control message to a lease slot, in the forwards bucket so it keeps its order with the forwards. */
  private control(slot: number, message: Parameters<typeof encodeControl>[0]): void {
    const record: OutgoingRecord = {
      topic: this.leaseTopic,
      partition: slot,
      key: 'key' in message ? actorKeyBytes(message.key) : null,
      value: encodeControl(message),
      headers: { [H_KIND]: KIND_CONTROL_BUF },
    };
    this.out!.forwards.push(record);
  }
}
