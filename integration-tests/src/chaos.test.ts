// The chaos scenario in CI, smaller than `npm run chaos`: all four app shapes on real worker processes started
// at once, fed while workers are SIGKILLed, frozen past their session timeout (twice, the second time after
// partitions were handed back), and while an extra worker joins and leaves; exactly-once must lose, duplicate
// and leave stuck nothing, fire every timer once, and match the independent tracker exactly.
import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos/chaos.ts';
import { SHAPES } from './chaos/names.ts';
import { cleanVerdict, verdict } from './chaos/verdict.ts';
import { brokers, kafkaTransport, testLogger } from './harness.ts';
import { CHAOS_SETUPS } from './transports.ts';

// On CHAOS_SETUPS: both clients (the harness and every worker process use the same one), and KIP-848.
describe.each(CHAOS_SETUPS)(
  'chaos on a real broker ($transportName, $groupProtocol group protocol, exactly-once $exactlyOnce)',
  ({ transportName, groupProtocol, sessionTimeoutMs, exactlyOnce }) => {
    it('exactly-once survives kills, freezes and a worker joining and leaving, in every app shape', async () => {
      const transport = kafkaTransport('it-chaos', transportName);
      try {
        const seed = Date.now() % 100_000;
        const result = await runChaos({
          transport,
          brokers: brokers(),
          guarantee: 'exactly_once',
          shapes: SHAPES,
          records: 15_000,
          workers: 3,
          kills: 2,
          pauses: 2,
          joinLeave: 1,
          partitions: 6,
          feedMs: 6_000,
          sessionTimeoutMs,
          groupProtocol,
          exactlyOnce,
          timeoutMs: 90_000,
          seed,
          logger: testLogger(),
        });
        expect(verdict(seed, result)).toEqual(
          cleanVerdict(seed, result, { sent: 15_000, kills: 2, pauses: 2 }),
        );
      } finally {
        await transport.close();
      }
    }, 240_000);
  },
);
