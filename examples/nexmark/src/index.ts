// Public exports of @dirigo/example-nexmark: the NEXMark model, the deterministic event generator with its
// options and rate shapes, and the Kafka writer.

export {
  AUCTION_PROPORTION,
  BID_PROPORTION,
  eventTypeOf,
  lastBase0AuctionId,
  lastBase0PersonId,
  NexmarkGenerator,
  PERSON_PROPORTION,
  PROPORTION_DENOMINATOR,
} from './generator.ts';
export {
  type Auction,
  type Bid,
  eventTime,
  type NexmarkEvent,
  type NexmarkEventType,
  type Person,
} from './model.ts';
export {
  NEXMARK_DEFAULTS,
  type NexmarkOptions,
  type ResolvedNexmarkOptions,
  type ResolvedSkew,
  resolveNexmarkOptions,
  type Skew,
} from './options.ts';
export * from './queries/index.ts';
export { eventOffsetMs, type RateShape, validateRate } from './rate.ts';
export {
  DEFAULT_WRITE_BATCH,
  eventKey,
  type NexmarkTopics,
  nexmarkRecord,
  type WriteNexmarkOptions,
  type WriteNexmarkResult,
  writeNexmark,
} from './writer.ts';
