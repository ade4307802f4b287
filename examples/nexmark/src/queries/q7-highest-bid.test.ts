// Q7 (highest bid per window, with its bidder) on the test driver over 2000 generated events, against the direct
// computation; then with its single key leased to a second worker (every bid of the window runs at a lessee,
// the close merges the partial best bids).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeedOptions,
  generate,
  lastTime,
  registerForwarding,
  runQuery,
  TEST_EVENT_TIME,
} from './feed.test-util.ts';
import { type Q7Result, q7App } from './q7-highest-bid.ts';
import { q7Reference } from './reference.ts';

const PER_SEC = 100;
const WINDOW_MS = 2_000;
const events = generate(2_000, PER_SEC, 7);
const app = q7App({
  topics: { bids: 'nx-bids', results: 'nx-q7' },
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
  unregister = registerForwarding('nx-q7-lease-all', (fn) => fn === 'highest');
});
afterAll(() => unregister());

describe('Q7 highest bid', () => {
  const expected = (flush: Parameters<typeof q7Reference>[0]) =>
    q7Reference([...events, ...flush], WINDOW_MS).filter((r) => r.start <= lastTime(events));
  const sorted = (rs: Q7Result[]) =>
    rs.filter((r) => r.start <= lastTime(events)).sort((a, b) => a.start - b.start);

  it('emits the highest bid of each window once, as computed directly', async () => {
    const run = await runQuery<Q7Result>(app, 'nx-q7', events, feedOptions);
    const want = expected(run.flush);
    expect(want.length).toBeGreaterThanOrEqual(10);
    expect(sorted(run.results)).toEqual(want);
  });

  it('gives the same results with its one key leased to another worker', async () => {
    const run = await runQuery<Q7Result>(app, 'nx-q7', events, feedOptions, {
      workers: 2,
      scheduler: { policy: 'nx-q7-lease-all' },
    });
    expect(run.counters.forwarded).toBeGreaterThan(1_000);
    expect(sorted(run.results)).toEqual(expected(run.flush));
  });
});
