// Micro-benchmark (a script, not a test): the runtime's own per-record cost, no Kafka. Steps of synthetic records
// of a stateless passthrough (bytes in, `ctx.emit` of the key and value out, no scheduling headers: the throughput
// bench's `passthrough`, `passthroughLean` until 2026-12-06) run through the StepRunner and the worker's dispatcher
// (edf, in-memory scheduler metrics, as the worker builds them), several partitions' steps in flight at once.
// Prints JSON: nanoseconds per record of each round (wall time, one thread). Run:
//   node_modules/.bin/node --conditions=source sdk/runtime/src/actor/step-bench.ts [records] [perStep] [partitions]
import { defineApp, fn, type IncomingRecord, resolveApp, serdes, silentLogger } from '@dirigo/core';
import { systemClock } from '../clock.ts';
import { FunctionMetricsTable } from '../metrics/function-metrics.ts';
import { Dispatcher } from '../scheduler/dispatcher.ts';
import { InMemorySchedulerMetrics } from '../scheduler/metrics.ts';
import { createPolicy } from '../scheduler/registry.ts';
import { StepOutput } from '../task/step-output.ts';
import type { FunctionEnv } from './function-env.ts';
import { StepRunner } from './step-runner.ts';

const N = Number(process.argv[2] ?? 2_000_000);
const PER_STEP = Number(process.argv[3] ?? 4000);
const PARTITIONS = Number(process.argv[4] ?? 4);

const app = resolveApp(
  defineApp({
    name: 'passthrough',
    options: { namespace: 'bench', guarantee: 'at_least_once' },
    ingresses: [{ topic: 'in', to: 'pass', serde: serdes.bytes() }],
    egresses: { out: { topic: 'out', serde: serdes.bytes(), schedulingHeaders: false } },
    functions: {
      pass: fn({
        message: serdes.bytes(),
        handler(ctx, m: Buffer) {
          ctx.emit('out', ctx.key, m);
        },
      }),
    },
  }),
);
const fnDef = app.functions.get('pass')!;
const metrics = new InMemorySchedulerMetrics({ clock: systemClock, functions: new FunctionMetricsTable() });
const dispatcher = new Dispatcher({ policy: createPolicy('edf'), clock: systemClock, metrics });
const env: FunctionEnv = {
  app,
  fn: fnDef,
  hasChangelog: true,
  cellPrefix: '',
  cellHeads: [],
  workerId: 'bench',
  clock: systemClock,
  logger: silentLogger(),
  partitions: new Map([
    ['in', PARTITIONS],
    ['out', PARTITIONS],
    [fnDef.topic, PARTITIONS],
  ]),
  priorityHeader: Buffer.from(app.options.priority),
  metaCache: { at: Number.NaN, headers: undefined },
  dispatcher,
};

const value = Buffer.alloc(100, 7);
/** Records without headers share one frozen empty object, as the transports give them. */
const NO_HEADERS = Object.freeze({});
function step(partition: number, from: number, n: number): IncomingRecord[] {
  const now = Date.now();
  const out: IncomingRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      topic: 'in',
      partition,
      offset: from + i,
      key: Buffer.from(`key-${(from + i) % 10_000}`),
      value,
      headers: NO_HEADERS,
      timestamp: now,
    };
  }
  return out;
}

const runners = Array.from({ length: PARTITIONS }, () => new StepRunner(env, undefined, undefined));
// The inputs are built before timing: one round's steps, reused by every round.
const rounds: IncomingRecord[][] = [];
for (let i = 0, p = 0; i < N; i += PER_STEP, p = (p + 1) % PARTITIONS) {
  rounds.push(step(p, i, Math.min(PER_STEP, N - i)));
}

async function round(): Promise<number> {
  let emitted = 0;
  const t0 = performance.now();
  // PARTITIONS steps in flight at once, as fetched together.
  for (let s = 0; s < rounds.length; s += PARTITIONS) {
    const outs: StepOutput[] = [];
    const runs: Promise<void>[] = [];
    for (let p = 0; p < PARTITIONS && s + p < rounds.length; p++) {
      const out = new StepOutput();
      outs.push(out);
      runs.push(runners[p]!.run(rounds[s + p]!, out, `pass/${p}`));
    }
    await Promise.all(runs);
    for (const o of outs) emitted += o.outputs.length;
  }
  const ms = performance.now() - t0;
  if (emitted !== N) throw new Error(`emitted ${emitted} of ${N}`);
  return (ms * 1e6) / N;
}

const ns: number[] = [];
for (let r = 0; r < 11; r++) ns.push(Math.round(await round()));
// The first rounds warm the JIT; the median of the rest is the figure.
const warm = ns.slice(3).sort((a, b) => a - b);
const median = warm[Math.floor(warm.length / 2)]!;
process.stdout.write(
  `${JSON.stringify({ records: N, perStep: PER_STEP, partitions: PARTITIONS, nsPerRecord: ns, median, min: warm[0] })}\n`,
);
