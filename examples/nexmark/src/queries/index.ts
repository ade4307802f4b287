// The NEXMark queries as apps, and their direct computations over events.

export {
  DEFAULT_EVENT_TIME,
  DEFAULT_TOPICS,
  dateTimeOf,
  type QueryOptions,
  type QueryTopics,
  type ResolvedQueryOptions,
  resolveQueryOptions,
} from './common.ts';
export {
  type AuctionWindowMax,
  bestAuction,
  type HighestBidOptions,
  type HighestBidResult,
  highestBidApp,
} from './highest-bid.ts';
export {
  type AuctionWindowCount,
  type HotItemsOptions,
  type HotItemsResult,
  hotItemsApp,
  maxCount,
} from './q5-hot-items.ts';
export { type BidSummary, betterBid, highestBid, type Q7Result, q7App } from './q7-highest-bid.ts';
export { type JoinMessage, type NewUser, type NewUserResult, newUser, q8App } from './q8-new-users.ts';
export { highestBidReference, hotItemsReference, q7Reference, q8Reference } from './reference.ts';
