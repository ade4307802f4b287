// The body of a lease slot's input task: a partition of an app's lease topic, processed by whichever worker the
// lessee group gave it. It is the lessee of every (function, key) lease granted to the slot:
// - a forwarded message runs the function's handler here, against the slot's PARTIAL state of the key (its
//   mergeable cells, in the slot's own space, starting from identity), and may send and emit downstream;
// - a SYNC (or LEASE_REVOKE) comes after every message forwarded before it (same partition, per-key order):
//   the slot replies with its partials (PARTIAL, to the lessor's input partition) and resets them, in the same
//   transaction that consumes the SYNC; a revoke also forgets the lease.
// The slot's partials live in the lease changelog, so a slot that moves to another worker continues exactly.

import type {
  IncomingRecord,
  Logger,
  OutgoingRecord,
  RecordHeaders,
  ResolvedApp,
  ResolvedFunction,
} from '@dirigo/core';
import { actorId, actorKeyBytes } from '@dirigo/core';
import type { FunctionEnv } from '../actor/function-env.ts';
import { timerHeaders } from '../actor/message-context.ts';
import { needsPrepare, prepareStep } from '../actor/serde-hooks.ts';
import { StepRunner } from '../actor/step-runner.ts';
import { deadlineOf, ingestOf } from '../headers.ts';
import {
  type ControlMessage,
  decodeControl,
  decodeLeaseHeader,
  encodeCells,
  encodeControl,
  H_KIND,
  H_LEASE,
  KIND_CONTROL,
  type LeaseHeaderV1,
  type PartialCellBytes,
} from '../protocol/index.ts';
import type { ScheduledMessage } from '../scheduler/types.ts';
import { internalMap, StateCatalog } from '../state/catalog.ts';
import { type CellSpace, cellAddressing, spacePrefix, storeKey } from '../state/cell-key.ts';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';
import type { TimerEntry } from '../state/timers.ts';
import type { BodyState, TaskBody, TaskContext } from '../task/input-task.ts';
import type { StepOutput } from '../task/step-output.ts';
import type { LeaseCounters } from './lease-metrics.ts';

const LESSEES = '__lessees';
const KIND_CONTROL_BUF = Buffer.from(KIND_CONTROL);

/** What a slot keeps of each lease it holds. */
interface SlotLease {
  readonly epoch: number;
  /** Forwarded messages folded into the partial since the last reply. */
  readonly processed: number;
}

/** Faults a test can inject (lessee side). */
export interface SlotFaults {
  /** SYNC replies are not sent (the lessor then stays BLOCKED). */
  readonly dropSyncReply?: boolean;
}

/** A parsed record of the lease topic. */
type Entry =
  | {
      readonly kind: 'forward';
      readonly fn: ResolvedFunction;
      readonly key: string;
      readonly lease: LeaseHeaderV1;
    }
  | { readonly kind: 'control'; readonly key: string; readonly message: ControlMessage }
  | { readonly kind: 'bad'; readonly key: string; readonly reason: string };

export interface SlotBodyDeps {
  readonly app: ResolvedApp;
  readonly slot: number;
  /** The lessor-side env of every leasable function (the slot makes its own with the slot's cell space). */
  readonly envs: ReadonlyMap<string, FunctionEnv>;
  readonly counters: LeaseCounters;
  readonly logger: Logger;
  readonly faults?: SlotFaults;
}

export class LeaseSlotBody implements TaskBody {
  readonly kind = 'lease-slot';
  readonly state: BodyState;
  private readonly d: SlotBodyDeps;
  private readonly space: CellSpace;
  private readonly lesseesCk: string;
  /** Per leasable function: its env in this slot's space. */
  private readonly envs = new Map<string, FunctionEnv>();
  private readonly runners = new Map<string, StepRunner>();
  private layer: StateLayer | undefined;
  private readonly scratch: UndoEntry[] = [];
  private queue = '';

  constructor(deps: SlotBodyDeps) {
    this.d = deps;
    const app = deps.app;
    const lease = app.lease!;
    this.space = { app: app.name, fn: '__lease', slot: deps.slot as CellSpace['slot'] };
    this.lesseesCk = storeKey(spacePrefix(this.space), LESSEES, '');
    for (const [name, env] of deps.envs) {
      const space = { app: app.name, fn: name, slot: deps.slot as CellSpace['slot'] };
      this.envs.set(name, {
        ...env,
        ...cellAddressing(spacePrefix(space), env.fn.states),
        lessee: true,
        logger: env.logger.child({ slot: deps.slot }),
      });
    }
    this.state = {
      catalog: new StateCatalog([
        ...[...deps.envs.values()].map((e) => ({ app: app.name, fn: e.fn.name, states: e.fn.states })),
        { app: app.name, fn: '__lease', states: [internalMap(LESSEES)] },
      ]),
      changelogTopic: lease.changelogTopic,
      space: this.space,
    };
  }

  attach(task: TaskContext): void {
    this.layer = task.state;
    this.queue = `${this.d.app.lease!.group}/${task.partition}`;
    for (const [name, env] of this.envs) this.runners.set(name, new StepRunner(env, task.state, task.timers));
  }

  run(records: readonly IncomingRecord[], out: StepOutput): Promise<void> {
    this.scratch.length = 0;
    const n = records.length;
    const entries: Entry[] = new Array(n);
    const env = this.envs.values().next().value as FunctionEnv;
    const now = env.clock.now();
    const counters = this.d.counters;
    for (let i = 0; i < n; i++) {
      const e = this.parse(records[i]!);
      entries[i] = e;
      if (e.kind === 'forward' && e.lease.at !== undefined) {
        counters.forwardTransits++;
        counters.forwardTransitMs += Math.max(0, now - e.lease.at);
      }
    }
    const ready = this.prepare(records, entries);
    if (ready !== undefined) return ready.then(() => this.dispatch(records, entries, out, env));
    return this.dispatch(records, entries, out, env);
  }

  /** Lets the serdes of forwarded messages fetch what decoding needs (see actor/serde-hooks.ts). */
  private prepare(records: readonly IncomingRecord[], entries: readonly Entry[]): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.kind !== 'forward' || !needsPrepare(e.fn.serde, e.fn.keySerde)) continue;
      const p = prepareStep([records[i]!], e.fn.serde, e.fn.keySerde);
      if (p !== undefined) waits.push(p);
    }
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
  }

  private dispatch(
    records: readonly IncomingRecord[],
    entries: readonly Entry[],
    out: StepOutput,
    env: FunctionEnv,
  ): Promise<void> {
    const n = records.length;
    const runOne = (i: number, scheduled?: ScheduledMessage) =>
      this.handle(records[i]!, entries[i]!, out, scheduled);
    const dispatcher = env.dispatcher;
    if (dispatcher === undefined) return this.runInOrder(n, runOne);
    const app = this.d.app;
    const now = env.clock.now();
    const messages: ScheduledMessage[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const e = entries[i]!;
      const ingest = ingestOf(r.headers, r.timestamp, now);
      messages[i] = {
        app: app.name,
        fn: e.kind === 'forward' ? e.fn.name : '__lease',
        // Per (function, key) order: a SYNC runs after the messages forwarded before it.
        key: `${e.kind === 'forward' ? e.fn.name : e.kind === 'control' && 'fn' in e.message ? e.message.fn : ''}\u0000${e.key}`,
        queue: this.queue,
        priority: app.options.priority,
        ingest,
        deadline: deadlineOf(r.headers, ingest, now, app.options.latencyTargetMs),
        enqueuedAt: now,
        ...(e.kind === 'forward' ? {} : { critical: true }),
      };
    }
    return dispatcher.submit(
      messages,
      { run: (i) => runOne(i, messages[i]) },
      {
        maxConcurrentKeys: app.options.maxConcurrentKeys,
      },
    );
  }

  private async runInOrder(n: number, runOne: (i: number) => void | Promise<void>): Promise<void> {
    for (let i = 0; i < n; i++) {
      const done = runOne(i);
      if (done !== undefined) await done;
    }
  }

  private parse(r: IncomingRecord): Entry {
    const key = actorId(r.key);
    if (r.headers[H_KIND]?.toString() === KIND_CONTROL) {
      const d = decodeControl(r.value);
      return d.kind === 'known'
        ? { kind: 'control', key, message: d.message }
        : { kind: 'bad', key, reason: d.reason };
    }
    const h = decodeLeaseHeader(r.headers[H_LEASE]);
    if (h.kind === 'unknown') return { kind: 'bad', key, reason: `forwarded message: ${h.reason}` };
    const fn = this.d.app.functions.get(h.message.fn);
    if (h.message.app !== this.d.app.name || fn === undefined || !fn.leasable) {
      return {
        kind: 'bad',
        key,
        reason: `forwarded message of '${h.message.app}/${h.message.fn}', not a leasable function of this app`,
      };
    }
    return { kind: 'forward', fn, key, lease: h.message };
  }

  private handle(
    r: IncomingRecord,
    e: Entry,
    out: StepOutput,
    scheduled?: ScheduledMessage,
  ): void | Promise<void> {
    if (e.kind === 'bad') {
      this.d.counters.unknown++;
      this.d.logger.warn(
        { offset: r.offset, reason: e.reason },
        'skipping a lease-topic record this slot does not understand',
      );
      return;
    }
    if (e.kind === 'forward') return this.forwarded(r, e, out, scheduled);
    const m = e.message;
    switch (m.type) {
      case 'lease-grant': {
        const held = this.lease(m.fn, m.key);
        if (held !== undefined && held.epoch !== m.epoch) {
          this.d.logger.warn(
            { fn: m.fn, key: m.key, held: held.epoch, epoch: m.epoch },
            'a new lease replaces one not revoked',
          );
        }
        this.setLease(m.fn, m.key, { epoch: m.epoch, processed: held?.processed ?? 0 });
        return;
      }
      case 'sync':
      case 'lease-revoke': {
        const held = this.lease(m.fn, m.key);
        if (held === undefined || held.epoch !== m.epoch) {
          this.d.counters.stale++;
          this.d.logger.warn(
            { fn: m.fn, key: m.key, held: held?.epoch, epoch: m.epoch, type: m.type },
            'skipping a stale sync request',
          );
          return;
        }
        this.reply(m, held, m.type === 'lease-revoke', out);
        if (m.type === 'lease-revoke') this.setLease(m.fn, m.key, undefined);
        else this.setLease(m.fn, m.key, { epoch: held.epoch, processed: 0 });
        return;
      }
      case 'unsync':
        return;
      default:
        this.d.counters.unknown++;
        this.d.logger.warn(
          { offset: r.offset, type: m.type },
          'skipping a control message a lease slot does not take',
        );
    }
  }

  /** Runs a forwarded message against this slot's partial state of its key, or dead-letters it. */
  private forwarded(
    r: IncomingRecord,
    e: Extract<Entry, { kind: 'forward' }>,
    out: StepOutput,
    scheduled?: ScheduledMessage,
  ): void | Promise<void> {
    const fn = e.fn.name;
    const held = this.lease(fn, e.key);
    const origin: IncomingRecord = { ...r, ...e.lease.origin };
    const runner = this.runners.get(fn)!;
    if (held === undefined || held.epoch !== e.lease.epoch) {
      // Nothing is lost silently: the message goes to the dead-letter topic with the reason.
      this.d.counters.rejectedForwards++;
      runner.deadLetter(
        origin,
        new Error(
          `forwarded to lease slot ${this.d.slot} under lease epoch ${e.lease.epoch} of '${fn}/${e.key}', but the slot holds ${held === undefined ? 'no lease' : `epoch ${held.epoch}`}`,
        ),
        'lease',
        out,
      );
      return;
    }
    this.setLease(fn, e.key, { epoch: held.epoch, processed: held.processed + 1 });
    const c = this.d.counters;
    c.lesseeProcessed++;
    if (c.firstLesseeAt === 0) c.firstLesseeAt = this.envs.get(fn)!.clock.now();
    return runner.execute(origin, e.key, out, scheduled, false, undefined);
  }

  /** PARTIAL: the slot's partial of every mergeable state of the key, sent to the lessor; the partials reset. */
  private reply(
    m: Extract<ControlMessage, { type: 'sync' | 'lease-revoke' }>,
    held: SlotLease,
    final: boolean,
    out: StepOutput,
  ): void {
    const env = this.envs.get(m.fn);
    if (env === undefined) return;
    const layer = this.layer!;
    const cells: PartialCellBytes[] = [];
    env.fn.states.forEach((s, i) => {
      const head = env.cellHeads[i]!;
      const v = layer.getValue(head, m.key);
      cells.push({ state: s.name, value: v === undefined ? null : s.serde.serialize(v) });
      if (v !== undefined) layer.setValue(head, m.key, undefined, this.scratch);
    });
    this.d.counters.replies++;
    if (this.d.faults?.dropSyncReply === true) return;
    const reply: OutgoingRecord = {
      topic: m.replyTo.topic,
      partition: m.replyTo.partition,
      key: actorKeyBytes(m.key),
      value: encodeControl({
        v: 1,
        type: 'partial',
        app: m.app,
        fn: m.fn,
        key: m.key,
        epoch: m.epoch,
        seq: m.seq,
        slot: m.slot,
        final,
        processed: held.processed,
        cells: encodeCells(cells),
      }),
      headers: { [H_KIND]: KIND_CONTROL_BUF },
    };
    out.control.push(reply);
  }

  private lease(fn: string, key: string): SlotLease | undefined {
    return this.layer!.getEntry(this.lesseesCk, `${fn}\u0000${key}`) as SlotLease | undefined;
  }

  private setLease(fn: string, key: string, lease: SlotLease | undefined): void {
    this.layer!.setEntry(this.lesseesCk, `${fn}\u0000${key}`, lease, this.scratch);
  }

  timerHeaders(t: TimerEntry): RecordHeaders {
    return timerHeaders(this.envs.values().next().value as FunctionEnv, t);
  }
}
