// Rate shapes: how many events per second of event time, over time. Event i happens when the integral of the
// rate since the start reaches i, so a shape fixes every event's time exactly (no randomness, no drift).
import { ConfigError } from '@dirigo/core';

/**
 * Events per second of event time:
 * - `constant`: `perSec` throughout (events every 1000/perSec ms);
 * - `square`: `high` for half a period, then `low` for the other half, and again (starts high);
 * - `sine`: `low + (high - low) * (1 - cos(2πt / periodMs)) / 2`: starts at `low`, peaks at `high` half a
 *   period later.
 */
export type RateShape =
  | { readonly shape: 'constant'; readonly perSec: number }
  | { readonly shape: 'square'; readonly low: number; readonly high: number; readonly periodMs: number }
  | { readonly shape: 'sine'; readonly low: number; readonly high: number; readonly periodMs: number };

/** Checks a rate shape; throws `ConfigError` naming the field (`<field>.perSec`, `<field>.low`, ...). */
export function validateRate(rate: unknown, field = 'rate'): RateShape {
  if (typeof rate !== 'object' || rate === null)
    throw new ConfigError(field, "must be { shape: 'constant' | 'square' | 'sine', ... }");
  const r = rate as Record<string, unknown>;
  const known = (keys: readonly string[]) => {
    for (const key of Object.keys(r))
      if (!keys.includes(key))
        throw new ConfigError(`${field}.${key}`, `unknown field; known are ${keys.join(', ')}`);
  };
  const positive = (key: string, allowZero = false): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
      throw new ConfigError(
        `${field}.${key}`,
        `${String(v)} is not a ${allowZero ? 'non-negative' : 'positive'} number`,
      );
    return v;
  };
  switch (r.shape) {
    case 'constant':
      known(['shape', 'perSec']);
      return { shape: 'constant', perSec: positive('perSec') };
    case 'square':
    case 'sine': {
      known(['shape', 'low', 'high', 'periodMs']);
      const low = positive('low', true);
      const high = positive('high');
      if (low > high) throw new ConfigError(`${field}.low`, `${low} is above high (${high})`);
      return { shape: r.shape, low, high, periodMs: positive('periodMs') };
    }
    default:
      throw new ConfigError(`${field}.shape`, `${String(r.shape)} is not 'constant', 'square' or 'sine'`);
  }
}

/** Events in one period of a periodic shape. */
const eventsPerPeriod = (low: number, high: number, periodMs: number): number =>
  ((low + high) / 2) * (periodMs / 1000);

/**
 * The offset of event `i` (0-based) from the start, in ms of event time (not rounded): the time at which
 * `i` events have happened under the shape.
 */
export function eventOffsetMs(rate: RateShape, i: number): number {
  if (rate.shape === 'constant') return (i * 1000) / rate.perSec;
  const { low, high, periodMs } = rate;
  const perPeriod = eventsPerPeriod(low, high, periodMs);
  const period = Math.floor(i / perPeriod);
  // Events into the current period, kept inside [0, perPeriod) against rounding.
  const into = Math.min(Math.max(i - period * perPeriod, 0), perPeriod * (1 - Number.EPSILON));
  const start = period * periodMs;
  if (rate.shape === 'square') {
    const highEvents = (high * periodMs) / 2000;
    if (into < highEvents) return start + (into * 1000) / high;
    return start + periodMs / 2 + ((into - highEvents) * 1000) / low;
  }
  return start + sineInverse(low, high, periodMs, into);
}

/** Solves N(t) = n for t in [0, periodMs], N being the events of a sine shape by time t (Newton + bisection). */
function sineInverse(low: number, high: number, periodMs: number, n: number): number {
  const mid = (low + high) / 2;
  const amp = (high - low) / 2;
  const w = (2 * Math.PI) / periodMs;
  const count = (t: number) => (mid * t - (amp / w) * Math.sin(w * t)) / 1000;
  const rate = (t: number) => (mid - amp * Math.cos(w * t)) / 1000; // events per ms
  let lo = 0;
  let hi = periodMs;
  let t = Math.min((n * 1000) / mid, periodMs);
  for (let k = 0; k < 100; k++) {
    const f = count(t) - n;
    if (Math.abs(f) < 1e-9) break;
    if (f > 0) hi = t;
    else lo = t;
    const d = rate(t);
    let next = d > 0 ? t - f / d : Number.NaN;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (hi - lo < 1e-9) break;
    t = next;
  }
  return t;
}
