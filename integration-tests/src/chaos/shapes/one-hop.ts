// Chaos shape `one-hop`: a keyed counter read directly from its ingress. Each input `{ seq }` adds one to its
// key's count and emits `{ key, seq, count }` to the egress.
import { defineApp, fn, state } from '@dirigo/core';
import { APP, appOptions, type ShapeEnv, topics } from '../names.ts';

export interface CounterInput {
  readonly seq: number;
}
export interface CounterOutput {
  readonly key: string;
  readonly seq: number;
  readonly count: number;
}

export const oneHopApp = (e: ShapeEnv) =>
  defineApp({
    name: APP['one-hop'],
    options: appOptions(e),
    ingresses: [{ topic: topics(e.ns).counterIn, to: 'count' }],
    egresses: { out: { topic: topics(e.ns).counterOut } },
    functions: {
      count: fn({
        state: { count: state.value<number>() },
        handler(ctx, m: CounterInput) {
          const count = (ctx.state.count.get() ?? 0) + 1;
          ctx.state.count.set(count);
          ctx.emit('out', ctx.key, { key: ctx.key, seq: m.seq, count } satisfies CounterOutput);
        },
      }),
    },
  });
