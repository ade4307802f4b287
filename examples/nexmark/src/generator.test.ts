// The generator: proportions, ids and references, determinism, skew (hot keys and Pareto), sizes, auction
// lengths, and options checking.
import { ConfigError } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import {
  eventTypeOf,
  lastBase0AuctionId,
  lastBase0PersonId,
  NEXMARK_DEFAULTS,
  type NexmarkEvent,
  NexmarkGenerator,
  type NexmarkOptions,
} from './index.ts';

const bidsOf = (events: readonly NexmarkEvent[]) => events.flatMap((e) => (e.type === 'bid' ? [e.bid] : []));
const personsOf = (events: readonly NexmarkEvent[]) =>
  events.flatMap((e) => (e.type === 'person' ? [e.person] : []));
const auctionsOf = (events: readonly NexmarkEvent[]) =>
  events.flatMap((e) => (e.type === 'auction' ? [e.auction] : []));

/** Share of all bids that the `fraction` most bid-on keys take. */
function topShare(keys: readonly number[], fraction: number, population: number): number {
  const counts = new Map<number, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  const top = Math.max(1, Math.ceil(population * fraction));
  const sorted = [...counts.values()].sort((a, b) => b - a);
  return sorted.slice(0, top).reduce((a, b) => a + b, 0) / keys.length;
}

const configError = (options: NexmarkOptions): ConfigError => {
  try {
    new NexmarkGenerator(options);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no ConfigError');
};

describe('NexmarkGenerator', () => {
  it('makes 1 person, 3 auctions and 46 bids, in that order, in every block of 50 events', () => {
    const events = new NexmarkGenerator().take(5_000);
    for (let block = 0; block < 100; block++) {
      const types = events.slice(block * 50, block * 50 + 50).map((e) => e.type);
      expect(types).toEqual(['person', 'auction', 'auction', 'auction', ...Array(46).fill('bid')]);
    }
    expect(events.map((_, i) => eventTypeOf(i))).toEqual(events.map((e) => e.type));
  });

  it('numbers persons and auctions sequentially from 1000, and bids refer to recent ones', () => {
    const events = new NexmarkGenerator().take(20_000);
    const persons = personsOf(events);
    const auctions = auctionsOf(events);
    expect(persons.map((p) => p.id)).toEqual(persons.map((_, k) => 1000 + k));
    expect(auctions.map((a) => a.id)).toEqual(auctions.map((_, k) => 1000 + k));
    const outOfRange = events.filter((e, i) => {
      if (e.type !== 'bid') return false;
      const lastAuction = 1000 + lastBase0AuctionId(i);
      const lastPerson = 1000 + lastBase0PersonId(i);
      // Beam: the in-flight window plus an id lead of 10 (a bid may come before its auction).
      const { auction, bidder } = e.bid;
      return (
        auction < lastAuction - 100 ||
        auction > lastAuction + 10 ||
        bidder < Math.max(1000, lastPerson - 999) ||
        bidder > lastPerson + 10
      );
    });
    expect(outOfRange).toEqual([]);
  });

  it('with idLead 0, every bid and auction refers to an auction and persons that exist already', () => {
    for (const skew of [{ kind: 'hot' }, { kind: 'pareto', alpha: 1 }] as const) {
      const events = new NexmarkGenerator({ idLead: 0, skew }).take(20_000);
      const persons = new Set<number>();
      const auctions = new Set<number>();
      const dangling: NexmarkEvent[] = [];
      for (const e of events) {
        if (e.type === 'person') persons.add(e.person.id);
        else if (e.type === 'auction') {
          if (!persons.has(e.auction.seller)) dangling.push(e);
          auctions.add(e.auction.id);
        } else if (!auctions.has(e.bid.auction) || !persons.has(e.bid.bidder)) dangling.push(e);
      }
      expect(dangling).toEqual([]);
    }
  });

  it('gives the same events for the same seed and different ones for another seed', () => {
    const a = new NexmarkGenerator({ seed: 42 }).take(2_000);
    const b = new NexmarkGenerator({ seed: 42 });
    expect([...b.take(1_000), ...b.take(1_000)]).toEqual(a);
    const c = new NexmarkGenerator({ seed: 43 }).take(2_000);
    expect(c).not.toEqual(a);
    // Same structure (kinds, ids, times), different content.
    expect(c.map((e) => e.type)).toEqual(a.map((e) => e.type));
    expect(bidsOf(c).map((x) => x.price)).not.toEqual(bidsOf(a).map((x) => x.price));
    // Pareto skew is deterministic too.
    const p = (seed: number) =>
      new NexmarkGenerator({ seed, skew: { kind: 'pareto', alpha: 1.2 } }).take(3_000);
    expect(p(5)).toEqual(p(5));
    expect(p(5)).not.toEqual(p(6));
  });

  it('iterates endlessly and keeps its position', () => {
    const g = new NexmarkGenerator();
    let n = 0;
    for (const _ of g) if (++n === 120) break;
    expect(g.position).toBe(120);
    expect(g.next().type).toBe(eventTypeOf(120));
  });

  it('with the default hot skew sends about half of the bids to the hot auction and 3/4 to hot bidders', () => {
    const events = new NexmarkGenerator().take(50_000);
    let bids = 0;
    let hotAuction = 0;
    let hotBidder = 0;
    events.forEach((e, i) => {
      if (e.type !== 'bid') return;
      bids++;
      if (e.bid.auction === 1000 + Math.floor(lastBase0AuctionId(i) / 100) * 100) hotAuction++;
      if (e.bid.bidder === 1000 + Math.floor(lastBase0PersonId(i) / 100) * 100 + 1) hotBidder++;
    });
    expect(hotAuction / bids).toBeGreaterThan(0.47);
    expect(hotAuction / bids).toBeLessThan(0.54);
    expect(hotBidder / bids).toBeGreaterThan(0.72);
    expect(hotBidder / bids).toBeLessThan(0.78);
    const hotSeller = auctionsOf(events).filter((a, k) => {
      const i = Math.floor(k / 3) * 50 + 1 + (k % 3);
      return a.seller === 1000 + Math.floor(lastBase0PersonId(i) / 100) * 100;
    }).length;
    expect(hotSeller / auctionsOf(events).length).toBeGreaterThan(0.7);
  });

  it('with Pareto skew puts most bids on a few auctions and bidders; without skew it spreads them', () => {
    const skewed = new NexmarkGenerator({ skew: { kind: 'pareto', alpha: 1 } }).take(50_000);
    const numAuctions = auctionsOf(skewed).length;
    const numPersons = personsOf(skewed).length;
    const bids = bidsOf(skewed);
    const auctionTop1 = topShare(
      bids.map((b) => b.auction),
      0.01,
      numAuctions,
    );
    expect(auctionTop1).toBeGreaterThan(0.3);
    expect(
      topShare(
        bids.map((b) => b.auction),
        0.1,
        numAuctions,
      ),
    ).toBeGreaterThan(0.75);
    expect(
      topShare(
        bids.map((b) => b.bidder),
        0.01,
        numPersons,
      ),
    ).toBeGreaterThan(0.4);
    // A larger alpha concentrates more.
    const sharper = bidsOf(new NexmarkGenerator({ skew: { kind: 'pareto', alpha: 2 } }).take(50_000));
    expect(
      topShare(
        sharper.map((b) => b.auction),
        0.01,
        numAuctions,
      ),
    ).toBeGreaterThan(auctionTop1);

    const flat = { kind: 'hot', hotAuctionRatio: 1, hotBiddersRatio: 1, hotSellersRatio: 1 } as const;
    const uniform = new NexmarkGenerator({ skew: flat }).take(50_000);
    expect(
      topShare(
        bidsOf(uniform).map((b) => b.auction),
        0.01,
        numAuctions,
      ),
    ).toBeLessThan(0.05);
  });

  it('pads records to the average byte sizes (8 bytes per number plus string lengths)', () => {
    const events = new NexmarkGenerator().take(20_000);
    const size = (o: object) =>
      Object.values(o).reduce<number>((n, v) => n + (typeof v === 'number' ? 8 : String(v).length), 0);
    const mean = (xs: readonly object[]) => xs.reduce<number>((n, x) => n + size(x), 0) / xs.length;
    expect(mean(personsOf(events))).toBeGreaterThan(190);
    expect(mean(personsOf(events))).toBeLessThan(210);
    expect(mean(auctionsOf(events))).toBeGreaterThan(475);
    expect(mean(auctionsOf(events))).toBeLessThan(525);
    // Channel and url alone are often past 100 bytes: then a bid has no padding.
    expect(mean(bidsOf(events))).toBeGreaterThan(95);
    expect(mean(bidsOf(events))).toBeLessThan(125);
    const big = new NexmarkGenerator({ avgBidByteSize: 1000 }).take(5_000);
    expect(mean(bidsOf(big))).toBeGreaterThan(950);
    expect(mean(bidsOf(big))).toBeLessThan(1050);
  });

  it('draws fields from the expected ranges', () => {
    const events = new NexmarkGenerator().take(10_000);
    const auctions = auctionsOf(events);
    expect(new Set(auctions.map((a) => a.category))).toEqual(
      new Set([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]),
    );
    for (const a of auctions) {
      expect(a.reserve).toBeGreaterThan(a.initialBid);
      expect(a.expires).toBeGreaterThan(a.dateTime);
    }
    const prices = bidsOf(events).map((b) => b.price);
    expect(Math.min(...prices)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...prices)).toBeLessThanOrEqual(100_000_000);
    const channels = new Set(bidsOf(events).map((b) => b.channel));
    for (const hot of ['Google', 'Facebook', 'Baidu', 'Apple']) expect(channels.has(hot)).toBe(true);
    for (const p of personsOf(events)) {
      expect(p.creditCard).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
      expect(p.emailAddress).toMatch(/@.+\.com$/);
    }
  });

  it("closes auctions after auctionLengthMs, or after Beam's horizon-based random length", () => {
    const fixed = auctionsOf(new NexmarkGenerator({ auctionLengthMs: 30_000 }).take(1_000));
    for (const a of fixed) expect(a.expires - a.dateTime).toBe(30_000);
    // Horizon: 100 auctions ahead = 1666 events = 166.6 ms at 10k events/s; lengths uniform in [1, 2 * 166].
    const horizon = auctionsOf(new NexmarkGenerator().take(20_000)).map((a) => a.expires - a.dateTime);
    expect(Math.min(...horizon)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...horizon)).toBeLessThanOrEqual(334);
    const mean = horizon.reduce((a, b) => a + b, 0) / horizon.length;
    expect(mean).toBeGreaterThan(150);
    expect(mean).toBeLessThan(185);
  });

  it('rejects wrong options with a ConfigError naming the field', () => {
    expect(configError({ seed: -1 }).field).toBe('seed');
    expect(configError({ seed: 1.5 }).field).toBe('seed');
    expect(configError({ numInFlightAuctions: 0 }).field).toBe('numInFlightAuctions');
    expect(configError({ numActivePeople: 0 }).field).toBe('numActivePeople');
    expect(configError({ auctionLengthMs: 0 }).field).toBe('auctionLengthMs');
    expect(configError({ avgBidByteSize: -5 }).field).toBe('avgBidByteSize');
    expect(configError({ rate: { shape: 'constant', perSec: 0 } }).field).toBe('rate.perSec');
    expect(configError({ rate: { shape: 'square', low: 5, high: 1, periodMs: 10 } }).field).toBe('rate.low');
    expect(configError({ rate: { shape: 'sine', low: 1, high: 5, periodMs: -1 } }).field).toBe(
      'rate.periodMs',
    );
    expect(configError({ rate: { shape: 'saw' } as never }).field).toBe('rate.shape');
    expect(configError({ skew: { kind: 'pareto', alpha: 0 } }).field).toBe('skew.alpha');
    expect(configError({ skew: { kind: 'hot', hotAuctionRatio: 0 } }).field).toBe('skew.hotAuctionRatio');
    expect(configError({ skew: { kind: 'zipf' } as never }).field).toBe('skew.kind');
    expect(configError({ sede: 1 } as never).field).toBe('sede');
    expect(configError({ seed: 1.5 }).message).toMatch(/^seed: /);
  });

  it('keeps its defaults in one frozen object and fills them in', () => {
    expect(Object.isFrozen(NEXMARK_DEFAULTS)).toBe(true);
    const g = new NexmarkGenerator({ skew: { kind: 'hot', hotAuctionRatio: 3 } });
    expect(g.options.skew).toEqual({
      kind: 'hot',
      hotAuctionRatio: 3,
      hotBiddersRatio: 4,
      hotSellersRatio: 4,
    });
    expect(g.options.numInFlightAuctions).toBe(100);
    expect(g.options.numActivePeople).toBe(1000);
  });
});
