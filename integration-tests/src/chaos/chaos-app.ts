// The app the chaos run deploys on its worker processes: a keyed counter. Each input record `{ seq }` adds one
// to its key's count and emits `{ key, seq, count }`; an independent tracker in the harness knows what every
// key's final count and the set of emitted seqs must be. Topic names and guarantee come from the environment
// so each run is isolated.
import { defineApp, fn, type ProcessingGuarantee, state } from '@dirigo/core';

export interface ChaosInput {
  readonly seq: number;
}
export interface ChaosOutput {
  readonly key: string;
  readonly seq: number;
  readonly count: number;
}

export const chaosApp = (env: NodeJS.ProcessEnv = process.env) =>
  defineApp({
    name: 'chaos',
    options: {
      namespace: env.CHAOS_NS ?? 'chaos',
      guarantee: (env.CHAOS_GUARANTEE ?? 'exactly_once') as ProcessingGuarantee,
      latencyTargetMs: 5000,
    },
    ingresses: [{ topic: env.CHAOS_IN ?? 'chaos-in', to: 'count' }],
    egresses: { out: { topic: env.CHAOS_OUT ?? 'chaos-out', partitions: 6 } },
    functions: {
      count: fn({
        state: { count: state.value<number>() },
        handler(ctx, m: ChaosInput) {
          const count = (ctx.state.count.get() ?? 0) + 1;
          ctx.state.count.set(count);
          ctx.emit('out', ctx.key, { key: ctx.key, seq: m.seq, count } satisfies ChaosOutput);
        },
      }),
    },
  });

export default chaosApp();
