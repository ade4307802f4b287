// A message's context as the step runner makes it: its time (one instant per run of the dispatcher), the headers
// of the records it causes (shared when there is nothing to carry on, the record's own values always), and the
// parts most messages never set (event time, span) kept apart.
import {
  type Context,
  defineApp,
  fn,
  type IncomingRecord,
  type RecordHeaders,
  resolveApp,
  serdes,
  silentLogger,
} from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.ts';
import { Dispatcher } from '../scheduler/dispatcher.ts';
import { createPolicy } from '../scheduler/registry.ts';
import { StepOutput } from '../task/step-output.ts';
import type { FunctionEnv } from './function-env.ts';
import { StepRunner } from './step-runner.ts';

/** A clock that moves 1 ms at every read. */
function ticking(start: number): Clock {
  let t = start;
  return { now: () => t++ };
}

function runner(handler: (ctx: Context, m: Buffer) => void, clock: Clock, scheduled: boolean) {
  const app = resolveApp(
    defineApp({
      name: 'ctx',
      options: { namespace: 'test', guarantee: 'at_least_once' },
      ingresses: [{ topic: 'in', to: 'f', serde: serdes.bytes() }],
      egresses: {
        bare: { topic: 'bare', serde: serdes.bytes(), schedulingHeaders: false },
        out: { topic: 'out', serde: serdes.bytes(), schedulingHeaders: true },
      },
      functions: { f: fn({ message: serdes.bytes(), handler }) },
    }),
  );
  const f = app.functions.get('f')!;
  const env: FunctionEnv = {
    app,
    fn: f,
    hasChangelog: false,
    cellPrefix: '',
    cellHeads: [],
    workerId: 'w',
    clock,
    logger: silentLogger(),
    partitions: new Map([
      ['in', 1],
      ['bare', 1],
      ['out', 1],
      [f.topic, 1],
    ]),
    priorityHeader: Buffer.from(app.options.priority),
    metaCache: { at: Number.NaN, headers: undefined },
    ...(scheduled
      ? {
          dispatcher: new Dispatcher({
            policy: createPolicy('edf'),
            clock,
            runBudgetMs: Number.POSITIVE_INFINITY,
          }),
        }
      : {}),
  };
  const r = new StepRunner(env, undefined, undefined);
  return async (records: IncomingRecord[]) => {
    const out = new StepOutput();
    await r.run(records, out, 'f/0');
    return out.outputs;
  };
}

const rec = (offset: number, headers: RecordHeaders, timestamp = 1000): IncomingRecord => ({
  topic: 'in',
  partition: 0,
  offset,
  key: Buffer.from(`k${offset}`),
  value: Buffer.from('v'),
  headers,
  timestamp,
});

const text = (h: RecordHeaders | undefined) =>
  h === undefined ? undefined : Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString()]));

describe('MessageContext', () => {
  it("gives the messages of one dispatcher run the run's start as now, and each message alone the clock", async () => {
    const seen: number[] = [];
    const step = runner((ctx) => void seen.push(ctx.now), ticking(5000), true);
    await step([rec(0, {}), rec(1, {}), rec(2, {})]);
    // One run (no budget): the three share its start, read once.
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]).toBeGreaterThanOrEqual(5000);
    seen.length = 0;
    const alone = runner((ctx) => void seen.push(ctx.now), ticking(7000), false);
    await alone([rec(0, {}), rec(1, {})]);
    expect(seen[1]).toBeGreaterThan(seen[0]!);
    expect(seen[0]).toBeGreaterThanOrEqual(7000);
  });

  it("carries each record's own headers on, whether records before it had none in a shared frozen object", async () => {
    const step = runner((ctx, m) => ctx.emit('bare', ctx.key, m), ticking(1), true);
    const none = Object.freeze({});
    const tenant = Object.freeze({ 'x-tenant': Buffer.from('acme') });
    const outs = await step([rec(0, none), rec(1, none), rec(2, tenant), rec(3, none)]);
    expect(outs.map((o) => text(o.headers))).toEqual([
      undefined,
      undefined,
      { 'x-tenant': 'acme' },
      undefined,
    ]);
  });

  it('reads an unfrozen headers object again at every message (a caller may change it between steps)', async () => {
    const step = runner((ctx, m) => ctx.emit('bare', ctx.key, m), ticking(1), true);
    const reused: RecordHeaders = {};
    const first = await step([rec(0, reused)]);
    reused['x-a'] = Buffer.from('1');
    const second = await step([rec(1, reused)]);
    expect(text(first[0]!.headers)).toBeUndefined();
    expect(text(second[0]!.headers)).toEqual({ 'x-a': '1' });
  });

  it('gives records without headers to carry the shared scheduling headers, and one merged object per message otherwise', async () => {
    const step = runner(
      (ctx, m) => {
        ctx.emit('out', ctx.key, m);
        ctx.emit('out', ctx.key, m);
      },
      ticking(1),
      true,
    );
    const tenant = Object.freeze({ 'x-tenant': Buffer.from('acme') });
    const outs = await step([rec(0, {}), rec(1, {}), rec(2, tenant)]);
    const [a, b, c, d, e, f] = outs.map((o) => o.headers!);
    // One millisecond, nothing to carry: one frozen object for all four records of the first two messages.
    expect(Object.isFrozen(a)).toBe(true);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(d).toBe(a);
    // Headers carried on: the message's own object, made once for both of its records.
    expect(f).toBe(e);
    expect(e).not.toBe(a);
    expect(text(e)).toEqual({ ...text(a), 'x-tenant': 'acme' });
    expect(text(a)).toMatchObject({ 'dirigo-ingest': '1000', 'dirigo-deadline': '2000' });
  });
});
