// The app of the zombie-fencing test, run in a worker process. With ZOMBIE_MARKER set, the first message
// writes that file and waits, so the test can SIGSTOP the process in the middle of a step.
import { writeFileSync } from 'node:fs';
import { defineApp, fn, state } from '@dirigo/core';

let stalled = false;

/** The app for the topics named in `env` (tests build their own; worker processes use the default export). */
export const zombieAppFor = (env: NodeJS.ProcessEnv) =>
  defineApp({
    name: 'zombie',
    options: { namespace: env.ZOMBIE_NS ?? 'zombie' },
    ingresses: [{ topic: env.ZOMBIE_IN ?? 'zombie-in', to: 'f' }],
    egresses: { out: { topic: env.ZOMBIE_OUT ?? 'zombie-out' } },
    functions: {
      f: fn({
        state: { n: state.value<number>() },
        async handler(ctx, _m: unknown) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, { n });
          const marker = process.env.ZOMBIE_MARKER;
          if (marker && !stalled) {
            stalled = true;
            writeFileSync(marker, String(process.pid));
            await new Promise((r) => setTimeout(r, 2_000));
          }
        },
      }),
    },
  });

export default zombieAppFor(process.env);
