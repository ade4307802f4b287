// The two apps of the isolation benchmark, shared by the driver (topic names) and the worker processes (the
// definitions): a latency-critical app with a cheap handler and a batch app with an expensive one. Both read
// their input topic directly (record key = actor key) and emit the message, stamped with the
// handler's completion time, to their egress.
import { type AppDefinition, defineApp, fn } from '@dirigo/core';

/** What a worker process needs to build the apps; passed to it as JSON. */
export interface IsolationAppsConfig {
  /** Namespace prefix, fresh per policy run. */
  readonly namespace: string;
  readonly guarantee: 'at_least_once' | 'exactly_once';
  readonly critical: { readonly latencyTargetMs: number; readonly costMs: number };
  readonly batch: { readonly latencyTargetMs: number; readonly costMs: number };
}

export interface IsolationTopics {
  readonly criticalIn: string;
  readonly criticalOut: string;
  readonly batchIn: string;
  readonly batchOut: string;
}

export function isolationTopics(namespace: string): IsolationTopics {
  return {
    criticalIn: `${namespace}-critical-in`,
    criticalOut: `${namespace}-critical-out`,
    batchIn: `${namespace}-batch-in`,
    batchOut: `${namespace}-batch-out`,
  };
}

/** Burns `ms` of CPU (a busy loop on the monotonic clock): the handler's real work. */
export function burn(ms: number): void {
  if (ms <= 0) return;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/**
 * The message with `h`: when its handler finished (ms since epoch). The driver splits each output's latency at
 * `h`: before (delivery to the worker, queueing, the handler) and after (the rest of the step until the output
 * record is encoded into a produce request, which sets its timestamp).
 */
function stamp(m: unknown): unknown {
  return { ...(m as Record<string, unknown>), h: Date.now() };
}

export function isolationApps(c: IsolationAppsConfig): AppDefinition[] {
  const t = isolationTopics(c.namespace);
  const critical = defineApp({
    name: 'critical',
    options: {
      namespace: c.namespace,
      guarantee: c.guarantee,
      latencyTargetMs: c.critical.latencyTargetMs,
      priority: 'critical',
    },
    ingresses: [{ topic: t.criticalIn, to: 'handle' }],
    // The bench reads each output's deadline and ingest time from its scheduling headers.
    egresses: { out: { topic: t.criticalOut, schedulingHeaders: true } },
    functions: {
      handle: fn({
        handler(ctx, m: unknown) {
          burn(c.critical.costMs);
          ctx.emit('out', ctx.key, stamp(m));
        },
      }),
    },
  });
  const batch = defineApp({
    name: 'batch',
    options: {
      namespace: c.namespace,
      guarantee: c.guarantee,
      latencyTargetMs: c.batch.latencyTargetMs,
      priority: 'batch',
    },
    ingresses: [{ topic: t.batchIn, to: 'crunch' }],
    egresses: { out: { topic: t.batchOut, schedulingHeaders: true } },
    functions: {
      crunch: fn({
        handler(ctx, m: unknown) {
          burn(c.batch.costMs);
          ctx.emit('out', ctx.key, stamp(m));
        },
      }),
    },
  });
  return [critical, batch];
}
