// The Context a handler receives for one message: state accessors over the task's pending layer, and
// `send`/`emit` that buffer outgoing records until the step commits. Each message owns its outputs and undo
// journal, so a throwing handler is rolled back alone, even when async handlers of other keys overlap.
import {
  type Context,
  DEFAULT_KEY_SERDE,
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

/** What the contexts of one step runner share: the function, its state layer and its timers. */
export interface ContextScope {
  readonly env: FunctionEnv;
  readonly state: StateLayer | undefined;
  readonly timers: Timers | undefined;
  /**
   * The last frozen headers object found to carry nothing on (records without headers share one): a message of
   * a record with it has no carried headers, without looking again.
   */
  readonly noCarry: { from: RecordHeaders | undefined };
}

/** A context scope for `env`'s function with `state` and `timers`. */
export function contextScope(
  env: FunctionEnv,
  state: StateLayer | undefined,
  timers: Timers | undefined,
): ContextScope {
  return { env, state, timers, noCarry: { from: undefined } };
}

/** The parts of a message's context most messages never set (kept apart so the context itself stays small). */
interface ContextMore {
  /** The message's event time and watermark (the app uses event time: outputs carry it as their timestamp). */
  time: MessageTime | undefined;
  /** The message as the scheduler saw it (for the send hook), when the policy has one. */
  scheduled: ScheduledMessage | undefined;
  /** A critical message: it runs at the lessor with the fully merged state, and may set mergeable cells. */
  critical: boolean;
  /** The handler's span, when tracing records one: outputs carry its `traceparent`. */
  span: HandlerSpan | undefined;
  /** Headers of the records it causes, when they are its own (headers carried on): computed once. */
  meta: RecordHeaders | undefined;
  /** Headers of egress records without scheduling headers, when there are any: computed once. */
  carried: RecordHeaders | undefined;
  /** The key as text, when a key serde other than the default decodes it. */
  text: string | undefined;
}

/** A time read once, shared by the messages it is "now" for. */
interface Instant {
  readonly now: number;
}

export class MessageContext implements Context<Record<string, StateSpec>> {
  // One object per message, as small as it can be (every byte of it is allocated per record): fields only for
  // what every message has or most messages set; the rest in `more`, made when first needed. `now` is a shared
  // Instant (a number field would cost a heap box per message besides its slot).
  /** The actor's identity (`actorId` of the key bytes). */
  readonly id: string;
  readonly origin: IncomingRecord;
  /**
   * Where this message's records go (committed with the step unless the handler throws): the step's own list
   * while the handler runs synchronously (a throw cuts the list back, see `StepRunner.execute`), the message's
   * own once the handler returned a promise (`detach`: added to the step when it settles).
   */
  outputs: OutgoingRecord[];
  /** This message's state writes, newest last. */
  undo: UndoEntry[] | undefined;
  private readonly scope: ContextScope;
  private readonly at: Instant;
  /** Set when the handler finished or was given up: what every later use throws. */
  private expired: Error | undefined;
  private accessors: StateAccessors<Record<string, StateSpec>> | undefined;
  private more: ContextMore | undefined;

  constructor(
    scope: ContextScope,
    record: IncomingRecord,
    key: string,
    scheduled: ScheduledMessage | undefined,
    critical: boolean,
    time: MessageTime | undefined,
    outputs: OutgoingRecord[],
  ) {
    this.scope = scope;
    this.outputs = outputs;
    this.id = key;
    this.origin = record;
    // The start of the dispatcher's run of messages this one is part of (one clock read per run), else the clock.
    const env = scope.env;
    this.at = env.dispatcher?.runningAt ?? { now: env.clock.now() };
    if (scheduled !== undefined || critical || time !== undefined) {
      const more = this.extra();
      more.scheduled = scheduled;
      more.critical = critical;
      more.time = time;
    }
  }

  /** `more`, made on first use. */
  private extra(): ContextMore {
    let more = this.more;
    if (more === undefined) {
      more = {
        time: undefined,
        scheduled: undefined,
        critical: false,
        span: undefined,
        meta: undefined,
        carried: undefined,
        text: undefined,
      };
      this.more = more;
    }
    return more;
  }

  private get env(): FunctionEnv {
    return this.scope.env;
  }

  private get time(): MessageTime | undefined {
    return this.more?.time;
  }

  get now(): number {
    return this.at.now;
  }

  /** The handler's span, when tracing records one: outputs carry its `traceparent`. */
  get span(): HandlerSpan | undefined {
    return this.more?.span;
  }

  set span(span: HandlerSpan | undefined) {
    if (span !== undefined || this.more !== undefined) this.extra().span = span;
  }

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
    const serde = this.env.fn.keySerde;
    // The default key serde's text is the identity (unless escaped): nothing to keep.
    if (serde === DEFAULT_KEY_SERDE) return keyText(serde, this.origin.key, this.id);
    const more = this.extra();
    if (more.text === undefined) more.text = keyText(serde, this.origin.key, this.id);
    return more.text;
  }

  get keyBytes(): Buffer | null {
    return this.origin.key;
  }

  /** The bytes of a key given to send/emit with `serde` (ctx.key itself keeps the record's bytes). */
  private bytesOf(serde: KeySerde | undefined, key: string): Buffer | null {
    const own = this.env.fn.keySerde;
    // ctx.key itself under the default key serde (the identity, unless escaped): the record's bytes, as keyBytesFor
    // gives them, without decoding anything.
    if (
      key === this.id &&
      own === DEFAULT_KEY_SERDE &&
      key.charCodeAt(0) !== 1 &&
      (serde === undefined || serde === own || serde.name === own.name) &&
      this.origin.key !== null
    )
      return this.origin.key;
    let text: string | undefined;
    try {
      text = this.key;
    } catch {
      text = undefined; // an undecodable key of this record: nothing sent can be "the same key"
    }
    return keyBytesFor(serde, key, own, text, this.origin.key);
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
    if (delay <= 0 && this.more?.scheduled !== undefined && this.scope.timers !== undefined) {
      // The send hook: a held message becomes a durable timer released at the next tick.
      const d = this.env.dispatcher?.checkSend(this.more.scheduled, {
        app: this.app,
        fn,
        topic: target.topic,
      });
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

  /**
   * The headers of the records this message causes. Without headers to carry on they are the shared scheduling
   * headers (`metaHeaders`, cached per function); with some, a merged object made once per message.
   */
  private metaHeaders(): RecordHeaders {
    const more = this.more;
    if (more?.meta !== undefined) return more.meta;
    const carried = this.carriedHeaders();
    const base = schedulingHeaders(this.env, this.origin);
    if (carried === undefined) return base;
    const meta = { ...carried, ...base };
    this.extra().meta = meta;
    return meta;
  }

  /** The headers an egress without scheduling headers gets: those carried on, and the handler span's. */
  private carriedHeaders(): RecordHeaders | undefined {
    const more = this.more;
    if (more?.carried !== undefined) return more.carried === NO_HEADERS ? undefined : more.carried;
    const traceparent = more?.span?.traceparent;
    // Records without headers to carry on share their headers object (see ContextScope.noCarry): none, at once.
    const h = this.origin.headers;
    if (traceparent === undefined && h === this.scope.noCarry.from) return undefined;
    const carried = carriedOnly(this.env, this.origin, traceparent);
    if (carried === undefined && traceparent === undefined) {
      if (Object.isFrozen(h)) this.scope.noCarry.from = h;
    } else this.extra().carried = carried ?? NO_HEADERS;
    return carried;
  }

  /**
   * Throws unless this message may replace a mergeable cell's value: in an ordinary message of a leasable
   * function only `merge` is allowed, wherever it runs, so the result never depends on where it ran.
   */
  exclusiveWrite(state: string, what: 'set' | 'clear'): void {
    if (this.env.fn.leasable && this.more?.critical !== true) {
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
    const timers = this.scope.timers;
    if (timers === undefined) throw new Error(`send with delayMs: function '${this.fn}' has no state store`);
    timers.add(entry, this.journal());
  }

  private buildAccessors(): StateAccessors<Record<string, StateSpec>> {
    const out: Record<string, ValueState<unknown> | MapState<unknown>> = {};
    const ps = this.scope.state;
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
