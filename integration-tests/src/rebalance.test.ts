// A worker joining two others, on the platformatic transport, at-least-once (the rebalance benchmark,
// `npm run bench -- rebalance`, one round): with the KIP-848 `consumer` group protocol the partitions that stay
// keep flowing and most of them stay; with the classic protocol the group settles within seconds (the client's
// own commit used to re-join the group after every refused commit: a storm of rebalances, 3-30 s without
// progress).
import { describe, expect, it } from 'vitest';
import { runRebalance } from '../../bench/src/rebalance.ts';
import { brokers, testLogger } from './harness.ts';

describe('a worker joins (platformatic transport, at-least-once)', () => {
  it('KIP-848 keeps the partitions that stay flowing; the classic protocol settles without a rebalance storm', async () => {
    const results = await runRebalance({
      brokers: brokers(),
      setups: ['platformatic-classic', 'platformatic-consumer'],
      partitions: 6,
      rate: 50,
      settleS: 3,
      afterS: 2,
      guarantee: 'at_least_once',
      rounds: 1,
      logger: testLogger(),
    });
    const consumer = results['platformatic-consumer']!;
    const classic = results['platformatic-classic']!;
    // Sticky: the newcomer takes its share (2 of 6) from the others; the 4 that stay never stop for longer than
    // a hand-over would take (about one heartbeat interval, 1 s on the test broker).
    expect(consumer.kept, JSON.stringify(consumer)).toBeGreaterThanOrEqual(3);
    expect(consumer.keptMaxGapMs, JSON.stringify(consumer)).toBeLessThan(1000);
    expect(consumer.settledMs, JSON.stringify(consumer)).toBeLessThan(10_000);
    expect(classic.keptMaxGapMs, JSON.stringify(classic)).toBeLessThan(3000);
    expect(classic.baselineMaxGapMs, JSON.stringify(classic)).toBeLessThan(3000);
    expect(classic.settledMs, JSON.stringify(classic)).toBeLessThan(10_000);
  }, 180_000);
});
