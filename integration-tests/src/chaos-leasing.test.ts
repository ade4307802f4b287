// The leasing chaos scenario in CI, smaller than `npm run chaos -- leasing`: the hot-key app on three real
// worker processes, its hot keys leased to lessees on the other workers by the chaos policy, while a lessee is
// SIGKILLed, a lessor is SIGKILLed while one of its keys is BLOCKED (a SYNC round out), and a worker is frozen
// past its session timeout. Nothing may be lost or duplicated, every report must see exactly the adds before it,
// and after quiescence the lessors' state must equal the totals with no partial left at any lessee. On both clients
// (CHAOS_SETUPS): the lessors and the lease slots commit under exactly-once v2 (one producer per group per worker),
// with the classic group protocol and, on platformatic, KIP-848's, whose session timeout is the broker's (10 s on
// the test broker, see @dirigo/local-kafka): the freeze is sized from it; and under v1 on kafkajs.
import { describe, expect, it } from 'vitest';
import { failures } from './chaos/leasing/result.ts';
import { runLeasingChaos } from './chaos/leasing/run.ts';
import { brokers, kafkaTransport, testLogger } from './harness.ts';
import { CHAOS_SETUPS } from './transports.ts';

describe.each(CHAOS_SETUPS)(
  'leasing chaos on a real broker ($transportName, $groupProtocol group protocol, exactly-once $exactlyOnce)',
  ({ transportName, groupProtocol, sessionTimeoutMs, exactlyOnce }) => {
    it('exactly-once leasing survives killed lessees, killed BLOCKED lessors and a frozen worker', async () => {
      const transport = kafkaTransport('it-chaos-leasing', transportName);
      try {
        const seed = Date.now() % 100_000;
        const r = await runLeasingChaos({
          transport,
          brokers: brokers(),
          seed,
          records: 25_000,
          workers: 3,
          lesseeKills: 1,
          blockedKills: 1,
          randomKills: 0,
          pauses: 1,
          partitions: 6,
          slots: 6,
          hotKeys: 5,
          coldKeys: 300,
          idleRevokeMs: 400,
          burnUs: 150,
          feedMs: 25_000,
          sessionTimeoutMs,
          groupProtocol,
          exactlyOnce,
          huntMs: 20_000,
          timeoutMs: 90_000,
          logger: testLogger(),
        });
        const {
          sent,
          lost,
          duplicated,
          stateMismatches,
          criticalMismatches,
          leftovers,
          stuck,
          kills,
          pauses,
        } = r;
        expect({
          seed,
          sent,
          lost,
          duplicated,
          stateMismatches,
          criticalMismatches,
          leftovers,
          stuck,
          quiescent: r.quiescent,
          kills,
          pauses,
          missedFaults: r.missedFaults,
          failures: failures(r),
          notes: r.notes,
          logDir: r.logDir,
        }).toEqual({
          seed,
          sent: 25_000 + 305,
          lost: 0,
          duplicated: 0,
          stateMismatches: 0,
          criticalMismatches: 0,
          leftovers: 0,
          stuck: 0,
          quiescent: true,
          kills: 2,
          pauses: 1,
          missedFaults: [],
          failures: [],
          notes: [],
          logDir: r.logDir,
        });
        expect(r.counters.granted).toBeGreaterThan(0);
        expect(r.counters.revoked).toBeGreaterThan(0);
        expect(r.counters.barriers).toBeGreaterThan(0);
        const killed = r.faults.filter((f) => f.signal === 'SIGKILL');
        expect(killed.map((f) => f.target).sort()).toEqual(['blocked-lessor', 'lessee']);
        expect(killed.find((f) => f.target === 'blocked-lessor')?.blocked).toBe(true);
      } finally {
        await transport.close();
      }
    }, 240_000);
  },
);
