// Window specs: tumbling, hopping and session windows over event time, checked once when created, and the
// assignment of an event time to its fixed windows.
import { ConfigError } from '@dirigo/core';

/** Fixed-size windows that do not overlap: `[k·sizeMs, (k+1)·sizeMs)` (epoch-aligned). */
export interface TumblingWindows {
  readonly kind: 'tumbling';
  readonly sizeMs: number;
  /** A window closes when the watermark reaches its end + graceMs. */
  readonly graceMs: number;
}

/**
 * Fixed-size windows starting every `slideMs` (epoch-aligned), so each event time is in `sizeMs / slideMs`
 * windows (rounded up).
 */
export interface HoppingWindows {
  readonly kind: 'hopping';
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly graceMs: number;
}

/**
 * Per-key sessions: each record opens `[t, t + gapMs)`, and overlapping intervals merge, so a session ends
 * `gapMs` after its last record and two records further apart than `gapMs` (with nothing between) are in
 * different sessions.
 */
export interface SessionWindows {
  readonly kind: 'session';
  readonly gapMs: number;
  readonly graceMs: number;
}

/** A window spec, created by `tumbling`, `hopping` or `session`. */
export type WindowSpec = TumblingWindows | HoppingWindows | SessionWindows;

/** The fixed-window specs (tumbling and hopping). */
export type FixedWindowSpec = TumblingWindows | HoppingWindows;

const positiveInt = (field: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new ConfigError(field, `${String(v)} must be a positive integer number of ms`);
  return v;
};

const grace = (field: string, v: unknown): number => {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ConfigError(field, `${String(v)} must be a non-negative integer number of ms`);
  return v;
};

/**
 * Tumbling windows of `sizeMs`, aligned to the epoch. `graceMs` (default 0): how long after its end (in event
 * time, as measured by the watermark) a window still takes records before it is emitted.
 *
 * @example
 * tumbling({ sizeMs: 60_000, graceMs: 5_000 }) // one window per minute, emitted when the watermark passes :05
 */
export function tumbling(o: { sizeMs: number; graceMs?: number }): TumblingWindows {
  return Object.freeze({
    kind: 'tumbling',
    sizeMs: positiveInt('tumbling.sizeMs', o?.sizeMs),
    graceMs: grace('tumbling.graceMs', o?.graceMs),
  });
}

/**
 * Hopping (sliding) windows of `sizeMs` starting every `slideMs` (at most `sizeMs`), aligned to the epoch.
 *
 * @example
 * hopping({ sizeMs: 10_000, slideMs: 2_000 }) // each record counts in 5 windows
 */
export function hopping(o: { sizeMs: number; slideMs: number; graceMs?: number }): HoppingWindows {
  const sizeMs = positiveInt('hopping.sizeMs', o?.sizeMs);
  const slideMs = positiveInt('hopping.slideMs', o?.slideMs);
  if (slideMs > sizeMs)
    throw new ConfigError(
      'hopping.slideMs',
      `${slideMs} is above sizeMs (${sizeMs}); windows would leave gaps`,
    );
  return Object.freeze({ kind: 'hopping', sizeMs, slideMs, graceMs: grace('hopping.graceMs', o?.graceMs) });
}

/**
 * Session windows: a key's records closer than `gapMs` to each other are one session, `[first, last + gapMs)`.
 *
 * @example
 * session({ gapMs: 30 * 60_000 }) // a session ends after 30 minutes without a record
 */
export function session(o: { gapMs: number; graceMs?: number }): SessionWindows {
  return Object.freeze({
    kind: 'session',
    gapMs: positiveInt('session.gapMs', o?.gapMs),
    graceMs: grace('session.graceMs', o?.graceMs),
  });
}

/** The slide of fixed windows (the size for tumbling ones). */
export const slideOf = (spec: FixedWindowSpec): number =>
  spec.kind === 'hopping' ? spec.slideMs : spec.sizeMs;

/** The starts of the fixed windows that contain event time `t`, ascending. */
export function windowStarts(spec: FixedWindowSpec, t: number): number[] {
  const slide = slideOf(spec);
  const last = Math.floor(t / slide) * slide;
  const out: number[] = [];
  for (let s = last; s > t - spec.sizeMs; s -= slide) out.push(s);
  return out.reverse();
}

/** Checks that `spec` is a window spec made by `tumbling`, `hopping` or `session`; returns it. */
export function checkWindowSpec(field: string, spec: unknown): WindowSpec {
  const s = spec as Partial<WindowSpec> | undefined;
  const kind = s?.kind;
  if (kind === 'tumbling') return tumbling(s as TumblingWindows);
  if (kind === 'hopping') return hopping(s as HoppingWindows);
  if (kind === 'session') return session(s as SessionWindows);
  throw new ConfigError(
    field,
    'must be a window spec: tumbling({ sizeMs }), hopping({ sizeMs, slideMs }) or session({ gapMs })',
  );
}
