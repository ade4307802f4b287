// `windowed`: an event-time windowed aggregation as an ordinary (by default leasable) function of an app,
// built only on the public API of @dirigo/core: mergeable state, event-time timers and critical messages.
//
// Per key, the state is the windows' partial values (a `mapOf` keyed by window start, or a sorted list of
// sessions), so a hot key's ordinary messages can run at lessees. A window's close is an event-time timer at
// end + grace sent to the same key as a CRITICAL message: it runs at the key's lessor after every lessee's
// partial is merged, so it sees the window's complete value, emits it once and forgets it. Copies of a key do
// not see each other's `scheduled` set, so a close may be scheduled more than once: each close emits every
// window due by the watermark and removes it, so a second close of the same window finds nothing (and the
// `closed` set, complete at the lessor, is checked too).
import {
  ConfigError,
  type Context,
  type FunctionDefinition,
  type Mergeable,
  type MergeableState,
  type MessageOrigin,
  merge,
  type Serde,
  type StateSpec,
  state,
} from '@dirigo/core';
import { type Session, sessionMerge } from './sessions.ts';
import {
  checkWindowSpec,
  type FixedWindowSpec,
  type SessionWindows,
  type WindowSpec,
  windowStarts,
} from './spec.ts';

/** A window of a key and its value, as handed to `onClose` and `onUpdate`. */
export interface WindowResult<V> {
  /** The actor key (`ctx.key`). */
  readonly key: string;
  /** Event time, ms since epoch, inclusive. */
  readonly start: number;
  /** Event time, exclusive. */
  readonly end: number;
  readonly value: V;
}

/**
 * The message a window close is: sent by `windowed` to its own key, with `atEventTime` (the timer) and
 * `critical`. Its record timestamp (and so the event time of what `onClose` emits or sends) is `at`.
 */
export interface WindowClose {
  readonly 'dirigo-window': 'close';
  /** The event time the close was set for (a window end + grace). */
  readonly at: number;
}

/** True for the close messages `windowed` sends itself. */
export function isWindowClose(m: unknown): m is WindowClose {
  return m !== null && typeof m === 'object' && (m as Record<string, unknown>)['dirigo-window'] === 'close';
}

/**
 * Test-only: break the library on purpose, so that tests can show they would notice. Never set in an app.
 * - `closeNotCritical`: closes are ordinary messages; at a lessee (or at the lessor between barriers) a close
 *   sees only a partial value and cannot forget it;
 * - `ignoreWatermark`: no timers and no late records: a message whose event time is at or past the end of a
 *   window of this copy closes it at once (grace ignored).
 */
export interface WindowFaults {
  readonly closeNotCritical?: boolean;
  readonly ignoreWatermark?: boolean;
}

/** What a late record becomes (besides being counted in the `late` state cell). */
export type LatePolicy = 'drop' | { readonly egress: string };

/** Options of `windowed`. */
export interface WindowedOptions<In, V> {
  /** `tumbling(...)`, `hopping(...)` or `session(...)`. */
  readonly window: WindowSpec;
  /** How the values of one window combine (e.g. `merge.count()`, `merge.max()`, `merge.custom(...)`). */
  readonly merge: Mergeable<V>;
  /** The message's contribution (delta) to each of its windows; called once per message that is not late. */
  value(message: In, ctx: Context): V;
  /**
   * A window is complete: emit or send its final result. Runs once per window, at the key's lessor, in a
   * critical message (the close) whose event time is the close's time (window end + grace), which is also the
   * timestamp of everything it emits or sends. Several windows due at once are handed over in start order.
   */
  onClose(ctx: Context, window: WindowResult<V>): void;
  /**
   * Optional early results: runs after every message that is not late, once per window the message went into,
   * with THIS COPY's value of the window: at a lessee its partial since its last sync, at the lessor (between
   * barriers) the lessor's value without the lessees' current partials. Only `onClose` sees complete values.
   */
  onUpdate?(ctx: Context, window: WindowResult<V>): void;
  /**
   * Records that come after all their windows closed (window end + grace <= the watermark when they arrive)
   * are counted in the key's `late` cell and dropped (`'drop'`, the default) or emitted unchanged to this
   * egress with the key as record key (`{ egress }`).
   */
  readonly late?: LatePolicy;
  /** Whether a hot key's ordinary messages may run at lessees (see leasing). Default true. */
  readonly leasable?: boolean;
  /** The event time of a message (default: the record timestamp). Not called for closes. */
  eventTime?(message: In, origin: MessageOrigin): number;
  /** Message serde. It must also encode `WindowClose` messages (JSON, the default, does). */
  readonly message?: Serde<In | WindowClose>;
  /** Functions `onClose` / `onUpdate` send to (the function's own closes need not be listed). */
  readonly sends?: readonly string[];
  /** Partitions of the function's topic (see `FunctionDefinition.partitions`). */
  readonly partitions?: number;
  /** Test-only faults; see `WindowFaults`. */
  readonly testFaults?: WindowFaults;
}

/** The state cells `windowed` declares (read them with `driver.state(app, fn, key, name)`). */
export const WINDOW_STATE = {
  /** Fixed windows: `{ [start]: value }`, the windows not yet emitted. */
  windows: 'windows',
  /** Session windows: the sessions not yet emitted, sorted by start. */
  sessions: 'sessions',
  /** Event times closes were scheduled for and that have not fired yet (as far as this copy knows). */
  scheduled: 'scheduled',
  /** `{ [start]: end }` of windows emitted, kept until the watermark is a window length (or gap) past. */
  closed: 'closed',
  /** Count of late records. */
  late: 'late',
} as const;

const fail = (field: string, message: string): never => {
  throw new ConfigError(`windowed.${field}`, message);
};

function checkOptions<In, V>(o: WindowedOptions<In, V>): WindowSpec {
  if (o === null || typeof o !== 'object') fail('options', 'must be an object');
  const spec = checkWindowSpec('windowed.window', o.window);
  const m = o.merge as Partial<Mergeable<V>> | undefined;
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.combine !== 'function' ||
    typeof m.identity !== 'function'
  )
    fail('merge', 'must be a Mergeable, e.g. merge.count() or merge.max()');
  if (typeof o.value !== 'function') fail('value', 'must be a function (message, ctx) => the message delta');
  if (typeof o.onClose !== 'function') fail('onClose', 'must be a function (ctx, window) => void');
  if (o.onUpdate !== undefined && typeof o.onUpdate !== 'function')
    fail('onUpdate', 'must be a function (ctx, window) => void');
  const late = o.late;
  if (
    late !== undefined &&
    late !== 'drop' &&
    !(typeof late === 'object' && late !== null && typeof late.egress === 'string' && late.egress !== '')
  )
    fail('late', "must be 'drop' or { egress: name }");
  if (o.leasable !== undefined && typeof o.leasable !== 'boolean') fail('leasable', 'must be a boolean');
  return spec;
}

type Cells = Record<string, MergeableState<unknown>>;
const cell = <T>(ctx: Context, name: string): MergeableState<T> =>
  (ctx.state as unknown as Cells)[name] as MergeableState<T>;

/**
 * An event-time windowed aggregation as a function definition: put it in an app's `functions`. Each message
 * is assigned to its key's windows by its event time and merged into their values with `merge`; each window is
 * emitted once with `onClose` when the watermark reaches its end + grace. The app needs `options.eventTime`.
 *
 * @example
 * functions: {
 *   clicksPerMinute: windowed({
 *     window: tumbling({ sizeMs: 60_000, graceMs: 5_000 }),
 *     merge: merge.count(),
 *     value: () => 1,
 *     onClose: (ctx, w) => ctx.emit('counts', w.key, { page: w.key, minute: w.start, clicks: w.value }),
 *   }),
 * }
 */
export function windowed<In, V>(options: WindowedOptions<In, V>): FunctionDefinition<In | WindowClose> {
  const spec = checkOptions(options);
  const o = options;
  const faults = o.testFaults ?? {};
  const closeCritical = faults.closeNotCritical !== true;
  const ignoreWm = faults.ignoreWatermark === true;
  const lateEgress = typeof o.late === 'object' ? o.late.egress : undefined;
  const leasable = o.leasable ?? true;
  const grace = spec.graceMs;
  const userTime = o.eventTime;

  const sendClose = (ctx: Context, at: number, timer: boolean): void => {
    const close: WindowClose = { 'dirigo-window': 'close', at };
    ctx.send(ctx.fn, ctx.key, close, {
      ...(timer ? { atEventTime: at } : {}),
      ...(closeCritical ? { critical: true } : {}),
    });
  };
  const onLate = (ctx: Context, m: In): void => {
    cell<number>(ctx, WINDOW_STATE.late).merge(1);
    if (lateEgress !== undefined) ctx.emit(lateEgress, ctx.key, m);
  };
  /** Forgets closed windows a window length (or gap) past the watermark. */
  const pruneClosed = (closed: Record<string, number | null>, wm: number, retain: number) => {
    const kept = Object.entries(closed).filter(([, end]) => end !== null && end + grace + retain > wm);
    return kept.length === Object.keys(closed).length ? undefined : Object.fromEntries(kept);
  };

  const handler = spec.kind === 'session' ? sessionHandler(spec) : fixedHandler(spec);

  function fixedHandler(w: FixedWindowSpec) {
    const size = w.sizeMs;
    const message = (ctx: Context, m: In): void => {
      const t = ctx.eventTime;
      const wm = ctx.watermark;
      const starts = windowStarts(w, t);
      const open = ignoreWm ? starts : starts.filter((s) => s + size + grace > wm);
      if (open.length === 0) {
        onLate(ctx, m);
        return;
      }
      const delta = o.value(m, ctx);
      const windows = cell<Record<string, V>>(ctx, WINDOW_STATE.windows);
      windows.merge(Object.fromEntries(open.map((s) => [String(s), delta])));
      if (ignoreWm) {
        const ended = Object.keys(windows.get()).some((s) => Number(s) + size <= t);
        if (ended) sendClose(ctx, t, false);
      } else {
        const scheduled = cell<number[]>(ctx, WINDOW_STATE.scheduled);
        const known = scheduled.get();
        const add: number[] = [];
        for (const s of open) {
          const due = s + size + grace;
          if (!known.includes(due)) {
            sendClose(ctx, due, true);
            add.push(due);
          }
        }
        if (add.length > 0) scheduled.merge(add);
      }
      if (o.onUpdate !== undefined) {
        const all = windows.get();
        for (const s of open)
          o.onUpdate(ctx, { key: ctx.key, start: s, end: s + size, value: all[String(s)] as V });
      }
    };
    const close = (ctx: Context, c: WindowClose): void => {
      const wm = ctx.watermark;
      const horizon = ignoreWm ? c.at : Math.max(wm, c.at);
      const isDue = (s: number) => (ignoreWm ? s + size <= horizon : s + size + grace <= horizon);
      const windows = cell<Record<string, V>>(ctx, WINDOW_STATE.windows);
      const all = windows.get();
      const starts = Object.keys(all)
        .map(Number)
        .sort((a, b) => a - b);
      const closing = starts.filter(isDue);
      if (!closeCritical) {
        // Fault: an ordinary message may not set or clear, so it emits what this copy has and forgets nothing.
        for (const s of closing)
          o.onClose(ctx, { key: ctx.key, start: s, end: s + size, value: all[String(s)] as V });
        return;
      }
      const closedCell = cell<Record<string, number | null>>(ctx, WINDOW_STATE.closed);
      const closed = closedCell.get();
      for (const s of closing) {
        if (Object.hasOwn(closed, String(s))) continue;
        o.onClose(ctx, { key: ctx.key, start: s, end: s + size, value: all[String(s)] as V });
      }
      const rest = starts.filter((s) => !isDue(s));
      if (closing.length > 0) {
        windows.set(Object.fromEntries(rest.map((s) => [String(s), all[String(s)] as V])));
        closedCell.set({ ...closed, ...Object.fromEntries(closing.map((s) => [String(s), s + size])) });
      }
      const pruned = pruneClosed(closedCell.get(), wm, size);
      if (pruned !== undefined) closedCell.set(pruned);
      if (ignoreWm) return;
      // Closes that fired are done; every window still open keeps a pending close (normally already there).
      const scheduled = cell<number[]>(ctx, WINDOW_STATE.scheduled);
      const before = scheduled.get();
      const pending = before.filter((d) => d > wm);
      for (const s of rest) {
        const due = s + size + grace;
        if (!pending.includes(due)) {
          sendClose(ctx, due, true);
          pending.push(due);
        }
      }
      if (pending.length !== before.length || pending.some((d, i) => d !== before[i]))
        scheduled.set(pending.sort((a, b) => a - b));
    };
    return { message, close };
  }

  function sessionHandler(w: SessionWindows) {
    const gap = w.gapMs;
    const message = (ctx: Context, m: In): void => {
      const t = ctx.eventTime;
      const wm = ctx.watermark;
      if (!ignoreWm && t + gap + grace <= wm) {
        onLate(ctx, m);
        return;
      }
      const delta = o.value(m, ctx);
      const sessions = cell<Session<V>[]>(ctx, WINDOW_STATE.sessions);
      sessions.merge([{ start: t, end: t + gap, value: delta }]);
      const list = sessions.get();
      const mine = list.find((s) => s.start <= t && t < s.end)!;
      if (ignoreWm) {
        if (list.some((s) => s.end <= t)) sendClose(ctx, t, false);
      } else {
        // One pending close at or before this session's end + grace is enough: a close that finds the session
        // still open schedules the next one (it sees the merged state).
        const need = mine.end + grace;
        const scheduled = cell<number[]>(ctx, WINDOW_STATE.scheduled);
        if (!scheduled.get().some((d) => d > wm && d <= need)) {
          sendClose(ctx, need, true);
          scheduled.merge([need]);
        }
      }
      o.onUpdate?.(ctx, { key: ctx.key, start: mine.start, end: mine.end, value: mine.value });
    };
    const close = (ctx: Context, c: WindowClose): void => {
      const wm = ctx.watermark;
      const horizon = ignoreWm ? c.at : Math.max(wm, c.at);
      const isDue = (s: Session<V>) => (ignoreWm ? s.end <= horizon : s.end + grace <= horizon);
      const sessions = cell<Session<V>[]>(ctx, WINDOW_STATE.sessions);
      const list = sessions.get();
      const closing = list.filter(isDue);
      if (!closeCritical) {
        for (const s of closing) o.onClose(ctx, { key: ctx.key, start: s.start, end: s.end, value: s.value });
        return;
      }
      const closedCell = cell<Record<string, number | null>>(ctx, WINDOW_STATE.closed);
      const closed = closedCell.get();
      for (const s of closing) {
        if (Object.hasOwn(closed, String(s.start))) continue;
        o.onClose(ctx, { key: ctx.key, start: s.start, end: s.end, value: s.value });
      }
      const rest = list.filter((s) => !isDue(s));
      if (closing.length > 0) {
        sessions.set(rest);
        closedCell.set({ ...closed, ...Object.fromEntries(closing.map((s) => [String(s.start), s.end])) });
      }
      const pruned = pruneClosed(closedCell.get(), wm, gap);
      if (pruned !== undefined) closedCell.set(pruned);
      if (ignoreWm) return;
      const scheduled = cell<number[]>(ctx, WINDOW_STATE.scheduled);
      const before = scheduled.get();
      const pending = before.filter((d) => d > wm);
      if (rest.length > 0) {
        const need = Math.min(...rest.map((s) => s.end)) + grace;
        if (!pending.some((d) => d <= need)) {
          sendClose(ctx, need, true);
          pending.push(need);
        }
      }
      if (pending.length !== before.length || pending.some((d, i) => d !== before[i]))
        scheduled.set(pending.sort((a, b) => a - b));
    };
    return { message, close };
  }

  const states: Record<string, StateSpec> =
    spec.kind === 'session'
      ? { [WINDOW_STATE.sessions]: state.mergeable(sessionMerge(o.merge)) }
      : { [WINDOW_STATE.windows]: state.mergeable(merge.mapOf(o.merge)) };
  states[WINDOW_STATE.scheduled] = state.mergeable(merge.setUnion<number>());
  states[WINDOW_STATE.closed] = state.mergeable(merge.mapOf(merge.max()));
  states[WINDOW_STATE.late] = state.mergeable(merge.count());

  const definition: FunctionDefinition<In | WindowClose> = {
    state: states,
    leasable,
    ...(o.message === undefined ? {} : { message: o.message }),
    ...(o.partitions === undefined ? {} : { partitions: o.partitions }),
    ...(o.sends === undefined ? {} : { sends: o.sends }),
    critical: (m) => closeCritical && isWindowClose(m),
    eventTime(m, origin) {
      if (isWindowClose(m) || userTime === undefined) return origin.timestamp;
      return userTime(m as In, origin);
    },
    handler(ctx, m) {
      if (isWindowClose(m)) handler.close(ctx, m);
      else handler.message(ctx, m as In);
    },
  };
  return definition;
}
