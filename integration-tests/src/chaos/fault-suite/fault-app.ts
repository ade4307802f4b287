// The apps of the fault suite's worker processes (`dirigo worker fault-app.ts`), chosen by the environment:
// - FAULT_APP=counter (default): `fc` in FAULT_NS counts records per key from FAULT_IN and emits
//   { n } to FAULT_OUT. With FAULT_HANG_MARKER set, its first message writes that file and then never finishes
//   (a handler stuck on a remote call), so a graceful stop cannot complete.
// - FAULT_APP=stopper: `st` in FAULT_NS with onError 'stop'; a record whose value is "poison" stops it.
// - FAULT_APP=twins: two apps both named `twin`, in namespaces `<FAULT_NS>-a` and `<FAULT_NS>-b`, counting
//   FAULT_IN_A / FAULT_IN_B into FAULT_OUT_A / FAULT_OUT_B.
import { writeFileSync } from 'node:fs';
import { type AppDefinition, defineApp, fn, state } from '@dirigo/core';

let hung = false;

const counter = (name: string, namespace: string, input: string, output: string) =>
  defineApp({
    name,
    options: { namespace },
    ingresses: [{ topic: input, to: 'f' }],
    egresses: { out: { topic: output, partitions: 1 } },
    functions: {
      f: fn({
        state: { n: state.value<number>() },
        async handler(ctx, _m: unknown) {
          const marker = process.env.FAULT_HANG_MARKER;
          if (marker && !hung) {
            hung = true;
            writeFileSync(marker, String(process.pid));
            await new Promise(() => {}); // never settles
          }
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, { n });
        },
      }),
    },
  });

/** The apps for `env` (the suite builds them too, to read their topic names). */
export function faultApps(env: NodeJS.ProcessEnv): AppDefinition[] {
  const ns = env.FAULT_NS ?? 'fault';
  switch (env.FAULT_APP ?? 'counter') {
    case 'stopper':
      return [
        defineApp({
          name: 'st',
          options: { namespace: ns, onError: 'stop' },
          ingresses: [{ topic: env.FAULT_IN ?? 'fault-in', to: 'f' }],
          functions: {
            f: fn({
              handler(_ctx, m: unknown) {
                if (m === 'poison') throw new Error('a poison record');
              },
            }),
          },
        }),
      ];
    case 'twins':
      return [
        counter('twin', `${ns}-a`, env.FAULT_IN_A ?? 'fault-in-a', env.FAULT_OUT_A ?? 'fault-out-a'),
        counter('twin', `${ns}-b`, env.FAULT_IN_B ?? 'fault-in-b', env.FAULT_OUT_B ?? 'fault-out-b'),
      ];
    default:
      return [counter('fc', ns, env.FAULT_IN ?? 'fault-in', env.FAULT_OUT ?? 'fault-out')];
  }
}

export default faultApps(process.env);
