// Runs the handlers for one step (the records of one fetched batch of one partition): decode, call the
// handler with a MessageContext, collect outputs into the step's buckets. Messages of one key run one at a time
// and in order; different keys overlap only when handlers are async, up to `maxConcurrentKeys`. A failing record
// follows the app's error policy: dead-letter (its writes and outputs are rolled back, the record goes to the
// DLQ topic) or stop (AppStoppedError). In an app using event time, each record sees the partition's watermark as
// of its position (moved by the records and WATERMARK records before it in the partition, never by later ones).

import type { IncomingRecord, RecordHeaders } from '@dirigo/core';
import { actorId } from '@dirigo/core';
import type { Span, Tracer } from '@opentelemetry/api';
import { AppStoppedError } from '../errors.ts';
import {
  clampDeadline,
  clampIngest,
  H_APP,
  H_ERROR,
  H_ERROR_CLASS,
  H_ERROR_STAGE,
  H_FUNCTION,
  H_INGEST,
  H_ORIGIN_OFFSET,
  H_ORIGIN_PARTITION,
  H_ORIGIN_TOPIC,
  H_TRUNCATED,
  H_DEADLINE,
  headerNumber,
} from '../headers.ts';
import { decodeControl } from '../protocol/codec.ts';
import { H_AT, H_CRITICAL, H_FIRED, H_KIND, H_WATERMARK } from '../protocol/headers.ts';
import { MARK_CRITICAL, MARK_LEASABLE, StepMessages } from '../scheduler/step-messages.ts';
import type { ScheduledMessage } from '../scheduler/types.ts';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';
import type { Timers } from '../state/timers.ts';
import type { StepOutput } from '../task/step-output.ts';
import type { WatermarkTracker } from '../time/watermarks.ts';
import { HandlerSpan } from '../trace/tracing.ts';
import type { FunctionEnv } from './function-env.ts';
import { keyText } from './keys.ts';
import {
  type ContextScope,
  contextScope,
  MessageContext,
  type MessageTime,
  metaHeaders,
} from './message-context.ts';

const isThenable = (v: unknown): v is PromiseLike<void> =>
  v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';

/** How a step's message is run: `ordinary` or `critical` user messages, or a `control` record of the runtime. */
const ORDINARY = 0;
const CRITICAL = 1;
const CONTROL = 2;
/** An ordinary message after a critical one of its key in the same step: it runs at the lessor. */
const AFTER_CRITICAL = 3;
/** A message sent with `atEventTime` at a lessee: kept here as an event-time timer (H_AT). */
const KEPT = 4;

/** The step's view of a message at its lessor (see lease/lessor.ts); absent for functions that never lease. */
export interface StepLessor {
  beginStep(out: StepOutput): void;
  forward(record: IncomingRecord, key: string, to: string, eventTime: number, watermark: number): boolean;
  handle(
    record: IncomingRecord,
    key: string,
    critical: boolean,
    scheduled: ScheduledMessage | undefined,
    decoded: { message: unknown } | undefined,
  ): void | Promise<void>;
}

export class StepRunner {
  private readonly env: FunctionEnv;
  private readonly state: StateLayer | undefined;
  private readonly timers: Timers | undefined;
  /** What the contexts of this runner's messages share. */
  private readonly scope: ContextScope;
  /** The lessor of a leasable function's partition, once attached. */
  lessor: StepLessor | undefined;
  /** The partition's watermark (apps using event time), once attached. */
  tracker: WatermarkTracker | undefined;
  /** The tracer of the current step (undefined: no spans) and its step span. */
  tracer: Tracer | undefined;
  stepSpan: Span | undefined;
  /** The partition's watermark after the current step's records (what a message seen out of position gets). */
  /** Input records of the partition behind the current step's (the scheduler's queue backlog). */
  backlog = 0;
  private stepWatermark = Number.NEGATIVE_INFINITY;
  /** The WATERMARK records of the current step, with the index of the record they come before. */
  private readonly marks: { at: number; source: string; wm: number | null; idle: boolean }[] = [];
  /**
   * At a lessor: the watermark of the message of each key the step ran last (the lessor runs a message, or the
   * messages queued behind a barrier, through `execute` without its index).
   */
  private readonly keyWms = new Map<string, number>();
  /** Writes of kept timers (outside any message's journal: the step commits them or not). */
  private readonly keptUndo: UndoEntry[] = [];
  private warnedControl = false;

  constructor(env: FunctionEnv, state: StateLayer | undefined, timers: Timers | undefined) {
    this.env = env;
    this.state = state;
    this.timers = timers;
    this.scope = contextScope(env, state, timers);
  }

  /**
   * Runs every record; resolves when all handlers finished. Rejects only with AppStoppedError or a bug. With a
   * dispatcher, the records become messages of this partition's queue and the worker's scheduling policy
   * decides when each runs, interleaved with the queues of every other app on the worker; a message it
   * forwards goes to the lessor (and on to a lessee) instead.
   */
  run(all: readonly IncomingRecord[], out: StepOutput, queue: string): Promise<void> {
    const env = this.env;
    const app = env.app;
    const lessor = this.lessor;
    lessor?.beginStep(out);
    this.keptUndo.length = 0;
    const tracker = this.tracker;
    const now = env.clock.now();
    // Watermark records only move the partition's watermark; they are not messages.
    const records = tracker === undefined ? all : this.takeWatermarks(all);
    const n = records.length;
    const keys: string[] = new Array(n);
    const kinds = new Uint8Array(n);
    // The watermark each record sees, by index (apps using event time): the partition's watermark as of the
    // record's position, moved by the records and WATERMARK records before it, not after. Computed once per
    // index, and only again after an observed record or a WATERMARK record may have moved it.
    const wms = tracker === undefined ? undefined : new Float64Array(n);
    const marks = this.marks;
    let mi = 0;
    let wm = Number.NEGATIVE_INFINITY;
    let moved = true;
    if (lessor !== undefined) this.keyWms.clear();
    const predicate = lessor === undefined ? undefined : env.fn.critical;
    const extractor = tracker === undefined ? undefined : env.fn.eventTime;
    const decoded: ({ message: unknown } | undefined)[] | undefined =
      predicate !== undefined || extractor !== undefined ? new Array(n) : undefined;
    // Keys with a critical message earlier in this step: their later messages are never forwarded (they come
    // after the barrier, so they must not reach a lessee before the barrier's SYNC).
    let criticalKeys: Set<string> | undefined;
    // With a dispatcher, each record's scheduled message is made in the same pass, as columns (the dispatcher
    // makes a message object only when a policy is shown one).
    const dispatcher = env.dispatcher;
    const scheduled = dispatcher !== undefined;
    const ingests = scheduled ? new Float64Array(n) : undefined;
    const deadlines = scheduled ? new Float64Array(n) : undefined;
    let flags: Uint8Array | undefined;
    const target = app.options.latencyTargetMs;
    // What the headers say, read again only when a record's headers object is not the one before's: records
    // without headers share one object, and the platformatic transport gives records in a row with the same
    // header bytes one object.
    let lastHeaders: RecordHeaders | undefined;
    let control = false;
    let at = false;
    let critical = false;
    let ingested: number | undefined;
    let due: number | undefined;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const key = actorId(r.key);
      keys[i] = key;
      if (tracker !== undefined) {
        for (; mi < marks.length && marks[mi]!.at === i; mi++) {
          const m = marks[mi]!;
          if (tracker.mark(m.source, m.wm, m.idle)) moved = true;
        }
        if (moved) {
          wm = tracker.watermark(now);
          moved = false;
        }
        wms![i] = wm;
      }
      const h = r.headers;
      if (h !== lastHeaders) {
        lastHeaders = h;
        control = h[H_KIND] !== undefined;
        at = h[H_AT] !== undefined;
        critical = h[H_CRITICAL] !== undefined;
        ingested = headerNumber(h, H_INGEST);
        due = headerNumber(h, H_DEADLINE);
      }
      let kind = ORDINARY;
      if (control) kind = CONTROL;
      else if (at && this.keepAsTimer(r)) kind = KEPT;
      else {
        if (tracker?.observe(this.eventTimeOf(r, i, decoded), now) === true) moved = true;
        if (lessor !== undefined) {
          if (critical || (predicate !== undefined && this.isCritical(r, key, i, decoded!))) {
            kind = CRITICAL;
            criticalKeys ??= new Set();
            criticalKeys.add(key);
          } else if (criticalKeys?.has(key) === true) kind = AFTER_CRITICAL;
        }
      }
      kinds[i] = kind;
      if (scheduled) {
        const ingest = clampIngest(ingested ?? r.timestamp, now);
        ingests![i] = ingest;
        deadlines![i] = clampDeadline(due ?? ingest + target, now, target);
        const mark =
          kind === CRITICAL || kind === CONTROL
            ? MARK_CRITICAL
            : kind === ORDINARY && lessor !== undefined
              ? MARK_LEASABLE
              : 0;
        if (mark !== 0) {
          flags ??= new Uint8Array(n);
          flags[i] = mark;
        }
      }
    }
    if (tracker !== undefined) {
      for (; mi < marks.length; mi++) {
        const m = marks[mi]!;
        tracker.mark(m.source, m.wm, m.idle);
      }
      marks.length = 0;
      this.stepWatermark = tracker.watermark(now);
    }
    const runOne = (i: number, scheduled?: ScheduledMessage): void | Promise<void> => {
      const kind = kinds[i]!;
      if (kind === KEPT) return;
      if (lessor !== undefined) {
        if (wms !== undefined) this.keyWms.set(keys[i]!, wms[i]!);
        return lessor.handle(records[i]!, keys[i]!, kind === CRITICAL, scheduled, decoded?.[i]);
      }
      if (kind === CONTROL) return this.skipControl(records[i]!);
      return this.execute(records[i]!, keys[i]!, out, scheduled, false, decoded?.[i], wms?.[i]);
    };
    if (dispatcher === undefined) return this.runInOrder(keys, runOne);
    const messages = new StepMessages(
      app.name,
      env.fn.name,
      queue,
      app.options.priority,
      keys,
      ingests!,
      deadlines!,
      flags,
      now,
    );
    // A running message's object only for the policy's send hook (the context asks it about each send).
    const keep = dispatcher.hasSendHook;
    return dispatcher.submit(
      messages,
      {
        run: (i) => runOne(i, keep ? messages.at(i) : undefined),
        ...(lessor === undefined
          ? {}
          : {
              // A fired self-timer runs here: its outputs must be in this partition's steps (see H_FIRED).
              forward: (i, to) =>
                kinds[i] === ORDINARY &&
                records[i]!.headers[H_FIRED] === undefined &&
                lessor.forward(
                  records[i]!,
                  keys[i]!,
                  to,
                  this.eventTimeOf(records[i]!, i, decoded),
                  wms === undefined ? Number.NEGATIVE_INFINITY : wms[i]!,
                ),
            }),
      },
      { maxConcurrentKeys: app.options.maxConcurrentKeys, backlog: this.backlog },
    );
  }

  /**
   * Takes the watermark records out of a step: returns the other records, and queues each watermark record of
   * this app in `marks` with the index (among the returned records) of the record it comes before.
   */
  private takeWatermarks(all: readonly IncomingRecord[]): readonly IncomingRecord[] {
    const marks = this.marks;
    marks.length = 0;
    let kept: IncomingRecord[] | undefined;
    for (let i = 0; i < all.length; i++) {
      const r = all[i]!;
      let watermark = false;
      if (r.headers[H_KIND] !== undefined) {
        const d = decodeControl(r.value);
        if (d.kind === 'known' && d.message.type === 'watermark') {
          watermark = true;
          if (d.message.app === this.env.app.name) {
            const m = d.message;
            marks.push({ at: kept?.length ?? i, source: m.source, wm: m.wm, idle: m.idle });
          }
        }
      }
      if (watermark && kept === undefined) kept = all.slice(0, i) as IncomingRecord[];
      else if (!watermark && kept !== undefined) kept.push(r);
    }
    return kept ?? all;
  }

  /**
   * A message a lessee sent with `atEventTime` (header H_AT): this partition owns the watermark, so it keeps the
   * message as an event-time timer (durable with the step) instead of running it. False without timers.
   */
  private keepAsTimer(r: IncomingRecord): boolean {
    const timers = this.timers;
    const at = headerNumber(r.headers, H_AT);
    if (timers === undefined || at === undefined || r.value === null) return false;
    const critical = r.headers[H_CRITICAL] !== undefined;
    timers.add(
      {
        due: at,
        event: true,
        ts: at,
        topic: r.topic,
        partition: r.partition,
        k: r.key === null ? null : r.key.toString('base64'),
        v: r.value.toString('base64'),
        ingest: headerNumber(r.headers, H_INGEST) ?? r.timestamp,
        ...(critical ? { critical: true } : {}),
      },
      this.keptUndo,
    );
    return true;
  }

  /** A record's event time: the function's extractor on the decoded message, or the record timestamp. */
  private eventTimeOf(
    r: IncomingRecord,
    i: number,
    decoded: ({ message: unknown } | undefined)[] | undefined,
  ): number {
    const extractor = this.env.fn.eventTime;
    if (extractor === undefined || r.value === null) return r.timestamp;
    let d = decoded?.[i];
    if (d === undefined) {
      try {
        d = { message: this.env.fn.serde.deserialize(r.value) };
      } catch {
        return r.timestamp; // the handler's turn dead-letters it
      }
      if (decoded !== undefined) decoded[i] = d;
    }
    try {
      const t = extractor(d.message, r);
      return typeof t === 'number' && Number.isFinite(t) ? t : r.timestamp;
    } catch {
      return r.timestamp;
    }
  }

  /** The function's `critical` predicate on the decoded message (kept for the handler); false when undecodable. */
  private isCritical(
    r: IncomingRecord,
    key: string,
    i: number,
    decoded: ({ message: unknown } | undefined)[],
  ): boolean {
    if (r.value === null) return false;
    let message: unknown;
    if (decoded[i] !== undefined) message = decoded[i]!.message;
    else {
      try {
        message = this.env.fn.serde.deserialize(r.value);
      } catch {
        return false; // the handler's turn dead-letters it
      }
      decoded[i] = { message };
    }
    try {
      return this.env.fn.critical!(message, keyText(this.env.fn.keySerde, r.key, key)) === true;
    } catch (e) {
      this.env.logger.warn(
        { err: e, offset: r.offset },
        "the function's critical() predicate threw; the message is ordinary",
      );
      return false;
    }
  }

  /** A runtime control record on a function that does not lease (it should not get one): counted and skipped. */
  private skipControl(r: IncomingRecord): void {
    if (!this.warnedControl) {
      this.warnedControl = true;
      this.env.logger.warn(
        { topic: r.topic, partition: r.partition, offset: r.offset },
        'skipping a control record on a function that does not lease',
      );
    }
  }

  private async runInOrder(
    keys: readonly string[],
    runOne: (i: number) => void | Promise<void>,
  ): Promise<void> {
    const max = this.env.app.options.maxConcurrentKeys;
    let tails: Map<string, Promise<void>> | undefined;
    let inflight: Set<Promise<void>> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const tail = tails?.get(key);
      let p: void | Promise<void>;
      if (tail === undefined) {
        p = runOne(i);
        if (p === undefined) continue;
      } else {
        p = tail.then(() => runOne(i));
      }
      tails ??= new Map();
      inflight ??= new Set();
      const tracked: Promise<void> = p.finally(() => {
        inflight!.delete(tracked);
        if (tails!.get(key) === tracked) tails!.delete(key);
      });
      tracked.catch(() => {}); // observed by Promise.race/all below; never an unhandled rejection
      tails.set(key, tracked);
      inflight.add(tracked);
      while (inflight.size >= max) await Promise.race(inflight);
    }
    if (inflight !== undefined && inflight.size > 0) await Promise.all(inflight);
  }

  /**
   * Runs one user message's handler here, with this runner's state: its outputs go to `out`, a failure follows
   * the app's error policy. `decoded` is the message when it was decoded already (critical predicate).
   * `watermark` is the watermark the message sees (apps using event time): the one of its position in the step;
   * without it, at a lessor, the one of the last message of its key the step ran (the barrier's, for messages
   * queued behind one), else the step's.
   */
  execute(
    record: IncomingRecord,
    key: string,
    out: StepOutput,
    scheduled: ScheduledMessage | undefined,
    critical: boolean,
    decoded: { message: unknown } | undefined,
    watermark?: number,
  ): void | Promise<void> {
    const tracker = this.tracker;
    if (tracker !== undefined) {
      // A timer this partition fired to itself runs now: the outgoing watermark need not wait for it any more.
      const fired = headerNumber(record.headers, H_FIRED);
      if (fired !== undefined) tracker.release(fired);
    }
    let message: unknown;
    if (decoded !== undefined) message = decoded.message;
    else {
      try {
        if (record.value === null) throw new Error('record has no value (null); functions expect a message');
        message = this.env.fn.serde.deserialize(record.value);
      } catch (e) {
        return this.fail(record, e, 'decode', out);
      }
    }
    const time =
      this.env.app.options.eventTime === undefined
        ? undefined
        : this.timeOf(record, message, watermark ?? this.keyWms.get(key) ?? this.stepWatermark);
    // A sync handler's records go straight to the step's list; a throw cuts it back to `mark`.
    const sent = out.outputs;
    const mark = sent.length;
    const ctx = new MessageContext(this.scope, record, key, scheduled, critical, time, sent);
    const span = this.tracer === undefined ? undefined : this.handlerSpan(record, key);
    ctx.span = span;
    let result: unknown;
    try {
      const handler = this.env.fn.definition.handler;
      result =
        span === undefined
          ? handler(ctx as never, message as never)
          : span.run(() => handler(ctx as never, message as never));
    } catch (e) {
      sent.length = mark;
      this.rollback(ctx, e);
      return this.fail(record, e, 'handler', out);
    }
    if (isThenable(result)) {
      ctx.detach(mark);
      return this.await(ctx, record, out, Promise.resolve(result));
    }
    this.finish(ctx, out);
  }

  /**
   * An async handler's end: finish or fail its message, or, when the watchdog gives it up first, fail it with a
   * HandlerTimeoutError and ignore how it ends later (its context is expired: whatever it does throws).
   */
  private await(
    ctx: MessageContext,
    record: IncomingRecord,
    out: StepOutput,
    p: Promise<unknown>,
  ): Promise<void> {
    const watchdog = this.env.watchdog;
    const options = this.env.app.options;
    if (watchdog === undefined) {
      return p.then(
        () => this.finish(ctx, out),
        (e: unknown) => {
          this.rollback(ctx, e);
          this.fail(record, e, 'handler', out);
        },
      );
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        watchdog.unwatch(watched);
        try {
          fn();
          resolve();
        } catch (e) {
          reject(e);
        }
      };
      const watched = watchdog.watch({
        timeoutMs: options.handlerTimeoutMs,
        slowMs: options.slowHandlerMs,
        logger: this.env.logger,
        where: () => ({
          key: ctx.id,
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
        }),
        expire: (error) =>
          settle(() => {
            ctx.expire(error);
            this.rollback(ctx, error);
            this.fail(record, error, 'timeout', out);
          }),
      });
      p.then(
        () => settle(() => this.finish(ctx, out)),
        (e: unknown) =>
          settle(() => {
            this.rollback(ctx, e);
            this.fail(record, e, 'handler', out);
          }),
      );
    });
  }

  /**
   * A message's event time, and the watermark it sees: `watermark` here, or at a lessee the lessor's when it
   * forwarded it.
   */
  private timeOf(record: IncomingRecord, message: unknown, watermark: number): MessageTime {
    let eventTime = record.timestamp;
    const extractor = this.env.fn.eventTime;
    if (extractor !== undefined) {
      try {
        const t = extractor(message, record);
        if (typeof t === 'number' && Number.isFinite(t)) eventTime = t;
      } catch {
        // the record timestamp
      }
    }
    const forwarded = headerNumber(record.headers, H_WATERMARK);
    return { eventTime, watermark: forwarded ?? watermark };
  }

  private handlerSpan(record: IncomingRecord, key: string): HandlerSpan {
    const env = this.env;
    const where = { app: env.app.name, fn: env.fn.name, group: env.fn.group, worker: env.workerId };
    return new HandlerSpan(this.tracer!, where, record, key, this.stepSpan);
  }

  /** A message succeeded: an async handler's records join the step's (a sync one's are there already). */
  private finish(ctx: MessageContext, out: StepOutput): void {
    ctx.close();
    ctx.span?.end();
    out.processed++;
    const o = ctx.outputs;
    if (o !== out.outputs) for (let i = 0; i < o.length; i++) out.outputs.push(o[i]!);
  }

  private rollback(ctx: MessageContext, error: unknown): void {
    ctx.close();
    ctx.span?.end(error);
    if (ctx.undo !== undefined) this.state?.rollback(ctx.undo);
  }

  /**
   * A record that cannot be processed (`stage` says where: decode, handler, or lease for a forwarded message the
   * lease slot cannot take) follows the app's error policy: dead-lettered with the reason, or the app stops.
   */
  deadLetter(
    record: IncomingRecord,
    error: unknown,
    stage: 'decode' | 'handler' | 'lease' | 'timeout',
    out: StepOutput,
  ): void {
    this.fail(record, error, stage, out);
  }

  private fail(
    record: IncomingRecord,
    error: unknown,
    stage: 'decode' | 'handler' | 'lease' | 'timeout',
    out: StepOutput,
  ): void {
    const err = error instanceof Error ? error : new Error(String(error));
    const where = `${record.topic}/${record.partition}@${record.offset}`;
    const app = this.env.app;
    if (app.options.onError === 'stop') {
      throw new AppStoppedError(
        app.name,
        `app '${app.name}' stopped (onError: 'stop'): function '${this.env.fn.name}' failed to ${stage === 'handler' ? 'handle' : stage === 'decode' ? 'decode' : stage === 'timeout' ? 'handle in time' : 'take (lease)'} record ${where}: ${err.message}. Fix the record or the handler, or set options.onError to 'dead-letter'`,
        { cause: err },
      );
    }
    out.deadLettered++;
    this.env.logger.warn(
      {
        err,
        stage,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        dlq: app.options.deadLetterTopic,
      },
      'record dead-lettered',
    );
    const headers: RecordHeaders = {
      ...record.headers,
      ...metaHeaders(this.env, record),
      [H_ERROR]: Buffer.from(err.message.slice(0, 4000)),
      [H_ERROR_CLASS]: Buffer.from(err.name),
      [H_ERROR_STAGE]: Buffer.from(stage),
      [H_ORIGIN_TOPIC]: Buffer.from(record.topic),
      [H_ORIGIN_PARTITION]: Buffer.from(String(record.partition)),
      [H_ORIGIN_OFFSET]: Buffer.from(String(record.offset)),
      [H_APP]: Buffer.from(app.name),
      [H_FUNCTION]: Buffer.from(this.env.fn.name),
    };
    out.deadLetters.push({
      topic: app.options.deadLetterTopic,
      key: record.key,
      value: fitDeadLetter(record, headers, app.options.deadLetterMaxBytes),
      headers,
    });
  }
}

/**
 * The value of a dead letter: the record's value, cut when the dead letter (value, key and the added headers)
 * would exceed `maxBytes` (the broker would refuse it, and the whole step with it); `dirigo-truncated` then
 * holds the original value's size. Adds the header to `headers`.
 */
function fitDeadLetter(record: IncomingRecord, headers: RecordHeaders, maxBytes: number): Buffer | null {
  const value = record.value;
  if (value === null) return null;
  let overhead = 64 + (record.key?.length ?? 0);
  for (const name in headers) overhead += 8 + name.length + headers[name]!.length;
  const room = maxBytes - overhead - 32;
  if (value.length <= room) return value;
  headers[H_TRUNCATED] = Buffer.from(String(value.length));
  return value.subarray(0, Math.max(0, room));
}
