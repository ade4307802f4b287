// The NEXMark data model: people register, open auctions and bid on them. Field names follow Apache Beam's
// NEXMark model; numbers are JS numbers (prices in cents), times are event times in ms since the epoch.

/** A new user of the auction site. */
export interface Person {
  /** Sequential per person, from `firstPersonId` (1000 by default, as in Beam). */
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  /** A US state code (six of them, as in Beam). */
  readonly state: string;
  /** Event time, ms since the epoch. */
  readonly dateTime: number;
  /** Padding so that records average `avgPersonByteSize` (Beam's `extra`); carries no meaning. */
  readonly extra: string;
}

/** A new auction: an item put on sale by a person (`seller`) until `expires`. */
export interface Auction {
  /** Sequential per auction, from `firstAuctionId` (1000 by default, as in Beam). */
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  /** Cents. */
  readonly initialBid: number;
  /** Cents; always above `initialBid`. */
  readonly reserve: number;
  /** Event time, ms since the epoch. */
  readonly dateTime: number;
  /** When the auction closes (event time, ms since the epoch); after `dateTime`. */
  readonly expires: number;
  /** A person id. */
  readonly seller: number;
  /** From 10 to 10 + `numCategories` - 1. */
  readonly category: number;
  /** Padding so that records average `avgAuctionByteSize` (Beam's `extra`); carries no meaning. */
  readonly extra: string;
}

/** A bid of a person (`bidder`) on an auction. */
export interface Bid {
  /** An auction id. */
  readonly auction: number;
  /** A person id. */
  readonly bidder: number;
  /** Cents. */
  readonly price: number;
  /** Where the bid came from: one of four hot channels half of the time, else `channel-<n>`. */
  readonly channel: string;
  readonly url: string;
  /** Event time, ms since the epoch. */
  readonly dateTime: number;
  /** Padding so that records average `avgBidByteSize` (Beam's `extra`); carries no meaning. */
  readonly extra: string;
}

/** One event of the NEXMark stream. */
export type NexmarkEvent =
  | { readonly type: 'person'; readonly person: Person }
  | { readonly type: 'auction'; readonly auction: Auction }
  | { readonly type: 'bid'; readonly bid: Bid };

/** The kind of an event: its `type`. */
export type NexmarkEventType = NexmarkEvent['type'];

/** The event time of any event. */
export const eventTime = (e: NexmarkEvent): number =>
  e.type === 'person' ? e.person.dateTime : e.type === 'auction' ? e.auction.dateTime : e.bid.dateTime;
