// Chaos shape `fan-out-in`: each input `{ seq, k }` is split into k parts sent to `part` actors spread by seq
// and part number, and every part goes on to the `join` actor of its seq, which completes the seq when all k
// parts arrived (deleting its pending entry) and emits `{ seq }`. Every function counts what it handled.
import { defineApp, fn, state } from '@dirigo/core';
import { APP, appOptions, FAN, type ShapeEnv, topics } from '../names.ts';

export interface FanInput {
  readonly seq: number;
  readonly k: number;
}
export interface FanPart {
  readonly seq: number;
  readonly j: number;
  readonly k: number;
}
export interface FanComplete {
  readonly seq: number;
}

export const fanOutInApp = (e: ShapeEnv) =>
  defineApp({
    name: APP['fan-out-in'],
    options: appOptions(e),
    ingresses: [{ topic: topics(e.ns).fanIn, to: 'split' }],
    egresses: { complete: { topic: topics(e.ns).complete } },
    functions: {
      split: fn({
        state: { count: state.value<number>() },
        handler(ctx, m: FanInput) {
          ctx.state.count.set((ctx.state.count.get() ?? 0) + 1);
          for (let j = 0; j < m.k; j++) {
            ctx.send('part', `p${(m.seq * 7 + j) % FAN.P}`, { seq: m.seq, j, k: m.k } satisfies FanPart);
          }
        },
      }),
      part: fn({
        state: { count: state.value<number>() },
        handler(ctx, m: FanPart) {
          ctx.state.count.set((ctx.state.count.get() ?? 0) + 1);
          ctx.send('join', `j${m.seq % FAN.J}`, m);
        },
      }),
      join: fn({
        // pending: seq -> the part numbers seen so far (a set, so a replayed part is not counted twice).
        state: { pending: state.map<number[]>(), completed: state.value<number>() },
        handler(ctx, m: FanPart) {
          const id = String(m.seq);
          const seen = ctx.state.pending.get(id) ?? [];
          const parts = seen.includes(m.j) ? seen : [...seen, m.j];
          if (parts.length < m.k) {
            ctx.state.pending.set(id, parts);
            return;
          }
          ctx.state.pending.delete(id);
          ctx.state.completed.set((ctx.state.completed.get() ?? 0) + 1);
          ctx.emit('complete', ctx.key, { seq: m.seq } satisfies FanComplete);
        },
      }),
    },
  });
