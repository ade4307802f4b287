// The NEXMark event generator, after Apache Beam's (and the Flink nexmark project's) GeneratorConfig and
// Person/Auction/BidGenerator: in every block of 50 events, 1 person, then 3 auctions, then 46 bids; ids
// follow from the event number; bids go to recent auctions and persons with hot-key or Pareto skew. Each event
// is drawn from its own PRNG seeded by (seed, event number), so the stream depends only on seed and options.
import type { Auction, Bid, NexmarkEvent, NexmarkEventType, Person } from './model.ts';
import { type NexmarkOptions, type ResolvedNexmarkOptions, resolveNexmarkOptions } from './options.ts';
import { hash32, mix32, nextExtra, nextString, Random, reverseBits32 } from './random.ts';
import { RankedWindow } from './ranked-window.ts';
import { eventOffsetMs } from './rate.ts';

/** Persons in each block of `PROPORTION_DENOMINATOR` events (they come first). */
export const PERSON_PROPORTION = 1;
/** Auctions in each block (after the person). */
export const AUCTION_PROPORTION = 3;
/** Bids in each block (the rest). */
export const BID_PROPORTION = 46;
/** Events per block. */
export const PROPORTION_DENOMINATOR = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

/** Beam's HOT_AUCTION_RATIO / HOT_BIDDER_RATIO / HOT_SELLER_RATIO: the hot id is one per block of 100 ids. */
const HOT_BLOCK = 100;
const FIRST_CATEGORY_ID = 10;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'] as const;
/** 1 / HOT_CHANNELS_RATIO of bids come from `channel-<n>`, the others from a hot channel. */
const HOT_CHANNELS_RATIO = 2;
const NUM_CHANNELS = 10_000;
const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
];
const FIRST_NAMES = [
  'Peter',
  'Paul',
  'Luke',
  'John',
  'Saul',
  'Vicky',
  'Kate',
  'Julie',
  'Sarah',
  'Deiter',
  'Walter',
];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];

/** Salts that make the seed's independent streams. */
const SALT = { event: 0x51ed270b, auctionScore: 0x3c6ef372, personScore: 0xa54ff53a, channel: 0x510e527f };

/** The kind of event number `i` (0-based): person at offset 0 of each block of 50, auctions at 1-3, else bid. */
export function eventTypeOf(i: number): NexmarkEventType {
  const offset = i % PROPORTION_DENOMINATOR;
  if (offset < PERSON_PROPORTION) return 'person';
  return offset < PERSON_PROPORTION + AUCTION_PROPORTION ? 'auction' : 'bid';
}

/** Base-0 id of the latest person at event `i` (the new one if `i` is a person); -1 before any. */
export function lastBase0PersonId(i: number): number {
  const epoch = Math.floor(i / PROPORTION_DENOMINATOR);
  const offset = Math.min(i % PROPORTION_DENOMINATOR, PERSON_PROPORTION - 1);
  return epoch * PERSON_PROPORTION + offset;
}

/** Base-0 id of the latest auction at event `i` (the new one if `i` is an auction); -1 before any. */
export function lastBase0AuctionId(i: number): number {
  let epoch = Math.floor(i / PROPORTION_DENOMINATOR);
  let offset = i % PROPORTION_DENOMINATOR;
  if (offset < PERSON_PROPORTION) {
    epoch--;
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
    offset = AUCTION_PROPORTION - 1;
  } else {
    offset -= PERSON_PROPORTION;
  }
  return epoch * AUCTION_PROPORTION + offset;
}

/** Beam's price: 10^(6u) dollars in cents, u uniform, i.e. log-uniform from $1 to $1M (median $1000). */
const nextPrice = (r: Random): number => Math.round(10 ** (r.nextDouble() * 6) * 100);

/**
 * A deterministic NEXMark event stream. `next()` returns events in order; event `i` has event time
 * `eventTimeOf(i)`. Not thread-shared: one generator per writer.
 *
 * ```ts
 * const gen = new NexmarkGenerator({ seed: 7, rate: { shape: 'sine', low: 100, high: 1000, periodMs: 60_000 } });
 * const first = gen.take(50); // 1 person, 3 auctions, 46 bids
 * ```
 */
export class NexmarkGenerator implements Iterable<NexmarkEvent> {
  /** The options in effect, defaults filled. */
  readonly options: ResolvedNexmarkOptions;
  private index = 0;
  /** With Pareto skew: in-flight auctions and active persons (base-0 ids) by popularity. */
  private readonly auctions: RankedWindow | undefined;
  private readonly persons: RankedWindow | undefined;
  private readonly channelUrls = new Map<number, string>();
  private readonly hotUrls: readonly string[];

  /** Throws `ConfigError` naming the field when an option is wrong. */
  constructor(options: NexmarkOptions = {}) {
    this.options = resolveNexmarkOptions(options);
    const { seed, skew } = this.options;
    if (skew.kind === 'pareto') {
      this.auctions = new RankedWindow(this.options.numInFlightAuctions, mix32(seed ^ SALT.auctionScore));
      this.persons = new RankedWindow(this.options.numActivePeople, mix32(seed ^ SALT.personScore));
    }
    this.hotUrls = HOT_CHANNELS.map((_, k) =>
      baseUrl(new Random(hash32(seed ^ SALT.channel, NUM_CHANNELS + k))),
    );
  }

  /** The number of the next event `next()` returns (= events generated so far). */
  get position(): number {
    return this.index;
  }

  /** Event time of event number `i` (0-based): `baseTime` + its place on the rate shape, floored to the ms. */
  eventTimeOf(i: number): number {
    return this.options.baseTime + Math.floor(eventOffsetMs(this.options.rate, i));
  }

  /** The next event. */
  next(): NexmarkEvent {
    const i = this.index++;
    const time = this.eventTimeOf(i);
    const r = new Random(hash32(this.options.seed ^ SALT.event, i));
    switch (eventTypeOf(i)) {
      case 'person':
        return { type: 'person', person: this.person(i, r, time) };
      case 'auction':
        return { type: 'auction', auction: this.auction(i, r, time) };
      default:
        return { type: 'bid', bid: this.bid(i, r, time) };
    }
  }

  /** The next `n` events. */
  take(n: number): NexmarkEvent[] {
    const out: NexmarkEvent[] = [];
    for (let k = 0; k < n; k++) out.push(this.next());
    return out;
  }

  /** Endless: iterate with a limit (`break`) or use `take`. */
  *[Symbol.iterator](): Iterator<NexmarkEvent> {
    for (;;) yield this.next();
  }

  private person(i: number, r: Random, dateTime: number): Person {
    const base0 = lastBase0PersonId(i);
    this.persons?.add(base0);
    const name = `${FIRST_NAMES[r.nextInt(FIRST_NAMES.length)]} ${LAST_NAMES[r.nextInt(LAST_NAMES.length)]}`;
    const emailAddress = `${nextString(r, 7)}@${nextString(r, 5)}.com`;
    const creditCard = [0, 1, 2, 3].map(() => String(r.nextInt(10_000)).padStart(4, '0')).join(' ');
    const city = US_CITIES[r.nextInt(US_CITIES.length)]!;
    const state = US_STATES[r.nextInt(US_STATES.length)]!;
    const size = 2 * 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    const extra = nextExtra(r, size, this.options.avgPersonByteSize);
    const id = base0 + this.options.firstPersonId;
    return { id, name, emailAddress, creditCard, city, state, dateTime, extra };
  }

  private auction(i: number, r: Random, dateTime: number): Auction {
    const o = this.options;
    const base0 = lastBase0AuctionId(i);
    let seller: number;
    if (o.skew.kind === 'pareto') seller = this.persons!.pick(r, o.skew.alpha);
    else if (r.nextInt(o.skew.hotSellersRatio) > 0)
      seller = Math.floor(lastBase0PersonId(i) / HOT_BLOCK) * HOT_BLOCK;
    else seller = this.randomPerson(i, r);
    const category = FIRST_CATEGORY_ID + r.nextInt(o.numCategories);
    const initialBid = nextPrice(r);
    const expires = dateTime + this.auctionLength(i, r, dateTime);
    const itemName = nextString(r, 20);
    const description = nextString(r, 100);
    const reserve = initialBid + nextPrice(r);
    const size = 7 * 8 + itemName.length + description.length;
    const extra = nextExtra(r, size, o.avgAuctionByteSize);
    this.auctions?.add(base0);
    return {
      id: base0 + o.firstAuctionId,
      itemName,
      description,
      initialBid,
      reserve,
      dateTime,
      expires,
      seller: seller + o.firstPersonId,
      category,
      extra,
    };
  }

  private bid(i: number, r: Random, dateTime: number): Bid {
    const o = this.options;
    let auction: number;
    let bidder: number;
    if (o.skew.kind === 'pareto') {
      auction = this.auctions!.pick(r, o.skew.alpha);
      bidder = this.persons!.pick(r, o.skew.alpha);
    } else {
      const lastAuction = lastBase0AuctionId(i);
      if (r.nextInt(o.skew.hotAuctionRatio) > 0) auction = Math.floor(lastAuction / HOT_BLOCK) * HOT_BLOCK;
      else {
        const min = Math.max(lastAuction - o.numInFlightAuctions, 0);
        auction = min + r.nextInt(lastAuction - min + 1 + o.idLead);
      }
      const lastPerson = lastBase0PersonId(i);
      // Beam takes the second person of the block so hot bidders and hot sellers differ; it may not exist
      // yet (then it is within the id lead; with idLead 0 the latest person stands in).
      if (r.nextInt(o.skew.hotBiddersRatio) > 0)
        bidder = Math.min(Math.floor(lastPerson / HOT_BLOCK) * HOT_BLOCK + 1, lastPerson + o.idLead);
      else bidder = this.randomPerson(i, r);
    }
    const price = nextPrice(r);
    let channel: string;
    let url: string;
    if (r.nextInt(HOT_CHANNELS_RATIO) > 0) {
      const k = r.nextInt(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[k]!;
      url = this.hotUrls[k]!;
    } else {
      const n = r.nextInt(NUM_CHANNELS);
      channel = `channel-${n}`;
      url = this.channelUrl(n);
    }
    const size = 4 * 8 + channel.length + url.length;
    const extra = nextExtra(r, size, o.avgBidByteSize);
    return {
      auction: auction + o.firstAuctionId,
      bidder: bidder + o.firstPersonId,
      price,
      channel,
      url,
      dateTime,
      extra,
    };
  }

  /** Beam's nextBase0PersonId: uniform over the active persons plus `idLead` future ones. */
  private randomPerson(i: number, r: Random): number {
    const numPeople = lastBase0PersonId(i) + 1;
    const active = Math.min(numPeople, this.options.numActivePeople);
    return numPeople - active + r.nextInt(active + this.options.idLead);
  }

  private auctionLength(i: number, r: Random, dateTime: number): number {
    const length = this.options.auctionLengthMs;
    if (length !== 'horizon') return length;
    // Beam: uniform from 1 to twice the time until numInFlightAuctions more auctions exist.
    const eventsAhead = Math.floor(
      (this.options.numInFlightAuctions * PROPORTION_DENOMINATOR) / AUCTION_PROPORTION,
    );
    const horizonMs = this.eventTimeOf(i + eventsAhead) - dateTime;
    return 1 + r.nextInt(Math.max(horizonMs * 2, 1));
  }

  private channelUrl(n: number): string {
    let url = this.channelUrls.get(n);
    if (url === undefined) {
      const r = new Random(hash32(this.options.seed ^ SALT.channel, n));
      url = baseUrl(r);
      if (r.nextInt(10) > 0) url += `&channel_id=${Math.abs(reverseBits32(n))}`;
      this.channelUrls.set(n, url);
    }
    return url;
  }
}

/** Beam's getBaseUrl: three short random path segments. */
const baseUrl = (r: Random): string =>
  `https://www.nexmark.com/${nextString(r, 5, '_')}/${nextString(r, 5, '_')}/${nextString(r, 5, '_')}/item.htm?query=1`;
