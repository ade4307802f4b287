// Time is injected: the worker reads `Clock.now()`; the test driver passes a manual clock.

/** A source of "now" in ms since the epoch. */
export interface Clock {
  now(): number;
}

/** Wall-clock time. */
export const systemClock: Clock = { now: () => Date.now() };
