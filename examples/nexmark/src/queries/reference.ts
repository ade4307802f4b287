// Direct computations of the queries over a list of events (no windows library, no runtime): what each app must
// emit for the same events, one result per window (or per person and window), sorted. The tests check the apps
// against these.
import type { Auction, Bid, NexmarkEvent, Person } from '../model.ts';
import type { HighestBidResult } from './highest-bid.ts';
import type { HotItemsResult } from './q5-hot-items.ts';
import { betterBid, type Q7Result } from './q7-highest-bid.ts';
import type { NewUserResult } from './q8-new-users.ts';

const bidsOf = (events: readonly NexmarkEvent[]): Bid[] =>
  events.flatMap((e) => (e.type === 'bid' ? [e.bid] : []));
const floorTo = (t: number, size: number) => Math.floor(t / size) * size;
const byStart = <T extends { start: number }>(a: T, b: T) => a.start - b.start;

/** The highest-bid pipeline's results: per tumbling window, the top price and its (lowest) auction. */
export function highestBidReference(events: readonly NexmarkEvent[], windowMs: number): HighestBidResult[] {
  const best = new Map<number, HighestBidResult>();
  for (const b of bidsOf(events)) {
    const start = floorTo(b.dateTime, windowMs);
    const cur = best.get(start);
    if (cur === undefined || b.price > cur.price || (b.price === cur.price && b.auction < cur.auction))
      best.set(start, { start, end: start + windowMs, auction: b.auction, price: b.price });
  }
  return [...best.values()].sort(byStart);
}

/** Q5's results: per hopping window, the highest bid count of an auction and every auction with it. */
export function hotItemsReference(
  events: readonly NexmarkEvent[],
  windowMs: number,
  slideMs: number,
): HotItemsResult[] {
  const counts = new Map<number, Map<number, number>>();
  for (const b of bidsOf(events)) {
    for (let s = floorTo(b.dateTime, slideMs); s > b.dateTime - windowMs; s -= slideMs) {
      const m = counts.get(s) ?? new Map<number, number>();
      counts.set(s, m);
      m.set(b.auction, (m.get(b.auction) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .map(([start, m]) => {
      const count = Math.max(...m.values());
      const auctions = [...m.entries()]
        .filter(([, c]) => c === count)
        .map(([a]) => a)
        .sort((x, y) => x - y);
      return { start, end: start + windowMs, count, auctions };
    })
    .sort(byStart);
}

/** Q7's results: per tumbling window, the best bid (see `betterBid`). */
export function q7Reference(events: readonly NexmarkEvent[], windowMs: number): Q7Result[] {
  const best = new Map<number, Q7Result>();
  for (const b of bidsOf(events)) {
    const start = floorTo(b.dateTime, windowMs);
    const cur = best.get(start);
    const mine = { auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime };
    if (cur === undefined || betterBid(mine, cur)) best.set(start, { start, end: start + windowMs, ...mine });
  }
  return [...best.values()].sort(byStart);
}

/** Q8's results: persons with the auctions they created in the window they joined, by window then id. */
export function q8Reference(events: readonly NexmarkEvent[], windowMs: number): NewUserResult[] {
  const persons: Person[] = events.flatMap((e) => (e.type === 'person' ? [e.person] : []));
  const auctions: Auction[] = events.flatMap((e) => (e.type === 'auction' ? [e.auction] : []));
  const out: NewUserResult[] = [];
  for (const p of persons) {
    const start = floorTo(p.dateTime, windowMs);
    const n = auctions.filter((a) => a.seller === p.id && floorTo(a.dateTime, windowMs) === start).length;
    if (n > 0) out.push({ id: p.id, name: p.name, start, end: start + windowMs, auctions: n });
  }
  return out.sort((a, b) => a.start - b.start || a.id - b.id);
}
