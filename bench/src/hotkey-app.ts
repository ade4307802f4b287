// The app of the hot-key benchmark, shared by the driver (topic names, the message shapes) and the worker
// processes (the definition): one leasable function keyed by the record key, whose handler burns CPU, merges
// 1 into a mergeable sum and emits one output per message. A critical `report` message emits the key's full
// (merged) sum, so the driver can check that nothing was lost or counted twice across leases.
import { type AppDefinition, defineApp, fn, merge, state } from '@dirigo/core';

/** What a worker process needs to build the app; passed to it as JSON. */
export interface HotkeyAppConfig {
  /** Namespace prefix, fresh per mode (leasing off / on). */
  readonly namespace: string;
  /** Partitions of the input topic (and so of the function). */
  readonly partitions: number;
  readonly latencyTargetMs: number;
  /** CPU burnt per ordinary message, ms. */
  readonly costMs: number;
  /** options.leasing.idleRevokeMs. */
  readonly idleRevokeMs: number;
  /** options.leasing.slots. */
  readonly slots: number;
  /** options.leasing.stepBudgetMs (undefined: the default). */
  readonly stepBudgetMs?: number | undefined;
  /** The worker hosting this copy of the app (stamped on outputs, to count where messages ran). */
  readonly workerId: string;
}

export const HOTKEY_APP = 'hotkey';
export const HOTKEY_FN = 'count';
export const HOT_KEY = 'hot';

export interface HotkeyTopics {
  readonly input: string;
  readonly output: string;
  readonly control: string;
  /** The function's consumer group (it reads the input topic directly). */
  readonly group: string;
  /** The app's lease topic and the lessee group over it. */
  readonly leaseTopic: string;
  readonly leaseGroup: string;
}

export function hotkeyTopics(namespace: string): HotkeyTopics {
  const prefix = `${namespace}.${HOTKEY_APP}`;
  return {
    input: `${namespace}-in`,
    output: `${namespace}-out`,
    control: `${namespace}.control`,
    group: `${prefix}.${HOTKEY_FN}`,
    leaseTopic: `${prefix}.__lease`,
    leaseGroup: `${prefix}.__lessees`,
  };
}

/** An input message: `s` its sequence number, `t` when the driver produced it (ms since epoch). */
export interface WorkMessage {
  readonly s: number;
  readonly t: number;
  /** Set on the one critical message per key the driver sends at the end. */
  readonly report?: true;
}

/** An output: the input's `s`/`t`, where (`w`) and when (`h`) its handler ran; `total` on a report. */
export interface WorkOutput {
  readonly s: number;
  readonly t: number;
  readonly w: string;
  readonly h: number;
  readonly total?: number;
}

/** Burns `ms` of CPU (a busy loop on the monotonic clock): the handler's real work. */
export function burn(ms: number): void {
  if (ms <= 0) return;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

export function hotkeyApp(c: HotkeyAppConfig): AppDefinition {
  const t = hotkeyTopics(c.namespace);
  return defineApp({
    name: HOTKEY_APP,
    options: {
      namespace: c.namespace,
      guarantee: 'exactly_once',
      latencyTargetMs: c.latencyTargetMs,
      defaultPartitions: c.partitions,
      leasing: {
        slots: c.slots,
        idleRevokeMs: c.idleRevokeMs,
        ...(c.stepBudgetMs === undefined ? {} : { stepBudgetMs: c.stepBudgetMs }),
      },
    },
    ingresses: [{ topic: t.input, to: HOTKEY_FN }],
    // Scheduling headers on the outputs, for the bench's `ingestHeaderRewritten` diagnostic.
    egresses: { out: { topic: t.output, schedulingHeaders: true } },
    functions: {
      [HOTKEY_FN]: fn({
        leasable: true,
        state: { total: state.mergeable(merge.sum()) },
        critical: (m: WorkMessage) => m.report === true,
        handler(ctx, m: WorkMessage) {
          if (m.report === true) {
            const out: WorkOutput = {
              s: m.s,
              t: m.t,
              w: c.workerId,
              h: Date.now(),
              total: ctx.state.total.get(),
            };
            ctx.emit('out', ctx.key, out);
            return;
          }
          burn(c.costMs);
          ctx.state.total.merge(1);
          const out: WorkOutput = { s: m.s, t: m.t, w: c.workerId, h: Date.now() };
          ctx.emit('out', ctx.key, out);
        },
      }),
    },
  });
}
