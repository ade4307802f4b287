// Dual-mode actors on a real broker: two workers (two kafkajs transports in this process), a hot key leased
// to a lease slot of the other worker through the load reports on the control topic, critical reports that
// see exactly the clicks before them, and every hop transactional.
import { registerPolicy, unregisterPolicy } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clicksApp, forwardHot, hotClicks, leasingPair, startLeasing } from './clicks-app.ts';
import { kafkaTransport, produceJson, readJson, unique } from './harness.ts';

beforeAll(() => registerPolicy('it-forward-hot', forwardHot('it-forward-hot')));
afterAll(() => unregisterPolicy('it-forward-hot'));

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {});
});

describe('leasing on a real broker', () => {
  it('leases a hot key to the other worker and merges its partials at each report', async () => {
    const ns = unique('it-lease');
    const input = `${ns}-clicks`;
    const out = `${ns}-reports`;
    const t = kafkaTransport('it-lease-setup');
    stops.push(() => t.close());
    await (await t.admin()).createTopics([{ name: input, partitions: 2 }]);
    const workers = leasingPair({
      ns,
      app: clicksApp(ns, input, out),
      controlTopic: `${ns}.control`,
      policy: 'it-forward-hot',
      transportOf: (workerId) => kafkaTransport(`it-lease-${workerId.slice(-1)}`),
      onStop: (stop) => stops.push(stop),
    });
    await startLeasing(workers);
    await produceJson(t, input, hotClicks(300, 1));
    await produceJson(t, input, hotClicks(200, 2));
    await waitFor(async () => (await readJson(t, out)).length === 2, 60_000, { intervalMs: 200 });
    const reports = (await readJson<{ seq: number; clicks: number }>(t, out)).map((r) => r.value);
    expect(reports).toEqual([
      { seq: 1, clicks: 300 },
      { seq: 2, clicks: 500 },
    ]);
    const counters = workers.map((w) => w.leases().counters);
    expect(counters.reduce((s, c) => s + c.forwarded, 0)).toBeGreaterThan(0);
    expect(counters.reduce((s, c) => s + c.lesseeProcessed, 0)).toBe(
      counters.reduce((s, c) => s + c.forwarded, 0),
    );
    // The lessor and the lessee are different workers.
    expect(counters.filter((c) => c.forwarded > 0)).toHaveLength(1);
    expect(counters.filter((c) => c.lesseeProcessed > 0)).toHaveLength(1);
    expect(counters.findIndex((c) => c.forwarded > 0)).not.toBe(
      counters.findIndex((c) => c.lesseeProcessed > 0),
    );
  }, 180_000);
});
