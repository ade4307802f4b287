// Chaos shape `two-hop-timer` (NEXMark-like auctions): bids keyed by auction are read directly from the ingress
// `bids` by `auction`, which counts them, keeps the highest price, forwards each bid to the bidder's actor, and on
// an auction's first bid schedules its close with a durable timer (`send` with `delayMs`). Because `auction`
// reads the ingress directly, the close message lands in `bids` itself, among the feeder's records, written by
// the timer's transaction. `bidder` sums its bids' prices and emits a running total per bid.
import { defineApp, fn, state } from '@dirigo/core';
import { APP, appOptions, closeDelayMs, type ShapeEnv, topics } from '../names.ts';

export interface Bid {
  readonly seq: number;
  readonly auction: string;
  readonly bidder: string;
  readonly price: number;
}
export interface Close {
  readonly close: string;
}
export interface BidderBid {
  readonly seq: number;
  readonly auction: string;
  readonly price: number;
}
export interface ClosedAuction {
  readonly auction: string;
  readonly countAtClose: number;
}
export interface BidderTotal {
  readonly bidder: string;
  readonly seq: number;
  readonly total: number;
  readonly count: number;
}

export const isClose = (m: Bid | Close): m is Close => 'close' in m;

export const twoHopTimerApp = (e: ShapeEnv) =>
  defineApp({
    name: APP['two-hop-timer'],
    options: appOptions(e),
    ingresses: [{ topic: topics(e.ns).bids, to: 'auction' }],
    egresses: {
      closes: { topic: topics(e.ns).closes },
      'bidder-totals': { topic: topics(e.ns).bidderTotals },
    },
    functions: {
      auction: fn({
        state: {
          count: state.value<number>(),
          maxPrice: state.value<number>(),
          closeScheduled: state.value<boolean>(),
          closed: state.value<boolean>(),
        },
        handler(ctx, m: Bid | Close) {
          const s = ctx.state;
          if (isClose(m)) {
            s.closed.set(true);
            const closed: ClosedAuction = { auction: m.close, countAtClose: s.count.get() ?? 0 };
            ctx.emit('closes', ctx.key, closed);
            return;
          }
          s.count.set((s.count.get() ?? 0) + 1);
          s.maxPrice.set(Math.max(s.maxPrice.get() ?? 0, m.price));
          ctx.send('bidder', m.bidder, {
            seq: m.seq,
            auction: m.auction,
            price: m.price,
          } satisfies BidderBid);
          if (s.closeScheduled.get() !== true) {
            s.closeScheduled.set(true);
            ctx.send('auction', ctx.key, { close: ctx.key } satisfies Close, {
              delayMs: closeDelayMs(ctx.key),
            });
          }
        },
      }),
      bidder: fn({
        state: { total: state.value<number>(), count: state.value<number>() },
        handler(ctx, m: BidderBid) {
          const total = (ctx.state.total.get() ?? 0) + m.price;
          const count = (ctx.state.count.get() ?? 0) + 1;
          ctx.state.total.set(total);
          ctx.state.count.set(count);
          ctx.emit('bidder-totals', ctx.key, {
            bidder: ctx.key,
            seq: m.seq,
            total,
            count,
          } satisfies BidderTotal);
        },
      }),
    },
  });
