import { describe, expect, it } from 'vitest';
import { createPolicy } from './registry.ts';
import { type SimApp, type SimArrival, simulate } from './sim.ts';

// A latency-critical app (target 50 ms, one record every 10 ms for 6 s, 1 ms each) shares a worker with a
// batch app that receives a burst of 400 expensive records (10 ms each, 4 s of work) at t = 100 ms.
const apps: Record<string, SimApp> = {
  alerts: { priority: 'critical', targetMs: 50 },
  reports: { priority: 'batch', targetMs: 60_000 },
};

function workload(): SimArrival[] {
  const out: SimArrival[] = [];
  for (let t = 0; t < 6_000; t += 10) {
    out.push({ at: t, app: 'alerts', queue: 'alerts.check/0', key: `sensor-${(t / 10) % 7}`, costMs: 1 });
  }
  for (let i = 0; i < 400; i++) {
    out.push({ at: 100, app: 'reports', queue: `reports.build/${i % 2}`, key: `r${i}`, costMs: 10 });
  }
  return out;
}

async function run(policy: string) {
  const r = await simulate(createPolicy(policy), apps, workload());
  return { alerts: r.snapshot.apps.alerts!, reports: r.snapshot.apps.reports!, endedAt: r.endedAt };
}

describe('simulation: critical app + batch burst on one worker', () => {
  it('EDF keeps the critical app within its target where FIFO does not; the batch app still finishes', async () => {
    const fifo = await run('fifo');
    const edf = await run('edf');
    expect(fifo.alerts.completed).toBe(600);
    expect(edf.alerts.completed).toBe(600);
    expect(fifo.reports.completed).toBe(400);
    expect(edf.reports.completed).toBe(400);
    expect(edf.reports.satisfaction).toBe(1);
    expect(fifo.alerts.satisfaction!).toBeLessThan(0.5);
    expect(edf.alerts.satisfaction!).toBeGreaterThan(0.99);
    expect(edf.alerts.latencyMs.p99).toBeLessThanOrEqual(50);
    expect(fifo.alerts.latencyMs.p99).toBeGreaterThan(1_000);
  });

  it('is deterministic', async () => {
    const a = await simulate(createPolicy('edf'), apps, workload());
    const b = await simulate(createPolicy('edf'), apps, workload());
    expect(a.order).toEqual(b.order);
    expect(a.snapshot).toEqual(b.snapshot);
  });

  it('priority, laxity and weighted-fair also protect the critical app and finish the batch', async () => {
    for (const policy of ['priority', 'laxity', 'weighted-fair']) {
      const r = await run(policy);
      expect(r.alerts.satisfaction!, policy).toBeGreaterThan(0.99);
      expect(r.reports.completed, policy).toBe(400);
    }
  });
});
