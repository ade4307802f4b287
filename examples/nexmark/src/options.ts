// Generator options: the defaults (Beam's NEXMark defaults where Beam has one) in one frozen object, and the
// one place where options are checked; every wrong field throws a ConfigError naming the field.
import { ConfigError } from '@dirigo/core';
import { type RateShape, validateRate } from './rate.ts';

/**
 * Which persons and auctions bids (and auctions' sellers) go to:
 * - `hot` (Beam's): with probability 1 - 1/hotAuctionRatio a bid goes to the current hot auction (the first
 *   of the latest block of 100 auctions), else to a uniformly chosen recent one; likewise bidders
 *   (hotBiddersRatio, the second person of the latest block of 100) and sellers (hotSellersRatio, the first).
 *   A ratio of 1 turns that skew off.
 * - `pareto`: every auction and person gets a fixed pseudo-random popularity score; a bid picks the auction of
 *   rank r (0 = most popular) among the in-flight ones, r following a Pareto(alpha) law truncated to the
 *   window (P(r = 0) = 1 - 2^-alpha when the window is large); bidders and sellers likewise among the active
 *   persons. Smaller alpha spreads bids more; alpha = 1 puts about half of them on the top auction.
 */
export type Skew =
  | {
      readonly kind: 'hot';
      readonly hotAuctionRatio?: number;
      readonly hotBiddersRatio?: number;
      readonly hotSellersRatio?: number;
    }
  | { readonly kind: 'pareto'; readonly alpha: number };

/** A skew with every field filled. */
export type ResolvedSkew =
  | {
      readonly kind: 'hot';
      readonly hotAuctionRatio: number;
      readonly hotBiddersRatio: number;
      readonly hotSellersRatio: number;
    }
  | { readonly kind: 'pareto'; readonly alpha: number };

/** Options of `NexmarkGenerator`; every field is optional (see `NEXMARK_DEFAULTS`). */
export interface NexmarkOptions {
  /** Seed of all randomness, an integer from 0 to 2^32 - 1. Same seed and options, same events. */
  readonly seed?: number;
  /**
   * Event time of the first event, ms since the epoch. The default is a fixed instant (for determinism); pass
   * `Date.now()` when writing to a cluster with time-based retention, which deletes old-stamped segments.
   */
  readonly baseTime?: number;
  /** Events per second of event time, over time. */
  readonly rate?: RateShape;
  readonly skew?: Skew;
  /** Auctions a bid may refer to: the latest ones (Beam: numInFlightAuctions). */
  readonly numInFlightAuctions?: number;
  /** Persons a bid or auction may refer to: the latest ones (Beam: numActivePeople). */
  readonly numActivePeople?: number;
  /**
   * With `hot` skew, how many not-yet-created ids a uniformly chosen auction or person may be (Beam's
   * AUCTION_ID_LEAD / PERSON_ID_LEAD = 10: a bid may arrive before its auction). 0 makes every reference point
   * to an existing auction or person. Pareto skew only picks existing ones.
   */
  readonly idLead?: number;
  readonly firstPersonId?: number;
  readonly firstAuctionId?: number;
  /** Categories 10, 11, ...; Beam has 5. */
  readonly numCategories?: number;
  /**
   * How long auctions stay open: a fixed number of ms, or `'horizon'` (Beam's): uniform from 1 ms to twice the
   * event time it takes to create `numInFlightAuctions` more auctions at the current rate.
   */
  readonly auctionLengthMs?: number | 'horizon';
  /** Average size of a person (8 bytes per number plus string lengths), reached by padding `extra`. */
  readonly avgPersonByteSize?: number;
  readonly avgAuctionByteSize?: number;
  readonly avgBidByteSize?: number;
}

/** Options with every field filled and checked. */
export interface ResolvedNexmarkOptions {
  readonly seed: number;
  readonly baseTime: number;
  readonly rate: RateShape;
  readonly skew: ResolvedSkew;
  readonly numInFlightAuctions: number;
  readonly numActivePeople: number;
  readonly idLead: number;
  readonly firstPersonId: number;
  readonly firstAuctionId: number;
  readonly numCategories: number;
  readonly auctionLengthMs: number | 'horizon';
  readonly avgPersonByteSize: number;
  readonly avgAuctionByteSize: number;
  readonly avgBidByteSize: number;
}

/** Defaults of every generator option (Beam's NEXMark defaults, except 10 categories). */
export const NEXMARK_DEFAULTS: ResolvedNexmarkOptions = Object.freeze({
  seed: 1,
  baseTime: Date.UTC(2025, 0, 1),
  rate: Object.freeze({ shape: 'constant', perSec: 10_000 } as const),
  skew: Object.freeze({ kind: 'hot', hotAuctionRatio: 2, hotBiddersRatio: 4, hotSellersRatio: 4 } as const),
  numInFlightAuctions: 100,
  numActivePeople: 1000,
  idLead: 10,
  firstPersonId: 1000,
  firstAuctionId: 1000,
  numCategories: 10,
  auctionLengthMs: 'horizon',
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
});

const OPTION_KEYS = Object.keys(NEXMARK_DEFAULTS);

const integer = (field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new ConfigError(field, `${String(value)} is not an integer from ${min} to ${max}`);
  return value;
};

function resolveSkew(skew: unknown): ResolvedSkew {
  if (typeof skew !== 'object' || skew === null)
    throw new ConfigError('skew', "must be { kind: 'hot', ... } or { kind: 'pareto', alpha }");
  const s = skew as Record<string, unknown>;
  const known = (keys: readonly string[]) => {
    for (const key of Object.keys(s))
      if (!keys.includes(key))
        throw new ConfigError(`skew.${key}`, `unknown field; known are ${keys.join(', ')}`);
  };
  if (s.kind === 'hot') {
    const d = NEXMARK_DEFAULTS.skew as Extract<ResolvedSkew, { kind: 'hot' }>;
    known(['kind', 'hotAuctionRatio', 'hotBiddersRatio', 'hotSellersRatio']);
    const ratio = (key: 'hotAuctionRatio' | 'hotBiddersRatio' | 'hotSellersRatio') =>
      integer(`skew.${key}`, s[key] ?? d[key], 1, 2 ** 32);
    return Object.freeze({
      kind: 'hot',
      hotAuctionRatio: ratio('hotAuctionRatio'),
      hotBiddersRatio: ratio('hotBiddersRatio'),
      hotSellersRatio: ratio('hotSellersRatio'),
    });
  }
  if (s.kind === 'pareto') {
    known(['kind', 'alpha']);
    const alpha = s.alpha;
    if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
      throw new ConfigError('skew.alpha', `${String(alpha)} is not a positive number`);
    return Object.freeze({ kind: 'pareto', alpha });
  }
  throw new ConfigError('skew.kind', `${String(s.kind)} is not 'hot' or 'pareto'`);
}

/** Fills defaults and checks every option; throws `ConfigError` naming the first wrong field. */
export function resolveNexmarkOptions(options: NexmarkOptions = {}): ResolvedNexmarkOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'must be an object');
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.includes(key))
      throw new ConfigError(key, `unknown option; known options are ${OPTION_KEYS.join(', ')}`);
  const o = { ...NEXMARK_DEFAULTS, ...stripUndefined(options) };
  const auctionLengthMs =
    o.auctionLengthMs === 'horizon' ? 'horizon' : integer('auctionLengthMs', o.auctionLengthMs, 1);
  return Object.freeze({
    seed: integer('seed', o.seed, 0, 0xffff_ffff),
    baseTime: integer('baseTime', o.baseTime, 0),
    rate: Object.freeze(validateRate(o.rate, 'rate')),
    skew: resolveSkew(o.skew),
    numInFlightAuctions: integer('numInFlightAuctions', o.numInFlightAuctions, 1, 1_000_000),
    numActivePeople: integer('numActivePeople', o.numActivePeople, 1, 1_000_000),
    idLead: integer('idLead', o.idLead, 0, 1_000_000),
    firstPersonId: integer('firstPersonId', o.firstPersonId, 0),
    firstAuctionId: integer('firstAuctionId', o.firstAuctionId, 0),
    numCategories: integer('numCategories', o.numCategories, 1, 1_000_000),
    auctionLengthMs,
    avgPersonByteSize: integer('avgPersonByteSize', o.avgPersonByteSize, 0, 10_000_000),
    avgAuctionByteSize: integer('avgAuctionByteSize', o.avgAuctionByteSize, 0, 10_000_000),
    avgBidByteSize: integer('avgBidByteSize', o.avgBidByteSize, 0, 10_000_000),
  });
}

const stripUndefined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
