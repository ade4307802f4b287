// The KIP-848 `consumer` group protocol on the real broker: the whole transport contract again with it, and what
// it is for: a member joining moves only the partitions it takes, and the others keep being delivered meanwhile.
import type { Consumer, OutgoingRecord, TopicPartition } from '@dirigo/core';
import { transportContract } from '@dirigo/testkit/contract';
import { afterAll, describe, expect, it } from 'vitest';
import { PlatformaticTransport } from './index.ts';
import { testBrokers, testLogger } from './test-broker.ts';

const brokers = testBrokers();
const logger = testLogger();
const newTransport = (): PlatformaticTransport =>
  new PlatformaticTransport({ brokers, logger, groupProtocol: 'consumer' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

transportContract('platformatic, consumer group protocol', async () => ({ transport: newTransport() }), {
  slow: true,
  // Past the broker's session timeout of the consumer protocol (group.consumer.session.timeout.ms: 10 s on the
  // test broker), which the consumer's sessionTimeoutMs does not change.
  frozenMemberMs: 14_000,
});

describe('platformatic, consumer group protocol (KIP-848)', () => {
  const transports: PlatformaticTransport[] = [];
  afterAll(async () => {
    for (const t of transports) await t.close();
  });

  it('a member joining takes only its share; the partitions the others keep are never revoked and keep flowing during the hand-over', async () => {
    const partitions = 6;
    const topic = `kip848-join-${Date.now().toString(36)}`;
    const group = `${topic}-g`;
    const setup = newTransport();
    transports.push(setup);
    await (await setup.admin()).createTopics([{ name: topic, partitions }]);
    const producer = setup.producer();
    await producer.connect();
    let feeding = true;
    const feed = (async () => {
      for (let i = 0; feeding; i++) {
        const records: OutgoingRecord[] = [];
        for (let p = 0; p < partitions; p++)
          records.push({ topic, partition: p, key: null, value: Buffer.from(String(i)) });
        await producer.send(records);
        await sleep(20);
      }
    })();

    interface Member {
      consumer: Consumer;
      owned: Set<number>;
      revoked: { at: number; partitions: number[] }[];
      assigned: { at: number; partitions: number[] }[];
      deliveries: { at: number; partition: number }[];
    }
    const join = async (name: string): Promise<Member> => {
      const t = newTransport();
      transports.push(t);
      const consumer = t.consumer({ groupId: group, clientId: name, concurrency: partitions });
      const m: Member = { consumer, owned: new Set(), revoked: [], assigned: [], deliveries: [] };
      await consumer.connect();
      await consumer.subscribe([topic]);
      await consumer.run({
        eachBatch: async (batch) => {
          m.deliveries.push({ at: performance.now(), partition: batch.partition });
        },
        onAssigned: (tps: readonly TopicPartition[]) => {
          const added = tps.map((tp) => tp.partition).filter((p) => !m.owned.has(p));
          for (const p of added) m.owned.add(p);
          m.assigned.push({ at: performance.now(), partitions: added });
        },
        onRevoked: (tps: readonly TopicPartition[]) => {
          for (const tp of tps) m.owned.delete(tp.partition);
          m.revoked.push({ at: performance.now(), partitions: tps.map((tp) => tp.partition) });
        },
      });
      return m;
    };
    const waitFor = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 60_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };

    try {
      const a = await join('a');
      const b = await join('b');
      await waitFor(
        'the first two members to share every partition',
        () => a.owned.size + b.owned.size === partitions && a.owned.size > 0 && b.owned.size > 0,
      );
      await sleep(1500);
      const before = { a: new Set(a.owned), b: new Set(b.owned) };
      a.revoked.length = 0;
      b.revoked.length = 0;
      const joinedAt = performance.now();
      const c = await join('c');
      await waitFor('the newcomer to get partitions', () => c.owned.size > 0);
      await waitFor(
        'every partition to have one owner',
        () => a.owned.size + b.owned.size + c.owned.size === partitions,
      );
      await sleep(1000);

      // The newcomer took partitions only from the others; what they kept was never revoked.
      const kept = [...before.a]
        .filter((p) => a.owned.has(p))
        .concat([...before.b].filter((p) => b.owned.has(p)));
      const revoked = [...a.revoked, ...b.revoked].flatMap((r) => r.partitions);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length + c.owned.size).toBe(partitions);
      for (const p of kept) expect(revoked).not.toContain(p);
      expect(new Set(revoked)).toEqual(c.owned);

      // The kept partitions were delivered between the first revocation and the newcomer's first assignment:
      // the hand-over did not stop them (under the classic protocol every member stops until the join ends).
      const revokedAt = Math.min(...[...a.revoked, ...b.revoked].map((r) => r.at));
      const assignedAt = c.assigned.find((x) => x.partitions.length > 0)!.at;
      expect(revokedAt).toBeGreaterThan(joinedAt);
      const during = [...a.deliveries, ...b.deliveries].filter(
        (d) => kept.includes(d.partition) && d.at > revokedAt && d.at < assignedAt,
      );
      expect(assignedAt - revokedAt).toBeGreaterThan(0);
      expect(during.length).toBeGreaterThan(0);
      // And no kept partition went a whole second without a delivery from one second before the join on.
      for (const p of kept) {
        const owner = before.a.has(p) ? a : b;
        const times = owner.deliveries
          .filter((d) => d.partition === p && d.at > joinedAt - 1000)
          .map((d) => d.at);
        let gap = 0;
        for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
        expect(gap, `partition ${p}`).toBeLessThan(1000);
      }
      for (const m of [a, b, c]) await m.consumer.disconnect();
    } finally {
      feeding = false;
      await feed;
      await producer.disconnect();
    }
  }, 120_000);
});
