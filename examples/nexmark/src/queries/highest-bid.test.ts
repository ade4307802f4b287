// The highest-bid pipeline (aggregate -> reduce) on the test driver over 2000 generated events, against the
// direct computation; then again with the hot auctions' bids leased to a second worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeedOptions,
  generate,
  lastTime,
  registerForwarding,
  runQuery,
  TEST_EVENT_TIME,
} from './feed.test-util.ts';
import { type HighestBidResult, highestBidApp } from './highest-bid.ts';
import { highestBidReference } from './reference.ts';

const PER_SEC = 100;
const WINDOW_MS = 2_000;
const events = generate(2_000, PER_SEC);
const app = highestBidApp({
  topics: { bids: 'nx-bids', results: 'nx-highest-bid' },
  windowMs: WINDOW_MS,
  graceMs: 1_000,
  eventTime: TEST_EVENT_TIME,
  leasing: { idleRevokeMs: 1_000 },
});
const feedOptions: FeedOptions = {
  topics: { bid: 'nx-bids' },
  partitions: 4,
  flushAfterMs: 2 * WINDOW_MS + 1_000,
};

let unregister = () => {};
beforeAll(() => {
  // The generator's hot auctions are the first of each block of 100 (1000, 1100, ...).
  unregister = registerForwarding(
    'nx-lease-hot-auctions',
    (fn, key) => fn === 'aggregate' && Number(key) % 100 === 0,
  );
});
afterAll(() => unregister());

describe('highest bid per window (aggregate by auction -> reduce)', () => {
  const expected = async (flush: Parameters<typeof highestBidReference>[0]) =>
    highestBidReference([...events, ...flush], WINDOW_MS).filter((r) => r.start <= lastTime(events));
  const sorted = (rs: HighestBidResult[]) =>
    rs.filter((r) => r.start <= lastTime(events)).sort((a, b) => a.start - b.start);

  it('emits each window once, as the direct computation over the events', async () => {
    const run = await runQuery<HighestBidResult>(app, 'nx-highest-bid', events, feedOptions);
    const want = await expected(run.flush);
    expect(want.length).toBeGreaterThanOrEqual(10);
    expect(sorted(run.results)).toEqual(want);
  });

  it('gives the same results with the hot auctions leased to another worker', async () => {
    const run = await runQuery<HighestBidResult>(app, 'nx-highest-bid', events, feedOptions, {
      workers: 2,
      scheduler: { policy: 'nx-lease-hot-auctions' },
    });
    expect(run.counters.forwarded).toBeGreaterThan(100);
    expect(sorted(run.results)).toEqual(await expected(run.flush));
  });
});
