// The chaos scenario in CI, smaller than `npm run chaos`: real worker processes SIGKILLed and SIGSTOPped while
// fed; exactly-once must lose and duplicate nothing and match the independent tracker exactly.
import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos/chaos.ts';
import { seeded } from './chaos/run-chaos-lib.ts';
import { brokers, kafkaTransport, testLogger } from './harness.ts';

describe('chaos on a real broker', () => {
  it('exactly-once survives SIGKILLs and a SIGSTOP past the session timeout', async () => {
    const transport = kafkaTransport('it-chaos');
    try {
      const seed = Date.now() % 100_000;
      const result = await runChaos({
        transport,
        brokers: brokers(),
        guarantee: 'exactly_once',
        records: 30_000,
        keys: 500,
        workers: 3,
        kills: 3,
        pauses: 1,
        partitions: 6,
        feedMs: 6_000,
        sessionTimeoutMs: 6_000,
        timeoutMs: 150_000,
        random: seeded(seed),
        logger: testLogger(),
      });
      expect({ seed, ...result, elapsedMs: 0, logDir: '' }).toMatchObject({
        seed,
        sent: 30_000,
        lost: 0,
        duplicated: 0,
        stateMismatches: 0,
        kills: 3,
        pauses: 1,
      });
    } finally {
      await transport.close();
    }
  }, 240_000);
});
