// NEXMark Q5, hot items: the auctions with the most bids in each hopping window.
//
// Semantics. Windows are hopping, `windowMs` long, starting every `slideMs` (epoch-aligned), over the bids'
// `dateTime`. For every window with at least one bid, one result `{ start, end, count, auctions }`: `count` is
// the highest number of bids any auction got in the window and `auctions` every auction with that many bids,
// ascending (Beam's Q5 keeps all the tied auctions too). Emitted to the results topic, keyed by the window start
// (decimal ms), once per window, when the `top` stage's watermark passes end + graceMs.
//
// Pipeline.
// - `count` (keyed by auction, reading the bids topic directly; leasable): `windowed` over the hopping windows
//   with `merge.count()`; each (auction, window) close sends `{ auction, start, end, count }` to `top`, keyed by
//   the window start.
// - `top` (keyed by window start): `windowed` keeping the `maxCount` value over the messages of its key. A key
//   is one hopping window, so `top` uses tumbling windows of `slideMs` over the message's window start (each
//   hopping window start is the start of exactly one of them) with a grace of windowMs - slideMs + graceMs:
//   it closes at the hopping window's end + graceMs, as `count` does. Every count reaches `top` before a
//   watermark that could close its window there: the runtime holds `count`'s watermark below a close's time
//   until the close has run.
import { defineApp, type Mergeable, merge } from '@dirigo/core';
import { hopping, tumbling, windowed } from '@dirigo/windows';
import type { Bid } from '../model.ts';
import { dateTimeOf, type QueryOptions, resolveQueryOptions } from './common.ts';

/** A result of Q5. */
export interface HotItemsResult {
  readonly start: number;
  readonly end: number;
  /** Bids of the hottest auctions in the window. */
  readonly count: number;
  /** The auctions with `count` bids, ascending. */
  readonly auctions: readonly number[];
}

/** What `count` sends to `top` at each (auction, window) close. */
export interface AuctionWindowCount {
  readonly auction: number;
  readonly start: number;
  readonly end: number;
  readonly count: number;
}

/** The highest count and every auction that has it; identity `{ count: 0, auctions: [] }`. */
export const maxCount: Mergeable<{ count: number; auctions: number[] }> = merge.custom<{
  count: number;
  auctions: number[];
}>(
  'maxCount',
  () => ({ count: 0, auctions: [] }),
  (a, b) => {
    if (a.count !== b.count) return a.count > b.count ? a : b;
    return { count: a.count, auctions: [...new Set([...a.auctions, ...b.auctions])].sort((x, y) => x - y) };
  },
);

export interface HotItemsOptions extends QueryOptions {
  /** Period of the hopping windows. Default windowMs / 2 (Beam: 10 s windows every 5 s). */
  readonly slideMs?: number;
}

/** Q5 as an app: functions `count` and `top`, egress `results`. */
export function hotItemsApp(options: HotItemsOptions = {}) {
  const o = resolveQueryOptions('nexmark-q5', options);
  const slideMs = options.slideMs ?? Math.max(1, Math.floor(o.windowMs / 2));
  const windows = hopping({ sizeMs: o.windowMs, slideMs, graceMs: o.graceMs });
  return defineApp({
    name: o.name,
    options: o.app,
    ingresses: [{ topic: o.topics.bids, to: 'count' }],
    egresses: { results: { topic: o.topics.results } },
    functions: {
      count: windowed({
        window: windows,
        merge: merge.count(),
        eventTime: dateTimeOf,
        value: (_: Bid) => 1,
        sends: ['top'],
        onClose(ctx, w) {
          ctx.send('top', String(w.start), {
            auction: Number(w.key),
            start: w.start,
            end: w.end,
            count: w.value,
          } satisfies AuctionWindowCount);
        },
      }),
      top: windowed({
        window: tumbling({ sizeMs: slideMs, graceMs: o.windowMs - slideMs + o.graceMs }),
        merge: maxCount,
        eventTime: (m: AuctionWindowCount) => m.start,
        value: (m: AuctionWindowCount) => ({ count: m.count, auctions: [m.auction] }),
        onClose(ctx, w) {
          ctx.emit('results', ctx.key, {
            start: w.start,
            end: w.start + o.windowMs,
            count: w.value.count,
            auctions: w.value.auctions,
          } satisfies HotItemsResult);
        },
      }),
    },
  });
}
