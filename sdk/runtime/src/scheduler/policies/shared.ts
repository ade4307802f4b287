// Helpers shared by the built-in policies: option parsing with field-named errors, class ranks, and the FIFO
// pick that the dispatcher also uses as its fallback.
import { ConfigError, type PriorityClass } from '@dirigo/core';
import type { PolicyOptions, QueueView, WorkerView } from '../types.ts';

/** Rank of each class, lower runs first. */
export const CLASS_RANK: Readonly<Record<PriorityClass, number>> = Object.freeze({
  critical: 0,
  high: 1,
  normal: 2,
  batch: 3,
});

/** Rejects options the policy does not know, naming the first unknown field. */
export function checkKnown(options: PolicyOptions, known: readonly string[]): void {
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) {
      throw new ConfigError(
        `scheduler.options.${k}`,
        `unknown option; known options are: ${known.length === 0 ? '(none)' : known.join(', ')}`,
      );
    }
  }
}

/** Reads an optional positive number (Infinity allowed when `allowInfinity`). */
export function positiveNumber(
  options: PolicyOptions,
  field: string,
  fallback: number,
  allowInfinity = false,
): number {
  const v = options[field];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v <= 0 || (!allowInfinity && !Number.isFinite(v))) {
    throw new ConfigError(
      `scheduler.options.${field}`,
      `expected a positive number${allowInfinity ? ' (or Infinity)' : ''}, got ${String(v)}`,
    );
  }
  return v;
}

/**
 * The queue whose eligible head was enqueued first (ties: the earlier queue in `view.queues`), or undefined
 * when no queue has an eligible head.
 */
export function pickOldest(view: WorkerView): QueueView | undefined {
  const qs = view.queues;
  let best: QueueView | undefined;
  let bestAt = Number.POSITIVE_INFINITY;
  for (let i = 0; i < qs.length; i++) {
    const q = qs[i]!;
    const h = q.head;
    if (h !== undefined && h.enqueuedAt < bestAt) {
      best = q;
      bestAt = h.enqueuedAt;
    }
  }
  return best;
}

/** A deadline usable for ordering: non-finite deadlines become `enqueuedAt + fallbackMs`. */
export function effectiveDeadline(deadline: number, enqueuedAt: number, fallbackMs: number): number {
  return Number.isFinite(deadline) ? deadline : enqueuedAt + fallbackMs;
}

/**
 * Two different indexes out of `n` (n >= 2) for the `turn`-th draw of "power of two choices": every pair comes
 * up as turns go by, deterministically (no randomness in scheduling decisions).
 */
export function twoChoices(n: number, turn: number): [number, number] {
  const i = turn % n;
  if (n < 2) return [i, i];
  const j = (i + 1 + (Math.floor(turn / n) % (n - 1))) % n;
  return [i, j];
}

/** The queue whose eligible head has the earliest deadline (ties: oldest `enqueuedAt`); `edf`'s dispatch. */
export function pickEarliestDeadline(view: WorkerView, missingDeadlineMs: number): QueueView | undefined {
  const qs = view.queues;
  let best: QueueView | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  let bestAt = Number.POSITIVE_INFINITY;
  for (let i = 0; i < qs.length; i++) {
    const q = qs[i]!;
    const h = q.head;
    if (h === undefined) continue;
    const d = effectiveDeadline(h.deadline, h.enqueuedAt, missingDeadlineMs);
    if (best === undefined || d < bestD || (d === bestD && h.enqueuedAt < bestAt)) {
      best = q;
      bestD = d;
      bestAt = h.enqueuedAt;
    }
  }
  return best;
}
