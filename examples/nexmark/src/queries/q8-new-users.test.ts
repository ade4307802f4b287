// Q8 (new users: a windowed join of persons and auctions keyed by person) on the test driver over 3000
// generated events, against the direct computation.
import { describe, expect, it } from 'vitest';
import { type FeedOptions, generate, lastTime, runQuery, TEST_EVENT_TIME } from './feed.test-util.ts';
import { type NewUserResult, q8App } from './q8-new-users.ts';
import { q8Reference } from './reference.ts';

const PER_SEC = 100;
const WINDOW_MS = 5_000;
const events = generate(3_000, PER_SEC, 8);
const app = q8App({
  topics: { persons: 'nx-persons', auctions: 'nx-auctions', results: 'nx-q8' },
  windowMs: WINDOW_MS,
  graceMs: 1_000,
  eventTime: TEST_EVENT_TIME,
});
const feedOptions: FeedOptions = {
  topics: { person: 'nx-persons', auction: 'nx-auctions' },
  partitions: 4,
  flushAfterMs: 2 * WINDOW_MS + 1_000,
};

describe('Q8 new users', () => {
  it('emits each person who created an auction in the window they joined, once, as computed directly', async () => {
    const run = await runQuery<NewUserResult>(app, 'nx-q8', events, feedOptions);
    const want = q8Reference([...events, ...run.flush], WINDOW_MS).filter((r) => r.start <= lastTime(events));
    expect(want.length).toBeGreaterThanOrEqual(5);
    const got = run.results
      .filter((r) => r.start <= lastTime(events))
      .sort((a, b) => a.start - b.start || a.id - b.id);
    expect(got).toEqual(want);
  });
});
