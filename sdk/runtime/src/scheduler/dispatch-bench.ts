// Micro-benchmark (a script, not a test): dispatches 1,000,000 sync no-op messages through `fifo` on the
// wall clock and prints JSON. Run: npx node --conditions=source sdk/runtime/src/scheduler/dispatch-bench.ts
import { Dispatcher } from './dispatcher.ts';
import { createPolicy } from './registry.ts';
import type { ScheduledMessage } from './types.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const STEP = Number(process.argv[3] ?? N);

function messages(n: number, queue: string): ScheduledMessage[] {
  // enqueuedAt starts as a double (a time), as a real caller would set it: see ScheduledMessage.enqueuedAt.
  const fetchedAt = Date.now();
  const out: ScheduledMessage[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      app: 'bench',
      fn: 'noop',
      key: `k${i & 1023}`,
      queue,
      priority: 'normal',
      ingest: 0,
      deadline: Number.MAX_SAFE_INTEGER,
      enqueuedAt: fetchedAt,
    };
  }
  return out;
}

async function once(policy: string): Promise<number> {
  const d = new Dispatcher({ policy: createPolicy(policy) });
  const steps: ScheduledMessage[][] = [];
  for (let i = 0; i < N; i += STEP) steps.push(messages(Math.min(STEP, N - i), `bench/${steps.length % 8}`));
  let ran = 0;
  const noop = () => {
    ran++;
  };
  const t0 = performance.now();
  await Promise.all(steps.map((s) => d.submit(s, noop)));
  const ms = performance.now() - t0;
  if (ran !== N) throw new Error(`ran ${ran} of ${N}`);
  return ms;
}

const results: Record<string, number[]> = {};
for (const policy of ['fifo', 'edf', 'laxity']) {
  results[policy] = [];
  for (let r = 0; r < 3; r++) results[policy]!.push(Math.round(await once(policy)));
}
process.stdout.write(`${JSON.stringify({ messages: N, perStep: STEP, ms: results })}\n`);
