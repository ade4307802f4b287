import { createPolicy, registerPolicy, type SchedulingPolicy, unregisterPolicy } from '@dirigo/runtime';
import { TestDriver } from '@dirigo/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import app, {
  type CampaignMessage,
  CLICKS_TOPIC,
  GRACE_MS,
  HOUR_MS,
  type HourlyReport,
  REPORTS_TOPIC,
} from './app.ts';

/** Leases the clicks of campaign 'viral' whenever it can (as `dirigo` would under load); FIFO otherwise. */
const leaseViral = (): SchedulingPolicy => {
  const fifo = createPolicy('fifo');
  return {
    name: 'lease-viral',
    onArrival: (m) => (m.key === 'viral' ? { forward: '' } : 'admit'),
    pickNext: (v) => fifo.pickNext(v),
  };
};
beforeAll(() => registerPolicy('lease-viral', leaseViral));
afterAll(() => unregisterPolicy('lease-viral'));

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);
const click = (campaign: string, user: string, at: number) => ({
  key: campaign,
  value: { type: 'click', user, at } satisfies CampaignMessage,
  timestamp: at,
});

describe('campaigns on the test driver', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('reports each hour once, after it ends, with every click of the hour, the viral campaign leased', async () => {
    driver = await TestDriver.start(app, { workers: 2, startTime: T0, scheduler: { policy: 'lease-viral' } });
    const viral = Array.from({ length: 300 }, (_, i) => click('viral', `u${i % 40}`, T0 + i * 1_000));
    const quiet = Array.from({ length: 20 }, (_, i) => click('quiet', `q${i % 5}`, T0 + i * 60_000));
    await driver.pipe(CLICKS_TOPIC, [...viral.slice(0, 150), ...quiet, ...viral.slice(150)]);
    expect(driver.leases().counters.forwarded).toBeGreaterThan(0);
    expect(await driver.output(REPORTS_TOPIC)).toEqual([]);
    // Clicks of the next hour, then the end of the hour and its grace period.
    await driver.pipe(CLICKS_TOPIC, [click('viral', 'late', T0 + HOUR_MS + 5_000)]);
    await driver.advance(HOUR_MS + GRACE_MS);
    const reports = (await driver.output<HourlyReport>(REPORTS_TOPIC)).map((r) => r.value);
    expect(reports.sort((a, b) => a.campaign.localeCompare(b.campaign))).toEqual([
      { campaign: 'quiet', hour: T0, clicks: 20, users: 5 },
      { campaign: 'viral', hour: T0, clicks: 300, users: 40 },
    ]);
    const { counters } = driver.leases();
    expect(counters.lesseeProcessed).toBe(counters.forwarded);
    expect(counters.barriers).toBeGreaterThanOrEqual(1);
    // The next hour's report comes an hour later, with the one click of that hour.
    await driver.advance(HOUR_MS);
    const next = (await driver.output<HourlyReport>(REPORTS_TOPIC)).map((r) => r.value).slice(2);
    expect(next).toEqual([{ campaign: 'viral', hour: T0 + HOUR_MS, clicks: 1, users: 1 }]);
  });

  it('gives the same reports with one worker and no leasing', async () => {
    driver = await TestDriver.start(app, { startTime: T0 });
    await driver.pipe(
      CLICKS_TOPIC,
      Array.from({ length: 100 }, (_, i) => click('viral', `u${i % 9}`, T0 + i * 1_000)),
    );
    await driver.advance(HOUR_MS + GRACE_MS);
    expect((await driver.output<HourlyReport>(REPORTS_TOPIC)).map((r) => r.value)).toEqual([
      { campaign: 'viral', hour: T0, clicks: 100, users: 9 },
    ]);
    expect(driver.leases().counters.forwarded).toBe(0);
  });
});
