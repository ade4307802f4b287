// Tracker and checks of the `two-hop-timer` shape (auctions and bidders): every bid comes out once as a bidder
// total, the bid forwarded to `bidder` and every auction's close (inside `bids`) and `closes` record exist once,
// and the final auction and bidder state match what was sent.
import type { Transport } from '@dirigo/core';
import { APP, AUCTIONS, BIDDERS, changelogOf, groupOf, HOT_AUCTION_SHARE, topics } from '../names.ts';
import { readChangelog, readTopic, Tally } from '../read.ts';
import type { Bid, BidderBid, BidderTotal, Close, ClosedAuction } from '../shapes/two-hop-timer.ts';
import { type Draft, type ShapeHarness, VerdictBuilder } from './shape.ts';

interface AuctionExpect {
  count: number;
  maxPrice: number;
}
interface BidderExpect {
  total: number;
  count: number;
}

export function twoHopTimerHarness(ns: string): ShapeHarness {
  const t = topics(ns);
  const app = APP['two-hop-timer'];
  const auctions = new Map<string, AuctionExpect>();
  const bidders = new Map<string, BidderExpect>();
  const seqs: number[] = [];
  const closesOf = async (transport: Transport): Promise<Tally<string>> => {
    const closes = new Tally<string>();
    for (const r of await readTopic<ClosedAuction>(transport, t.closes)) closes.add(r.value.auction);
    return closes;
  };
  return {
    name: 'two-hop-timer',
    ingressTopics: [t.bids],
    groups: [
      { group: groupOf(ns, app, 'auction'), topic: t.bids },
      { group: groupOf(ns, app, 'bidder'), topic: groupOf(ns, app, 'bidder') },
    ],
    get sent() {
      return seqs.length;
    },
    draw(seq: number, random: () => number): Draft {
      // Skewed: a fifth of the bids go to one hot auction.
      const hot = random() < HOT_AUCTION_SHARE;
      const auction = hot ? 'a0' : `a${1 + Math.floor(random() * (AUCTIONS - 1))}`;
      const bidder = `b${Math.floor(random() * BIDDERS)}`;
      const price = 1 + Math.floor(random() * 1000);
      const bid: Bid = { seq, auction, bidder, price };
      return {
        record: { topic: t.bids, key: Buffer.from(auction), value: Buffer.from(JSON.stringify(bid)) },
        acked() {
          const a = auctions.get(auction) ?? { count: 0, maxPrice: 0 };
          a.count++;
          a.maxPrice = Math.max(a.maxPrice, price);
          auctions.set(auction, a);
          const b = bidders.get(bidder) ?? { total: 0, count: 0 };
          b.total += price;
          b.count++;
          bidders.set(bidder, b);
          seqs.push(seq);
        },
      };
    },
    async pendingTimers(transport: Transport) {
      const closes = await closesOf(transport);
      return [...auctions.keys()].filter((a) => closes.get(a) === 0).map((a) => `close of auction ${a}`);
    },
    async verify(transport: Transport, exact: boolean) {
      const v = new VerdictBuilder('two-hop-timer');
      // Egress per seq, and the bids forwarded to `bidder` (internal).
      const totals = new Tally<number>();
      for (const r of await readTopic<BidderTotal>(transport, t.bidderTotals)) totals.add(r.value.seq);
      for (const s of seqs)
        v.fail('lost', totals.get(s) === 0 ? 1 : 0, () => `bid seq ${s} has no bidder total`);
      for (const [s, n] of totals.counts)
        v.fail('duplicated', n - 1, () => `bidder total of seq ${s} ${n} times`);
      const forwarded = new Tally<number>();
      for (const r of await readTopic<BidderBid>(transport, groupOf(ns, app, 'bidder')))
        forwarded.add(r.value.seq);
      for (const [s, n] of forwarded.counts)
        v.fail('duplicated', n - 1, () => `bid seq ${s} forwarded ${n} times`);
      // Timers: the close messages the timers wrote into `bids`, and the `closes` egress.
      const closeMessages = new Tally<string>();
      for (const r of await readTopic<Bid | Close>(transport, t.bids)) {
        if ('close' in r.value) closeMessages.add(r.value.close);
      }
      const closes = await closesOf(transport);
      for (const [a, n] of closeMessages.counts)
        v.fail('duplicated', n - 1, () => `close of ${a} in bids ${n} times`);
      for (const [a, n] of closes.counts)
        v.fail('duplicated', n - 1, () => `closes record of ${a} ${n} times`);
      for (const a of auctions.keys()) {
        const m = closeMessages.get(a);
        const c = closes.get(a);
        const bad = exact ? m !== 1 || c !== 1 : m === 0 || c === 0;
        v.fail(
          'timerMismatches',
          bad ? 1 : 0,
          () => `auction ${a}: ${m} close messages in bids, ${c} closes`,
        );
      }
      for (const a of closeMessages.counts.keys()) {
        v.fail('timerMismatches', auctions.has(a) ? 0 : 1, () => `close of ${a}, which got no bid`);
      }
      // Final state.
      const auction = await readChangelog(transport, changelogOf(ns, app, 'auction'));
      const count = auction.value<number>('count');
      const maxPrice = auction.value<number>('maxPrice');
      const closed = auction.value<boolean>('closed');
      const scheduled = auction.value<boolean>('closeScheduled');
      for (const [a, e] of auctions) {
        v.expectCount(exact, `auction count[${a}]`, e.count, count.get(a));
        v.expectCount(true, `auction maxPrice[${a}]`, e.maxPrice, maxPrice.get(a));
        const flags = closed.get(a) === true && scheduled.get(a) === true;
        v.fail(
          'stateMismatches',
          flags ? 0 : 1,
          () => `auction ${a}: closed=${closed.get(a)} scheduled=${scheduled.get(a)}`,
        );
      }
      v.unexpectedActors('auction count', count, auctions);
      const bidder = await readChangelog(transport, changelogOf(ns, app, 'bidder'));
      const total = bidder.value<number>('total');
      const bidCount = bidder.value<number>('count');
      for (const [b, e] of bidders) {
        v.expectCount(exact, `bidder total[${b}]`, e.total, total.get(b));
        v.expectCount(exact, `bidder count[${b}]`, e.count, bidCount.get(b));
      }
      v.unexpectedActors('bidder total', total, bidders);
      return v.verdict;
    },
  };
}
