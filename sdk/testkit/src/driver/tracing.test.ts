// Trace context across hops on the test driver, with an in-memory span exporter: the W3C `traceparent` of an
// input record flows through `send` and `emit` (user headers too, unless the app opts out), and each handler's
// span is a child of the previous hop's, so one trace spans three hops.
import { defineApp, fn } from '@dirigo/core';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDriver } from './test-driver.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`;

/** ingress -> a -> b -> c -> egress: three hops, each a handler. */
const chain = (propagateHeaders?: boolean) =>
  defineApp({
    name: 'chain',
    options: propagateHeaders === undefined ? {} : { propagateHeaders },
    ingresses: [{ topic: 'chain-in', to: 'a' }],
    egresses: { out: { topic: 'chain-out' } },
    functions: {
      a: fn({ handler: (ctx, m: number) => ctx.send('b', ctx.key, m + 1) }),
      b: fn({ handler: (ctx, m: number) => ctx.send('c', ctx.key, m + 1) }),
      c: fn({
        handler(ctx, m: number) {
          if (m < 0) throw new Error('negative');
          ctx.emit('out', ctx.key, m + 1);
        },
      }),
    },
  });

const header = (h: Record<string, Buffer>, name: string) => h[name]?.toString();
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('trace context across hops', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('makes one trace of three hops, each handler span the child of the one before', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    driver = await TestDriver.start(chain(), { tracing: { tracerProvider } });
    await driver.pipe('chain-in', {
      key: 'k',
      value: 1,
      headers: { traceparent: TRACEPARENT, tracestate: 'vendor=x', 'x-tenant': 'acme' },
    });
    const [out] = await driver.output<number>('chain-out');
    expect(out?.value).toBe(4);

    const spans = exporter.getFinishedSpans();
    const handler = (fnName: string) => {
      const found = spans.filter((s) => s.name === `process chain.${fnName}`);
      expect(found, fnName).toHaveLength(1);
      return found[0]!;
    };
    const [a, b, c] = [handler('a'), handler('b'), handler('c')];
    // One trace: the input's. Each hop's span is the child of the previous one.
    for (const s of [a, b, c]) expect(s.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(a)).toBe(PARENT);
    expect(parentOf(b)).toBe(a.spanContext().spanId);
    expect(parentOf(c)).toBe(b.spanContext().spanId);
    expect(a.attributes['messaging.destination.name']).toBe('chain-in');
    expect(b.attributes['dirigo.function']).toBe('b');
    // The egress record carries the last hop's context, the trace state and the user's header.
    expect(header(out!.headers, 'traceparent')).toBe(`00-${TRACE_ID}-${c.spanContext().spanId}-01`);
    expect(header(out!.headers, 'tracestate')).toBe('vendor=x');
    expect(header(out!.headers, 'x-tenant')).toBe('acme');
    // One span per step, linked to the traces of its records.
    const steps = spans.filter((s) => s.name.startsWith('step chain.'));
    expect(steps.map((s) => s.name).sort()).toEqual(['step chain.a', 'step chain.b', 'step chain.c']);
    expect(steps.find((s) => s.name === 'step chain.b')!.links[0]!.context.spanId).toBe(
      a.spanContext().spanId,
    );
    // Handler spans link to their step.
    expect(b.links[0]!.context.spanId).toBe(
      steps.find((s) => s.name === 'step chain.b')!.spanContext().spanId,
    );
  });

  it('starts a trace at the first hop when the input has none, and marks a failing handler', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    driver = await TestDriver.start(chain(), { tracing: { tracerProvider } });
    await driver.pipe('chain-in', [
      { key: 'k', value: 1 },
      { key: 'k', value: -10 },
    ]);
    const spans = exporter.getFinishedSpans().filter((s) => s.name.startsWith('process'));
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    // Two inputs, two traces, three hops each.
    expect(traceIds.size).toBe(2);
    expect(spans).toHaveLength(6);
    const failed = spans.find((s) => s.name === 'process chain.c' && s.status.code === 2);
    expect(failed?.events.some((e) => e.name === 'exception')).toBe(true);
    expect((await driver.deadLetters('chain')).length).toBe(1);
  });

  it('carries traceparent and user headers unchanged when no SDK is installed, and only the trace context when the app opts out', async () => {
    expect(trace.getTracerProvider().getTracer('x').startSpan('probe').isRecording()).toBe(false);
    driver = await TestDriver.start([chain()]);
    await driver.pipe('chain-in', {
      key: 'k',
      value: 1,
      headers: { traceparent: TRACEPARENT, 'x-tenant': 'acme' },
    });
    const [out] = await driver.output<number>('chain-out');
    expect(header(out!.headers, 'traceparent')).toBe(TRACEPARENT);
    expect(header(out!.headers, 'x-tenant')).toBe('acme');
    await driver.stop();

    driver = await TestDriver.start([chain(false)]);
    await driver.pipe('chain-in', {
      key: 'k',
      value: 1,
      headers: { traceparent: TRACEPARENT, 'x-tenant': 'acme' },
    });
    const [out2] = await driver.output<number>('chain-out');
    expect(header(out2!.headers, 'traceparent')).toBe(TRACEPARENT);
    expect(header(out2!.headers, 'x-tenant')).toBeUndefined();
  });

  it('uses the global tracer provider once an SDK registers one', async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    try {
      driver = await TestDriver.start([chain()]);
      await driver.pipe('chain-in', { key: 'k', value: 1, headers: { traceparent: TRACEPARENT } });
      const names = exporter.getFinishedSpans().map((s) => s.name);
      expect(names).toContain('process chain.c');
    } finally {
      trace.disable();
    }
  });
});
