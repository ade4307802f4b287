// The SDK apps the throughput and peers benchmarks run: a stateless passthrough and a keyed count (state in a
// value cell, every update emitted), both reading the benchmark's input topic directly (an ingress on the
// record key) and writing one output per input.
import { defineApp, fn, type Serde, serdes, state } from '@dirigo/core';

/** The passthrough (JSON); with `schedulingHeaders`, the scheduling headers on the outputs (not the default). */
export function passthroughApp(ns: string, input: string, out: string, schedulingHeaders = false) {
  return defineApp({
    name: 'passthrough',
    options: { namespace: ns, guarantee: 'at_least_once' },
    ingresses: [{ topic: input, to: 'pass' }],
    egresses: { out: { topic: out, schedulingHeaders } },
    functions: {
      pass: fn({
        handler(ctx, m: unknown) {
          ctx.emit('out', ctx.key, m);
        },
      }),
    },
  });
}

/**
 * The passthrough with bytes serdes (values handed on undecoded): the framework's per-record cost without JSON
 * decoding and encoding, with the scheduling headers on the output records (the default before 2026-12-02);
 * with `lean`, without them (the default).
 */
export function passthroughBytesApp(ns: string, input: string, out: string, lean = false) {
  return defineApp({
    name: 'passthrough',
    options: { namespace: ns, guarantee: 'at_least_once' },
    ingresses: [{ topic: input, to: 'pass', serde: serdes.bytes() }],
    egresses: {
      out: { topic: out, serde: serdes.bytes(), schedulingHeaders: !lean },
    },
    functions: {
      pass: fn({
        message: serdes.bytes(),
        handler(ctx, m: Buffer) {
          ctx.emit('out', ctx.key, m);
        },
      }),
    },
  });
}

/**
 * The keyed count; `persistent` keeps its state in the persistent store (LMDB) under `persistent.stateDir`. With
 * `values: 'bytes'` the input values are not decoded (bytes serdes, as the peers' Kafka Streams and Quix Streams
 * apps read them): the count of keys alone, without the throughput bench's latency probe; by default they are JSON
 * and a value's `probe` is handed on in the output.
 */
export function countApp(
  ns: string,
  input: string,
  out: string,
  guarantee: 'at_least_once' | 'exactly_once',
  persistent?: { readonly stateDir: string },
  values: 'json' | 'bytes' = 'json',
) {
  return defineApp({
    name: 'count',
    options: {
      namespace: ns,
      guarantee,
      ...(persistent === undefined ? {} : { store: 'persistent', stateDir: persistent.stateDir }),
    },
    ingresses: [{ topic: input, to: 'count', ...(values === 'bytes' ? { serde: serdes.bytes() } : {}) }],
    egresses: { out: { topic: out } },
    functions: {
      count: fn({
        ...(values === 'bytes' ? { message: serdes.bytes() as Serde<unknown> } : {}),
        state: { n: state.value<number>() },
        handler(ctx, m: unknown) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          // The throughput bench's latency probe (JSON values): its records carry their send time, handed on.
          const probe = values === 'json' ? (m as { probe?: number } | null)?.probe : undefined;
          ctx.emit('out', ctx.key, probe === undefined ? n : { n, probe });
        },
      }),
    },
  });
}
