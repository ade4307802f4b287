// Highest bid per window, keyed by auction: the Dirigo paper's pipeline source -> aggregate -> reduce.
//
// Semantics. Windows are tumbling, `windowMs` long, epoch-aligned, over the bids' `dateTime`. For every window
// with at least one bid, one result `{ start, end, auction, price }`: the highest price bid in the window and
// the auction it was bid on (ties between auctions: the lowest auction id). Emitted to the results topic, keyed
// by the window start (decimal ms), once per window, when the reduce stage's watermark passes end + graceMs; its
// record timestamp is that close time.
//
// Pipeline.
// - source: the bids topic (keyed by auction), read directly by `aggregate`.
// - aggregate (keyed by auction, leasable: a hot auction's bids can run at lessees): `windowed` with
//   `merge.max()` of the price per (auction, window); at the window's close (end + graceMs, a critical message at
//   the auction's lessor, after every lessee's partial max is merged) it sends `{ auction, start, end, price }`
//   to `reduce`, keyed by the window start.
// - reduce (keyed by window start): `windowed` over the same windows with the same grace (the event time of a
//   message is its window start) keeping the best `{ auction, price }`; its close emits the result. Every
//   aggregate result reaches reduce before a watermark that could close its window there: the runtime holds
//   aggregate's watermark below a close's time until the close has run.
import { defineApp, type Mergeable, merge } from '@dirigo/core';
import { tumbling, windowed } from '@dirigo/windows';
import type { Bid } from '../model.ts';
import { dateTimeOf, type QueryOptions, resolveQueryOptions } from './common.ts';

/** A result of the highest-bid query. */
export interface HighestBidResult {
  /** Window start and end (exclusive), ms since epoch. */
  readonly start: number;
  readonly end: number;
  readonly auction: number;
  /** Cents. */
  readonly price: number;
}

/** What `aggregate` sends to `reduce` at each (auction, window) close. */
export interface AuctionWindowMax {
  readonly auction: number;
  readonly start: number;
  readonly end: number;
  readonly price: number;
}

/** The best of `{ auction, price }` pairs: the highest price, then the lowest auction id; identity null. */
export const bestAuction: Mergeable<{ auction: number; price: number } | null> = merge.custom<{
  auction: number;
  price: number;
} | null>(
  'bestAuction',
  () => null,
  (a, b) => {
    if (a === null) return b;
    if (b === null) return a;
    if (a.price !== b.price) return a.price > b.price ? a : b;
    return a.auction <= b.auction ? a : b;
  },
);

/** Options of the highest-bid app: those of every query. */
export type HighestBidOptions = QueryOptions;

/** The highest-bid pipeline as an app: functions `aggregate` and `reduce`, egress `results`. */
export function highestBidApp(options: HighestBidOptions = {}) {
  const o = resolveQueryOptions('nexmark-highest-bid', options);
  return defineApp({
    name: o.name,
    options: o.app,
    ingresses: [{ topic: o.topics.bids, to: 'aggregate' }],
    egresses: { results: { topic: o.topics.results } },
    functions: {
      aggregate: windowed({
        window: tumbling({ sizeMs: o.windowMs, graceMs: o.graceMs }),
        merge: merge.max(),
        eventTime: dateTimeOf,
        value: (b: Bid) => b.price,
        sends: ['reduce'],
        onClose(ctx, w) {
          if (w.value === null) return;
          ctx.send('reduce', String(w.start), {
            auction: Number(w.key),
            start: w.start,
            end: w.end,
            price: w.value,
          } satisfies AuctionWindowMax);
        },
      }),
      reduce: windowed({
        window: tumbling({ sizeMs: o.windowMs, graceMs: o.graceMs }),
        merge: bestAuction,
        eventTime: (m: AuctionWindowMax) => m.start,
        value: (m: AuctionWindowMax) => ({ auction: m.auction, price: m.price }),
        onClose(ctx, w) {
          if (w.value === null) return;
          ctx.emit('results', ctx.key, {
            start: w.start,
            end: w.end,
            auction: w.value.auction,
            price: w.value.price,
          } satisfies HighestBidResult);
        },
      }),
    },
  });
}
