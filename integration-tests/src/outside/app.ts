// The app of the outside-the-repository install test (install.test.ts), copied into a fresh project there.
import { defineApp, fn, state } from '@dirigo/core';

const ns = process.env.OUTSIDE_NS ?? 'outside';

export default defineApp({
  name: 'tally',
  options: { namespace: ns },
  ingresses: [{ topic: `${ns}-in`, to: 'count' }],
  egresses: { out: { topic: `${ns}-out` } },
  functions: {
    count: fn({
      state: { n: state.value<number>() },
      handler(ctx, m: { add: number }) {
        const n = (ctx.state.n.get() ?? 0) + m.add;
        ctx.state.n.set(n);
        ctx.emit('out', ctx.key, { n });
      },
    }),
  },
});
