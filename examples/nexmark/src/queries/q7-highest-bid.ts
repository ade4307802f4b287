// NEXMark Q7, highest bid: the highest bid in each tumbling window, with its bidder.
//
// Semantics. Windows are tumbling, `windowMs` long, epoch-aligned, over the bids' `dateTime`. For every window
// with at least one bid, one result `{ start, end, auction, bidder, price, dateTime }`: the bid with the highest
// price in the window; ties go to the earliest `dateTime`, then the lowest bidder, then the lowest auction (Beam's
// Q7 outputs every tied bid; this one picks one, deterministically). Emitted to the results topic, keyed by the
// window start (decimal ms), once per window, when the watermark passes end + graceMs.
//
// Pipeline. A re-keying ingress (`key: () => ''`) sends every bid of the bids topic to `highest` under one key;
// `highest` is a leasable `windowed` whose value is the best bid so far (`highestBid`, a custom mergeable), so
// that single, hottest of keys can run at several lessees at once, each keeping its partial best bid, merged at
// the window's critical close.
import { defineApp, type Mergeable, merge } from '@dirigo/core';
import { tumbling, windowed } from '@dirigo/windows';
import type { Bid } from '../model.ts';
import { dateTimeOf, type QueryOptions, resolveQueryOptions } from './common.ts';

/** The fields of a bid that Q7 keeps. */
export interface BidSummary {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly dateTime: number;
}

/** A result of Q7. */
export interface Q7Result extends BidSummary {
  readonly start: number;
  readonly end: number;
}

/** True when bid `a` ranks before `b`: higher price, then earlier, then lower bidder, then lower auction. */
export function betterBid(a: BidSummary, b: BidSummary): boolean {
  if (a.price !== b.price) return a.price > b.price;
  if (a.dateTime !== b.dateTime) return a.dateTime < b.dateTime;
  if (a.bidder !== b.bidder) return a.bidder < b.bidder;
  return a.auction < b.auction;
}

/** The best bid (see `betterBid`); identity null. */
export const highestBid: Mergeable<BidSummary | null> = merge.custom<BidSummary | null>(
  'highestBid',
  () => null,
  (a, b) => (a === null ? b : b === null ? a : betterBid(b, a) ? b : a),
);

/** Q7 as an app: the bids re-keyed onto function `highest` (one key), egress `results`. */
export function q7App(options: QueryOptions = {}) {
  const o = resolveQueryOptions('nexmark-q7', options);
  return defineApp({
    name: o.name,
    options: o.app,
    ingresses: [{ topic: o.topics.bids, to: 'highest', key: () => '' }],
    egresses: { results: { topic: o.topics.results } },
    functions: {
      highest: windowed({
        window: tumbling({ sizeMs: o.windowMs, graceMs: o.graceMs }),
        merge: highestBid,
        eventTime: dateTimeOf,
        value: (b: Bid): BidSummary => ({
          auction: b.auction,
          bidder: b.bidder,
          price: b.price,
          dateTime: b.dateTime,
        }),
        onClose(ctx, w) {
          if (w.value === null) return;
          ctx.emit('results', String(w.start), { start: w.start, end: w.end, ...w.value } satisfies Q7Result);
        },
      }),
    },
  });
}
