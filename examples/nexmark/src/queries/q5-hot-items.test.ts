// Q5 (hot items) on the test driver over 2000 generated events, against the direct computation, also with the
// hot auctions' bids leased to a second worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeedOptions,
  generate,
  lastTime,
  registerForwarding,
  runQuery,
  TEST_EVENT_TIME,
} from './feed.test-util.ts';
import { type HotItemsResult, hotItemsApp } from './q5-hot-items.ts';
import { hotItemsReference } from './reference.ts';

const PER_SEC = 100;
const WINDOW_MS = 4_000;
const SLIDE_MS = 2_000;
const events = generate(2_000, PER_SEC, 5);
const app = hotItemsApp({
  topics: { bids: 'nx-bids', results: 'nx-q5' },
  windowMs: WINDOW_MS,
  slideMs: SLIDE_MS,
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
  unregister = registerForwarding('nx-q5-lease-hot', (fn, key) => fn === 'count' && Number(key) % 100 === 0);
});
afterAll(() => unregister());

describe('Q5 hot items (count by auction -> top per hopping window)', () => {
  const expected = (flush: Parameters<typeof hotItemsReference>[0]) =>
    hotItemsReference([...events, ...flush], WINDOW_MS, SLIDE_MS).filter((r) => r.start <= lastTime(events));
  const sorted = (rs: HotItemsResult[]) =>
    rs.filter((r) => r.start <= lastTime(events)).sort((a, b) => a.start - b.start);

  it('emits each hopping window once with its hottest auctions, as computed directly', async () => {
    const run = await runQuery<HotItemsResult>(app, 'nx-q5', events, feedOptions);
    const want = expected(run.flush);
    expect(want.length).toBeGreaterThanOrEqual(10);
    expect(sorted(run.results)).toEqual(want);
  });

  it('gives the same results with the hot auctions leased to another worker', async () => {
    const run = await runQuery<HotItemsResult>(app, 'nx-q5', events, feedOptions, {
      workers: 2,
      scheduler: { policy: 'nx-q5-lease-hot' },
    });
    expect(run.counters.forwarded).toBeGreaterThan(100);
    expect(sorted(run.results)).toEqual(expected(run.flush));
  });
});
