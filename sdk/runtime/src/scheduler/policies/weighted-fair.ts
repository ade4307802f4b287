// The `weighted-fair` policy: each app gets a weighted share of the worker's busy time (stride scheduling on
// virtual time), FIFO within an app, so a best-effort batch app is never starved.
import { ConfigError, type PriorityClass } from '@dirigo/core';
import type {
  CompletionInfo,
  PolicyOptions,
  QueueView,
  ScheduledMessage,
  SchedulingPolicy,
  WorkerView,
} from '../types.ts';
import { checkKnown, positiveNumber } from './shared.ts';

/** Options of the `weighted-fair` policy. */
export interface WeightedFairPolicyOptions {
  /** Weight per priority class. Default { critical: 8, high: 4, normal: 2, batch: 1 }. */
  readonly weights?: Partial<Record<PriorityClass, number>>;
  /** Weight per app name, overriding its class weight. */
  readonly appWeights?: Readonly<Record<string, number>>;
  /** Least service charged per message, ms (measured costs on a ms clock are often 0). Default 0.001. */
  readonly minChargeMs?: number;
}

/** Default weight of each class. */
export const DEFAULT_CLASS_WEIGHTS: Readonly<Record<PriorityClass, number>> = Object.freeze({
  critical: 8,
  high: 4,
  normal: 2,
  batch: 1,
});

function weightMap(options: PolicyOptions, field: string): Record<string, number> {
  const v = options[field];
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ConfigError(`scheduler.options.${field}`, 'expected an object of positive numbers');
  }
  const out: Record<string, number> = {};
  for (const [k, w] of Object.entries(v)) {
    if (typeof w !== 'number' || !(w > 0) || !Number.isFinite(w)) {
      throw new ConfigError(
        `scheduler.options.${field}.${k}`,
        `expected a positive number, got ${String(w)}`,
      );
    }
    out[k] = w;
  }
  return out;
}

/**
 * `weighted-fair`: every app has a virtual time, its received busy time (the measured cost of its completed
 * messages) divided by its weight. Dispatch picks, among apps with an eligible head, the one with the least
 * virtual time, and within it the oldest head. An app that was idle restarts at the system virtual time, so it
 * cannot hoard credit. Admits everything.
 *
 * Starvation bound: over any interval in which an app stays backlogged it receives at least
 * weight / (sum of the backlogged apps' weights) of the busy time, minus one message cost per app; a batch
 * app (weight 1 by default) is never starved. Charges land at completion, so with async handlers an app may
 * get up to `maxInFlight` dispatches ahead of its share before the charges catch up.
 *
 * @example createPolicy('weighted-fair', { weights: { batch: 2 } })
 */
export function weightedFairPolicy(options: PolicyOptions = {}): SchedulingPolicy {
  checkKnown(options, ['weights', 'appWeights', 'minChargeMs']);
  const classWeights: Record<string, number> = { ...DEFAULT_CLASS_WEIGHTS, ...weightMap(options, 'weights') };
  const appWeights = weightMap(options, 'appWeights');
  const minCharge = positiveNumber(options, 'minChargeMs', 0.001);
  const vt = new Map<string, number>();
  let systemV = 0;

  const weightOf = (app: string, priority: PriorityClass): number =>
    appWeights[app] ?? classWeights[priority] ?? DEFAULT_CLASS_WEIGHTS.normal;

  return {
    name: 'weighted-fair',
    pickNext(view: WorkerView): QueueView | undefined {
      const qs = view.queues;
      let best: QueueView | undefined;
      let bestV = Number.POSITIVE_INFINITY;
      let bestAt = Number.POSITIVE_INFINITY;
      for (let i = 0; i < qs.length; i++) {
        const q = qs[i]!;
        const h = q.head;
        if (h === undefined) continue;
        let v = vt.get(q.app);
        if (v === undefined || v < systemV) {
          v = systemV;
          vt.set(q.app, v);
        }
        if (v < bestV || (v === bestV && h.enqueuedAt < bestAt)) {
          best = q;
          bestV = v;
          bestAt = h.enqueuedAt;
        }
      }
      if (best !== undefined && bestV > systemV) systemV = bestV;
      return best;
    },
    onComplete(msg: ScheduledMessage, info: CompletionInfo): void {
      const charge = Math.max(info.costMs, minCharge) / weightOf(msg.app, msg.priority);
      vt.set(msg.app, (vt.get(msg.app) ?? systemV) + charge);
    },
  };
}
