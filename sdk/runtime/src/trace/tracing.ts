// OpenTelemetry spans through `@opentelemetry/api`: one span per step (a fetched batch of one partition, linked to
// the trace of each record in it) and one per handler (a child of the record's `traceparent`, or a new trace),
// whose context goes out in the `traceparent` of every record the handler sends or emits. With no SDK installed
// (the API's no-op) nothing is created: the step asks once whether a real tracer exists.

import type { IncomingRecord } from '@dirigo/core';
import {
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { RUNTIME_VERSION } from '../metrics/prometheus.ts';
import { formatTraceparent, H_TRACEPARENT, H_TRACESTATE, parseTraceparent } from './traceparent.ts';

/** Tracing options of a worker. */
export interface TracingOptions {
  /**
   * Where spans go. Default: the global provider of `@opentelemetry/api` (set by the SDK you install, e.g.
   * `provider.register()`); without one, no spans are made and `traceparent` headers pass through unchanged.
   */
  readonly tracerProvider?: TracerProvider;
  /** False: no spans even with an SDK installed. Default true. */
  readonly enabled?: boolean;
}

/** Most record links on one step span. */
const MAX_LINKS = 32;

/** The worker's tracing: answers a tracer for a step, or undefined when nothing would be recorded. */
export class Tracing {
  private readonly provider: TracerProvider | undefined;
  private readonly enabled: boolean;

  constructor(options: TracingOptions = {}) {
    this.provider = options.tracerProvider;
    this.enabled = options.enabled ?? true;
  }

  /** The tracer to use for one step; undefined when disabled or when no SDK is installed. */
  tracer(): Tracer | undefined {
    if (!this.enabled) return undefined;
    if (this.provider !== undefined) return this.provider.getTracer('dirigo', RUNTIME_VERSION);
    const global = trace.getTracerProvider() as TracerProvider & {
      getDelegateTracer?: (name: string, version?: string) => Tracer | undefined;
    };
    // The API's ProxyTracerProvider has a delegate only once an SDK registered one.
    if (typeof global.getDelegateTracer === 'function')
      return global.getDelegateTracer('dirigo', RUNTIME_VERSION);
    return global.getTracer('dirigo', RUNTIME_VERSION);
  }
}

/** What a span says about where it runs. */
export interface SpanWhere {
  readonly app: string;
  readonly fn: string;
  readonly group: string;
  readonly worker: string;
}

/** The span of one step, linked to (up to 32 of) its records' traces. */
export function startStepSpan(
  tracer: Tracer,
  where: SpanWhere,
  topic: string,
  partition: number,
  records: readonly IncomingRecord[],
): Span {
  const links: Link[] = [];
  for (let i = 0; i < records.length && links.length < MAX_LINKS; i++) {
    const sc = parseTraceparent(records[i]!.headers[H_TRACEPARENT]);
    if (sc !== undefined) links.push({ context: sc });
  }
  return tracer.startSpan(
    `step ${where.app}.${where.fn}`,
    {
      kind: SpanKind.INTERNAL,
      links,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.destination.name': topic,
        'messaging.destination.partition.id': String(partition),
        'messaging.consumer.group.name': where.group,
        'messaging.batch.message_count': records.length,
        'dirigo.app': where.app,
        'dirigo.function': where.fn,
        'dirigo.worker': where.worker,
      },
    },
    ROOT_CONTEXT,
  );
}

/** The span of one handler run; its context is what the handler's outputs carry. */
export class HandlerSpan {
  readonly span: Span;
  /** The `traceparent` header value of this span. */
  readonly traceparent: Buffer;
  private readonly ctx: Context;
  private ended = false;

  constructor(tracer: Tracer, where: SpanWhere, record: IncomingRecord, key: string, step: Span | undefined) {
    const parent = parseTraceparent(record.headers[H_TRACEPARENT], record.headers[H_TRACESTATE]);
    const parentCtx = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
    this.span = tracer.startSpan(
      `process ${where.app}.${where.fn}`,
      {
        kind: SpanKind.CONSUMER,
        ...(step === undefined ? {} : { links: [{ context: step.spanContext() }] }),
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.destination.name': record.topic,
          'messaging.destination.partition.id': String(record.partition),
          'messaging.kafka.offset': record.offset,
          'messaging.kafka.message.key': key,
          'messaging.consumer.group.name': where.group,
          'dirigo.app': where.app,
          'dirigo.function': where.fn,
        },
      },
      parentCtx,
    );
    this.ctx = trace.setSpan(parentCtx, this.span);
    this.traceparent = Buffer.from(formatTraceparent(this.span.spanContext()));
  }

  /** Runs `fn` with this span active (for spans the handler makes itself, under a context manager). */
  run<T>(fn: () => T): T {
    return context.with(this.ctx, fn);
  }

  /** Ends the span (once): with an error, its status is ERROR and the exception is recorded. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) {
      const e = error instanceof Error ? error : new Error(String(error));
      this.span.recordException(e);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
    }
    this.span.end();
  }
}
