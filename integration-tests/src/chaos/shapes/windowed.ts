// Chaos shape `windowed`: an event-time app. Events `{ seq, t, v }` keyed by one of WIN.keys keys are read
// directly from the ingress by a `windowed` function (tumbling windows of WIN.sizeMs on the event time `t`, a sum
// of `v`), which emits each window's sum once, when the partition's watermark passes the window's end. The close
// is an event-time timer the function sends itself (into the ingress topic, among the feeder's records) and, with
// the default `leasable: true`, a critical message; the watermark and the open windows are state committed with
// each step. So a kill or a freeze must lose no window and emit none twice, with every sum exact.
import { defineApp, merge } from '@dirigo/core';
import { tumbling, windowed } from '@dirigo/windows';
import { APP, appOptions, type ShapeEnv, topics, WIN } from '../names.ts';

export interface WinEvent {
  readonly seq: number;
  /** Event time, ms. */
  readonly t: number;
  readonly v: number;
}
export interface WinResult {
  readonly key: string;
  readonly start: number;
  readonly sum: number;
}

export const windowedApp = (e: ShapeEnv) =>
  defineApp({
    name: APP.windowed,
    options: {
      ...appOptions(e),
      // In order per partition (one feeder, idempotent sends): no out-of-orderness; an input never idles out
      // during a run.
      eventTime: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 600_000, watermarkIntervalMs: 100 },
    },
    ingresses: [{ topic: topics(e.ns).winEvents, to: 'sum' }],
    egresses: { results: { topic: topics(e.ns).winResults } },
    functions: {
      sum: windowed({
        window: tumbling({ sizeMs: WIN.sizeMs }),
        merge: merge.sum(),
        value: (m: WinEvent) => m.v,
        eventTime: (m: WinEvent) => m.t,
        // Leasing needs exactly-once; under the at-least-once control the function is a plain one.
        leasable: e.guarantee === 'exactly_once',
        onClose: (ctx, w) =>
          ctx.emit('results', w.key, { key: w.key, start: w.start, sum: w.value } satisfies WinResult),
      }),
    },
  });
