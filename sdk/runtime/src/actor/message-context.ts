// The Context a handler receives for one message: state accessors over the task's pending layer, and
// `send`/`emit` that buffer outgoing records until the step commits. Each message owns its outputs and undo
// journal, so a throwing handler is rolled back alone, even when async handlers of other keys overlap.
import {
  type Context,
  type IncomingRecord,
  type KeySerde,
  type Logger,
  type MapState,
  type OutgoingRecord,
  partitionFor,
  type RecordHeaders,
  type ResolvedState,
  type SendOptions,
  type StateAccessors,
  type StateSpec,
  type ValueState,
} from '@dirigo/core';
import { H_DEADLINE, H_INGEST, H_PRIORITY, headerNumber } from '../headers.ts';
import { mergeableAccessor } from '../lease/mergeable-state.ts';
import { CRITICAL, H_AT, H_CRITICAL } from '../protocol/headers.ts';
import type { ScheduledMessage } from '../scheduler/types.ts';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';
import type { TimerEntry, Timers } from '../state/timers.ts';
import { H_TRACEPARENT, H_TRACESTATE } from '../trace/traceparent.ts';
import type { HandlerSpan } from '../trace/tracing.ts';
import { type FunctionEnv, partitionsOf } from './function-env.ts';
import { keyBytesFor, keyText } from './keys.ts';

/** Where a record without a key is partitioned (murmur2 of no bytes): one partition, so one null-key actor. */
const NO_KEY = Buffer.alloc(0);

const CRITICAL_HEADER = Buffer.from(CRITICAL);

/** What a context throws when used after its handler finished. */
const USED_AFTER_RETURN = new Error(
  "this message's context was used after its handler finished (returned, or its promise settled): send, emit and state writes must happen before then; await the work that does them",
);

/** A message's event time and the watermark it sees (apps using event time). */
export interface MessageTime {
  readonly eventTime: number;
  readonly watermark: number;
}

/**
 * Headers of the records caused by `record` (computed once per incoming record): the scheduling metadata
 * (`dirigo-ingest`, `dirigo-deadline`, `dirigo-priority`), the record's own headers other than `dirigo-*` ones
 * (only `traceparent` and `tracestate` when the app sets `propagateHeaders: false`), and `traceparent` replaced
 * by the handler span's when tracing records one.
 */
export function metaHeaders(env: FunctionEnv, record: IncomingRecord, traceparent?: Buffer): RecordHeaders {
  const base = schedulingHeaders(env, record);
  const carried = carriedOnly(env, record, traceparent);
  return carried === undefined ? base : { ...carried, ...base };
}

/** The headers of `metaHeaders` without the scheduling ones, or undefined when there are none. */
function carriedOnly(
  env: FunctionEnv,
  record: IncomingRecord,
  traceparent?: Buffer,
): RecordHeaders | undefined {
  const carried = carriedHeaders(record.headers, env.app.options.propagateHeaders);
  if (traceparent === undefined) return carried;
  return { ...carried, [H_TRACEPARENT]: traceparent };
}

/** Marks "computed: none" in a message's header cache. */
const NO_HEADERS: RecordHeaders = Object.freeze({});

/** The record's headers a hop carries on, or undefined when there are none. */
function carriedHeaders(h: RecordHeaders, all: boolean): RecordHeaders | undefined {
  let out: RecordHeaders | undefined;
  for (const name in h) {
    if (name.startsWith('dirigo-')) continue;
    if (!all && name !== H_TRACEPARENT && name !== H_TRACESTATE) continue;
    out ??= {};
    out[name] = h[name]!;
  }
  return out;
}

/**
 * The scheduling headers of the records caused by `record`. Shared and frozen: the records fetched together mostly
 * share their millisecond (an ingress record) or their upstream message's values (a later hop), so one object
 * serves many records, and a transport encodes a frozen headers object once (kafkajs fix 10, the platformatic
 * encoder per object).
 */
function schedulingHeaders(env: FunctionEnv, record: IncomingRecord): RecordHeaders {
  const h = record.headers;
  const cache = env.metaCache;
  // Records with the same header bytes mostly share one headers object (the platformatic transport's decoder).
  if (h === cache.hopFrom && cache.hop !== undefined) return cache.hop;
  const ingest = h[H_INGEST];
  const deadline = h[H_DEADLINE];
  if (ingest !== undefined && deadline !== undefined) {
    const hop = cache.hop;
    cache.hopFrom = h;
    if (hop !== undefined && hop[H_INGEST]!.equals(ingest) && hop[H_DEADLINE]!.equals(deadline)) return hop;
    const fresh = Object.freeze({
      [H_INGEST]: ingest,
      [H_DEADLINE]: deadline,
      [H_PRIORITY]: env.priorityHeader,
    });
    cache.hop = fresh;
    return fresh;
  }
  const t = record.timestamp;
  if (cache.at !== t || cache.headers === undefined) {
    cache.at = t;
    cache.headers = Object.freeze({
      [H_INGEST]: Buffer.from(String(t)),
      [H_DEADLINE]: Buffer.from(String(t + env.app.options.latencyTargetMs)),
      [H_PRIORITY]: env.priorityHeader,
    });
  }
  return cache.headers;
}

/** Metadata headers of the record a fired timer sends (a critical timer's record is critical). */
export function timerHeaders(env: FunctionEnv, t: TimerEntry): RecordHeaders {
  const h: RecordHeaders = {
    [H_INGEST]: Buffer.from(String(t.ingest)),
    [H_DEADLINE]: Buffer.from(String(t.due + env.app.options.latencyTargetMs)),
    [H_PRIORITY]: env.priorityHeader,
  };
  if (t.critical === true) h[H_CRITICAL] = CRITICAL_HEADER;
  return h;
}

export class MessageContext implements Context<Record<string, StateSpec>> {
  // One object per message: fields only for what differs per message (app, function and event time are read
  // through getters; a number field costs a heap box per object besides its slot).
  /** The actor's identity (`actorId` of the key bytes). */
  readonly id: string;
  readonly now: number;
  readonly origin: IncomingRecord;
  /** The message's event time and watermark (the app uses event time: outputs carry it as their timestamp). */
  private readonly time: MessageTime | undefined;
  /** Set when the handler was given up. */
  private expired: Error | undefined;
  /**
   * Where this message's records go (committed with the step unless the handler throws): the step's own list
   * while the handler runs synchronously (a throw cuts the list back, see `StepRunner.execute`), the message's
   * own once the handler returned a promise (`detach`: added to the step when it settles).
   */
  outputs: OutgoingRecord[];
  /** This message's state writes, newest last. */
  undo: UndoEntry[] | undefined;
  /** The handler's span, when tracing records one: outputs carry its `traceparent`. */
  span: HandlerSpan | undefined;
  private readonly env: FunctionEnv;
  private readonly partitionState: StateLayer | undefined;
  private readonly timers: Timers | undefined;
  private meta: RecordHeaders | undefined;
  /** Headers of egress records without scheduling headers (computed once per message; NO_HEADERS: none). */
  private carried: RecordHeaders | undefined;
  private accessors: StateAccessors<Record<string, StateSpec>> | undefined;

  /** The message as the scheduler saw it (for the send hook), when a dispatcher runs the step. */
  private readonly scheduled: ScheduledMessage | undefined;
  /** A critical message: it runs at the lessor with the fully merged state, and may set mergeable cells. */
  private readonly critical: boolean;

  constructor(
    env: FunctionEnv,
    state: StateLayer | undefined,
    timers: Timers | undefined,
    record: IncomingRecord,
    key: string,
    scheduled: ScheduledMessage | undefined,
    critical: boolean,
    time: MessageTime | undefined,
    outputs: OutgoingRecord[],
  ) {
    this.env = env;
    this.outputs = outputs;
    this.scheduled = scheduled;
    this.critical = critical;
    this.time = time;
    this.partitionState = state;
    this.timers = timers;
    this.id = key;
    // The start of the dispatcher's run of messages this one is part of (one clock read per run), else the clock.
    const started = env.dispatcher?.runningSince ?? Number.NaN;
    this.now = Number.isNaN(started) ? env.clock.now() : started;
    this.origin = record;
  }

  private text: string | undefined;

  get app(): string {
    return this.env.app.name;
  }

  get fn(): string {
    return this.env.fn.name;
  }

  get eventTime(): number {
    return this.time === undefined ? this.origin.timestamp : this.time.eventTime;
  }

  get watermark(): number {
    return this.time === undefined ? Number.NEGATIVE_INFINITY : this.time.watermark;
  }

  /** Outputs carry the event time as their timestamp (the app uses event time). */
  private get stamped(): boolean {
    return this.time !== undefined;
  }

  /** The key as text (the function's key serde); '' for a record without a key. */
  get key(): string {
    if (this.text === undefined) this.text = keyText(this.env.fn.keySerde, this.origin.key, this.id);
    return this.text;
  }

  get keyBytes(): Buffer | null {
    return this.origin.key;
  }

  /** The bytes of a key given to send/emit with `serde` (ctx.key itself keeps the record's bytes). */
  private bytesOf(serde: KeySerde | undefined, key: string): Buffer | null {
    let text: string | undefined;
    try {
      text = this.key;
    } catch {
      text = undefined; // an undecodable key of this record: nothing sent can be "the same key"
    }
    return keyBytesFor(serde, key, this.env.fn.keySerde, text, this.origin.key);
  }

  get log(): Logger {
    return this.env.logger;
  }

  get state(): StateAccessors<Record<string, StateSpec>> {
    if (this.accessors === undefined) this.accessors = this.buildAccessors();
    return this.accessors;
  }

  send(fn: string, key: string, message: unknown, options?: SendOptions): void {
    const target = this.env.app.functions.get(fn);
    if (target === undefined) {
      throw new Error(
        `send: app '${this.app}' has no function '${fn}' (known: ${[...this.env.app.functions.keys()].join(', ')})`,
      );
    }
    if (typeof key !== 'string') throw new Error(`send: key must be a string, got ${typeof key}`);
    if (this.stamped && fn !== this.fn && this.env.fn.sends?.includes(fn) !== true) {
      throw new Error(
        `send: function '${this.fn}' does not declare that it sends to '${fn}'; add sends: [${[...(this.env.fn.sends ?? []), fn].map((f) => `'${f}'`).join(', ')}] to it (apps using event time carry watermarks along declared edges)`,
      );
    }
    const keyBuf = this.bytesOf(target.keySerde, key);
    const value = target.serde.serialize(message);
    const partition = partitionFor(keyBuf ?? NO_KEY, partitionsOf(this.env, target.topic));
    const at = options?.atEventTime;
    if (at !== undefined) {
      if (!this.stamped) throw new Error(`send: atEventTime needs options.eventTime on app '${this.app}'`);
      if (typeof at !== 'number' || !Number.isFinite(at))
        throw new Error(`send: atEventTime must be a finite number of ms, got ${String(at)}`);
      if (options?.delayMs !== undefined)
        throw new Error('send: use either delayMs or atEventTime, not both');
      if (this.env.lessee === true) {
        // A lessee has no watermark of the partition: the key's lessor keeps the timer (see H_AT).
        const h: RecordHeaders = { ...this.metaHeaders(), [H_AT]: Buffer.from(String(at)) };
        if (options?.critical === true) h[H_CRITICAL] = CRITICAL_HEADER;
        this.push({ topic: target.topic, partition, key: keyBuf, value, headers: h, timestamp: at });
        return;
      }
      this.addTimer({
        due: at,
        event: true,
        ts: at,
        topic: target.topic,
        partition,
        k: keyBuf === null ? null : keyBuf.toString('base64'),
        v: value.toString('base64'),
        ingest: headerNumber(this.metaHeaders(), H_INGEST) ?? this.now,
        ...(options?.critical === true ? { critical: true } : {}),
      });
      return;
    }
    let delay = options?.delayMs ?? 0;
    if (delay <= 0 && this.scheduled !== undefined && this.timers !== undefined) {
      // The send hook: a held message becomes a durable timer released at the next tick.
      const d = this.env.dispatcher?.checkSend(this.scheduled, { app: this.app, fn, topic: target.topic });
      if (d === 'hold') delay = 1;
    }
    const critical = options?.critical === true;
    if (delay > 0) {
      this.addTimer({
        due: this.now + delay,
        topic: target.topic,
        partition,
        k: keyBuf === null ? null : keyBuf.toString('base64'),
        v: value.toString('base64'),
        ingest: headerNumber(this.metaHeaders(), H_INGEST) ?? this.now,
        ...(critical ? { critical: true } : {}),
        ...(this.stamped ? { ts: this.eventTime } : {}),
      });
      return;
    }
    const headers = critical ? { ...this.metaHeaders(), [H_CRITICAL]: CRITICAL_HEADER } : this.metaHeaders();
    // One shape for every output (no spread): an unset timestamp is undefined (the produce time).
    this.push({
      topic: target.topic,
      partition,
      key: keyBuf,
      value,
      headers,
      timestamp: this.stamped ? this.eventTime : undefined,
    });
  }

  emit(egress: string, key: string | null, value: unknown): void {
    const eg = this.env.app.egresses.get(egress);
    if (eg === undefined) {
      throw new Error(
        `emit: app '${this.app}' has no egress '${egress}' (known: ${[...this.env.app.egresses.keys()].join(', ') || 'none'})`,
      );
    }
    const keyBuf = key === null ? null : this.bytesOf(eg.keySerde, key);
    // One shape for every output (no spread): an unset partition (no key: the transport's choice) and an unset
    // timestamp (the produce time) are undefined.
    this.push({
      topic: eg.topic,
      partition: keyBuf === null ? undefined : partitionFor(keyBuf, partitionsOf(this.env, eg.topic)),
      key: keyBuf,
      value: eg.serde.serialize(value),
      headers: eg.schedulingHeaders ? this.metaHeaders() : this.carriedHeaders(),
      timestamp: this.stamped ? this.eventTime : undefined,
    });
  }

  private push(record: OutgoingRecord): void {
    if (this.expired !== undefined) throw this.expired;
    this.outputs.push(record);
  }

  /**
   * The handler returned a promise: the records it sent so far (the step's list from `mark` on) become this
   * message's own, and so do the ones it sends until it settles.
   */
  detach(mark: number): void {
    const step = this.outputs;
    this.outputs = step.length > mark ? step.splice(mark) : [];
  }

  /**
   * The handler is done (returned, or its promise settled): whatever it still does with this context throws
   * instead of being lost (a send or a state write after that belongs to no step).
   */
  close(): void {
    this.expired ??= USED_AFTER_RETURN;
  }

  private metaHeaders(): RecordHeaders {
    if (this.meta === undefined) this.meta = metaHeaders(this.env, this.origin, this.span?.traceparent);
    return this.meta;
  }

  /** The headers an egress without scheduling headers gets: those carried on, and the handler span's. */
  private carriedHeaders(): RecordHeaders | undefined {
    if (this.carried === undefined) {
      this.carried = carriedOnly(this.env, this.origin, this.span?.traceparent) ?? NO_HEADERS;
    }
    return this.carried === NO_HEADERS ? undefined : this.carried;
  }

  /**
   * Throws unless this message may replace a mergeable cell's value: in an ordinary message of a leasable
   * function only `merge` is allowed, wherever it runs, so the result never depends on where it ran.
   */
  exclusiveWrite(state: string, what: 'set' | 'clear'): void {
    if (this.env.fn.leasable && !this.critical) {
      throw new Error(
        `state '${state}': ${what}() is only allowed in critical messages of leasable function '${this.fn}' (ordinary messages may run at a lessee against a partial value); use merge(), or make the message critical`,
      );
    }
  }

  /** The handler was given up (timed out): every later write, send or emit of it throws `error`. */
  expire(error: Error): void {
    this.expired = error;
  }

  /** The undo journal of this message's writes. */
  journal(): UndoEntry[] {
    if (this.expired !== undefined) throw this.expired;
    if (this.undo === undefined) {
      // Room for one entry (most messages write one cell): an empty array's first push would reserve 17.
      const undo: UndoEntry[] = [undefined as unknown as UndoEntry];
      undo.pop();
      this.undo = undo;
    }
    return this.undo;
  }

  private addTimer(entry: TimerEntry): void {
    if (this.timers === undefined)
      throw new Error(`send with delayMs: function '${this.fn}' has no state store`);
    this.timers.add(entry, this.journal());
  }

  private buildAccessors(): StateAccessors<Record<string, StateSpec>> {
    const out: Record<string, ValueState<unknown> | MapState<unknown>> = {};
    const ps = this.partitionState;
    if (ps === undefined) return out as StateAccessors<Record<string, StateSpec>>;
    const heads = this.env.cellHeads;
    const states = this.env.fn.states;
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!;
      const head = heads[i]!;
      out[s.name] =
        s.kind === 'value'
          ? new ValueAccessor(ps, head, this.id, s, this)
          : s.kind === 'mergeable'
            ? mergeableAccessor(ps, head, this.id, s, this)
            : new MapAccessor(ps, head, this.id, s, this);
    }
    return out as StateAccessors<Record<string, StateSpec>>;
  }
}

/**
 * What an accessor of one state of one message's actor works on: the layer, the cell (its store-key head and the
 * actor key), the spec, the message.
 */
abstract class CellAccessor {
  protected readonly ps: StateLayer;
  protected readonly head: string;
  protected readonly key: string;
  protected readonly spec: ResolvedState;
  protected readonly ctx: MessageContext;

  constructor(ps: StateLayer, head: string, key: string, spec: ResolvedState, ctx: MessageContext) {
    this.ps = ps;
    this.head = head;
    this.key = key;
    this.spec = spec;
    this.ctx = ctx;
  }
}

/**
 * A value state of one message's actor. One object per state and message, its methods on the prototype (a
 * message's accessors are made when the handler first reads `ctx.state`, for every message that does).
 */
class ValueAccessor extends CellAccessor implements ValueState<unknown> {
  get(): unknown {
    return this.ps.getValue(this.head, this.key);
  }

  set(v: unknown): void {
    if (v === undefined)
      throw new Error(`state '${this.spec.name}': set(undefined) is not allowed; use clear()`);
    this.ps.setValue(this.head, this.key, v, this.ctx.journal(), this.spec.serde, this.spec.name);
  }

  clear(): void {
    this.ps.setValue(this.head, this.key, undefined, this.ctx.journal());
  }
}

/** A map state of one message's actor (see ValueAccessor). */
class MapAccessor extends CellAccessor implements MapState<unknown> {
  /** The map cell's store key (map cells are addressed by it whole). */
  private readonly ck = this.head + this.key;

  get(k: string): unknown {
    return this.ps.getEntry(this.ck, k);
  }

  has(k: string): boolean {
    return this.ps.getEntry(this.ck, k) !== undefined;
  }

  set(k: string, v: unknown): void {
    if (v === undefined)
      throw new Error(`state '${this.spec.name}': set(key, undefined) is not allowed; use delete(key)`);
    this.ps.setEntry(this.ck, k, v, this.ctx.journal(), this.spec.serde, this.spec.name);
  }

  delete(k: string): void {
    this.ps.setEntry(this.ck, k, undefined, this.ctx.journal());
  }

  entries(): [string, unknown][] {
    return this.ps.entries(this.ck);
  }
}
