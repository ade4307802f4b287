// Word count: lines of text arrive on the topic `lines`; `split` breaks them into words and sends each word to
// the `count` actor keyed by that word, which keeps a running total and emits it to `word-counts`.
import { defineApp, fn, state, string } from '@dirigo/core';

/** Input topic of lines (existing topic, read directly: no extra hop). */
export const LINES_TOPIC = 'lines';
/** Output topic: `{ word, count }` keyed by word, one record per update. */
export const COUNTS_TOPIC = 'word-counts';

export interface WordCount {
  readonly word: string;
  readonly count: number;
}

/** Topic names and namespace, for running several isolated copies (the demo does). */
export interface WordCountOptions {
  readonly namespace?: string;
  readonly linesTopic?: string;
  readonly countsTopic?: string;
}

/** Builds the app; the default export is `wordCountApp()`. */
export const wordCountApp = (o: WordCountOptions = {}) =>
  defineApp({
    name: 'word-count',
    options: { latencyTargetMs: 500, ...(o.namespace ? { namespace: o.namespace } : {}) },
    ingresses: [{ topic: o.linesTopic ?? LINES_TOPIC, to: 'split', serde: string() }],
    // The scheduling headers on the counts: the demo reads end-to-end latency from them.
    egresses: { counts: { topic: o.countsTopic ?? COUNTS_TOPIC, schedulingHeaders: true } },
    functions: {
      split: fn({
        message: string(),
        handler(ctx, line: string) {
          for (const word of line.toLowerCase().split(/[^\p{L}\p{N}']+/u)) {
            if (word.length > 0) ctx.send('count', word, 1);
          }
        },
      }),
      count: fn({
        state: { total: state.value<number>() },
        handler(ctx, n: number) {
          const total = (ctx.state.total.get() ?? 0) + n;
          ctx.state.total.set(total);
          ctx.emit('counts', ctx.key, { word: ctx.key, count: total } satisfies WordCount);
        },
      }),
    },
  });

export default wordCountApp();
