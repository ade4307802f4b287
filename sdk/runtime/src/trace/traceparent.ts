// The W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/), version 00:
//
//   traceparent = version "-" trace-id "-" parent-id "-" trace-flags
//   version     = 2HEXDIGLC   ; "00" (a higher version is read by its first four fields)
//   trace-id    = 32HEXDIGLC  ; not all zeros
//   parent-id   = 16HEXDIGLC  ; not all zeros
//   trace-flags = 2HEXDIGLC   ; bit 0: sampled
//
// Parsed here without any SDK, so trace context crosses hops even when no OpenTelemetry SDK is installed.
import type { SpanContext } from '@opentelemetry/api';

export const H_TRACEPARENT = 'traceparent';
export const H_TRACESTATE = 'tracestate';

const RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The remote span context of a `traceparent` value, or undefined when it is absent or invalid. */
export function parseTraceparent(
  value: Buffer | string | undefined,
  tracestate?: Buffer | string,
): SpanContext | undefined {
  if (value === undefined) return undefined;
  const m = RE.exec(value.toString('latin1').trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: Number.parseInt(flags!, 16) & 0xff,
    isRemote: true,
    ...(tracestate === undefined ? {} : { traceState: stateOf(tracestate.toString('latin1')) }),
  };
}

/** The `traceparent` value of a span context (version 00). */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A minimal read-only TraceState over the header's text (carried as it came). */
function stateOf(text: string): NonNullable<SpanContext['traceState']> {
  const entries = new Map<string, string>();
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) entries.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const make = (m: Map<string, string>): NonNullable<SpanContext['traceState']> => ({
    get: (k) => m.get(k),
    set: (k, v) => make(new Map([[k, v], ...[...m].filter(([x]) => x !== k)])),
    unset: (k) => make(new Map([...m].filter(([x]) => x !== k))),
    serialize: () => [...m].map(([k, v]) => `${k}=${v}`).join(','),
  });
  return make(entries);
}
