// The app of the CLI suite (record-replay.test.ts), also loaded by the `dirigo` verbs it runs: a counter per key
// that refuses negative numbers (dead letters) until the test "fixes" it, for the re-drive.
import { defineApp, fn, state } from '@dirigo/core';

/** Set by the test before re-driving dead letters: negative numbers are then accepted. */
export const fix = { fixed: false };

const ns = process.env.CLI_APP_NS ?? 'it-cli';

export default defineApp({
  name: 'ctr',
  options: { namespace: ns, defaultPartitions: 3 },
  ingresses: [{ topic: `${ns}-in`, to: 'count' }],
  egresses: { out: { topic: `${ns}-counts` } },
  functions: {
    count: fn({
      state: { n: state.value<number>(), sum: state.value<number>(), seen: state.map<true>() },
      handler(ctx, m: { add: number; id: string }) {
        if (m.add < 0 && !fix.fixed) throw new Error(`negative add ${m.add}`);
        const n = (ctx.state.n.get() ?? 0) + 1;
        ctx.state.n.set(n);
        ctx.state.sum.set((ctx.state.sum.get() ?? 0) + m.add);
        ctx.state.seen.set(m.id, true);
        ctx.emit('out', ctx.key, { n });
      },
    }),
  },
});
