// NEXMark bids in Avro with a Schema Registry. Producers write bids to `bids` in the Confluent wire format,
// keyed by auction id (an Avro `long` key); some still write the first version of the schema, others the
// second (with `currency`, default "USD"). The app reads both as version 2, keeps per auction the number of
// bids and the top price, and writes an Avro `AuctionStats` record to `auction-stats` on every bid. A record
// that is not Avro, or whose schema id the registry does not know, goes to the dead-letter topic with the
// reason.
import { type AvroSchema, avro, avroKey, type RegistryClient } from '@dirigo/avro';
import { defineApp, fn, state } from '@dirigo/core';

const BID_FIELDS = [
  { name: 'auction', type: 'long' },
  { name: 'bidder', type: 'long' },
  { name: 'price', type: 'long' },
  { name: 'channel', type: 'string' },
  { name: 'url', type: 'string' },
  { name: 'dateTime', type: 'long' },
];

/** Version 1 of the bid schema (NEXMark's Bid). */
export const BID_V1: AvroSchema = {
  type: 'record',
  name: 'Bid',
  namespace: 'nexmark',
  fields: BID_FIELDS,
};

/** Version 2: adds `currency` with a default, so version-1 records still read (BACKWARD compatible). */
export const BID_V2: AvroSchema = {
  type: 'record',
  name: 'Bid',
  namespace: 'nexmark',
  fields: [...BID_FIELDS, { name: 'currency', type: 'string', default: 'USD' }],
};

export const AUCTION_STATS: AvroSchema = {
  type: 'record',
  name: 'AuctionStats',
  namespace: 'nexmark',
  fields: [
    { name: 'auction', type: 'long' },
    { name: 'bids', type: 'long' },
    { name: 'topPrice', type: 'long' },
    { name: 'currencies', type: { type: 'array', items: 'string' } },
  ],
};

export interface BidV2 {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  readonly dateTime: number;
  readonly currency: string;
}

export interface AuctionStats {
  readonly auction: number;
  readonly bids: number;
  readonly topPrice: number;
  readonly currencies: string[];
}

/**
 * The app, on a registry (default: the Confluent API at env SCHEMA_REGISTRY_URL) and under a topic prefix
 * (tests run it on fresh topics): `<prefix>bids` in, `<prefix>auction-stats` out.
 */
export function avroBidsApp(options: { registry?: RegistryClient; prefix?: string; name?: string } = {}) {
  const prefix = options.prefix ?? '';
  const registry = options.registry === undefined ? {} : { registry: options.registry };
  const bids = `${prefix}bids`;
  const stats = `${prefix}auction-stats`;
  const auctionKey = avroKey({ schema: 'long', subject: `${bids}-key`, ...registry });
  return defineApp({
    name: options.name ?? 'avro-bids',
    options: { latencyTargetMs: 500 },
    ingresses: [
      {
        topic: bids,
        to: 'auction',
        serde: avro<BidV2>({ schema: BID_V2, subject: `${bids}-value`, ...registry }),
      },
    ],
    egresses: {
      stats: {
        topic: stats,
        serde: avro<AuctionStats>({ schema: AUCTION_STATS, subject: `${stats}-value`, ...registry }),
        keySerde: auctionKey,
      },
    },
    functions: {
      auction: fn({
        keySerde: auctionKey,
        state: {
          bids: state.value<number>(),
          top: state.value<number>(),
          currencies: state.value<string[]>(),
        },
        handler(ctx, bid: BidV2) {
          const n = (ctx.state.bids.get() ?? 0) + 1;
          const top = Math.max(ctx.state.top.get() ?? 0, bid.price);
          const seen = ctx.state.currencies.get() ?? [];
          const currencies = seen.includes(bid.currency) ? seen : [...seen, bid.currency].sort();
          ctx.state.bids.set(n);
          ctx.state.top.set(top);
          ctx.state.currencies.set(currencies);
          ctx.emit('stats', ctx.key, { auction: bid.auction, bids: n, topPrice: top, currencies });
        },
      }),
    },
  });
}

export default avroBidsApp();
