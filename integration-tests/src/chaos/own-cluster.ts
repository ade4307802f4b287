// The exactly-once chaos check the suites that start a cluster of their own run on it (older brokers, a dedicated
// controller): all four app shapes on three worker processes, one SIGKILLed and one frozen past its session.
import { expect } from 'vitest';
import { testLogger } from '../harness.ts';
import { makeTransport, type TransportName } from '../transports.ts';
import { runChaos } from './chaos.ts';
import { SHAPES } from './names.ts';
import { cleanVerdict, verdict } from './verdict.ts';

/** Runs the check on `brokers` with `transportName` and expects nothing lost, duplicated or mismatched. */
export async function expectExactlyOnceOnCluster(
  transportName: TransportName,
  brokers: string,
  clientId: string,
): Promise<void> {
  const transport = makeTransport(transportName, brokers, clientId, testLogger());
  try {
    const seed = Date.now() % 100_000;
    const r = await runChaos({
      transport,
      brokers,
      guarantee: 'exactly_once',
      shapes: SHAPES,
      records: 8_000,
      workers: 3,
      kills: 1,
      pauses: 1,
      joinLeave: 0,
      partitions: 6,
      feedMs: 4_000,
      sessionTimeoutMs: 6_000,
      timeoutMs: 90_000,
      seed,
      logger: testLogger(),
    });
    expect(verdict(seed, r)).toEqual(cleanVerdict(seed, r, { sent: 8_000, kills: 1, pauses: 1 }));
  } finally {
    await transport.close();
  }
}
