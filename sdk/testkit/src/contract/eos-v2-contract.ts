// Contract of exactly-once v2 (KIP-447) primitives on the real broker, for every transport that offers them
// (`Transport.exactlyOnceV2`): offsets in a transaction carry the member's generation (KIP-848: its member epoch),
// the coordinator refuses a past one (the zombie's transaction aborts, the producer stays usable), and a reader
// asking for stable offsets waits for an open transaction holding the group's offsets.
import {
  type Consumer,
  type GroupMetadata,
  PartitionsRevokedError,
  type TopicPartition,
  type Transport,
} from '@dirigo/core';
import { afterAll, describe, expect, it } from 'vitest';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const name = (what: string) => `eosv2-${what}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

export interface EosV2ContractOptions {
  /**
   * The consumer revokes every partition before it re-joins the group (the eager protocol, as the kafkajs
   * transport does): while onRevoked runs, the membership still covers them in the generation they were assigned
   * in, which the coordinator accepts only until the rebalance forms the next one (no other member can own them
   * before that). Default false: the consumer re-joins first, and a partition lost in the rebalance is covered by
   * no membership while it is revoked.
   */
  readonly eagerRevocation?: boolean;
}

/**
 * Declares the exactly-once v2 contract tests for the transports `open` makes (each is closed after the tests).
 * Needs a real broker: the group coordinator's refusals are what is tested.
 */
export function eosV2Contract(
  label: string,
  open: () => Transport,
  options: EosV2ContractOptions = {},
): void {
  describe(`exactly-once v2 contract (KIP-447): ${label}`, () => {
    const transports: Transport[] = [];
    const transport = () => {
      const t = open();
      transports.push(t);
      return t;
    };
    afterAll(async () => {
      for (const t of transports) await t.close();
    });

    it('is offered', () => {
      expect(transport().exactlyOnceV2).toBe(true);
    });

    const member = async (t: Transport, group: string, topic: string) => {
      const consumer = t.consumer({ groupId: group, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 });
      const owned = new Set<number>();
      /** Per revocation: the revoked partitions the membership still covered while onRevoked ran. */
      const coveredAtRevoke: number[][] = [];
      await consumer.connect();
      await consumer.subscribe([topic]);
      await consumer.run({
        eachBatch: async () => {},
        onAssigned: (tps: readonly TopicPartition[]) => {
          for (const tp of tps) owned.add(tp.partition);
        },
        onRevoked: (tps: readonly TopicPartition[]) => {
          for (const tp of tps) owned.delete(tp.partition);
          const covered = consumer.groupMetadata?.()?.partitions ?? [];
          coveredAtRevoke.push(
            tps
              .filter((tp) => covered.some((c) => c.topic === tp.topic && c.partition === tp.partition))
              .map((tp) => tp.partition)
              .sort((x, y) => x - y),
          );
        },
      });
      return { consumer, owned, coveredAtRevoke };
    };
    const until = async (what: string, ok: () => boolean, ms = 30_000) => {
      const end = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };
    const metadataOf = (c: Consumer): GroupMetadata => {
      const m = c.groupMetadata?.();
      if (m === undefined) throw new Error('no group metadata');
      return m;
    };

    it('commits offsets as the member; a past generation is refused and the transaction aborts, the producer goes on', async () => {
      const t = transport();
      const topic = name('t');
      const group = name('g');
      await (await t.admin()).createTopics([{ name: topic, partitions: 2 }]);
      const a = await member(t, group, topic);
      await until('the first member owns both partitions', () => a.owned.size === 2);
      const first = metadataOf(a.consumer);
      expect(first.groupId).toBe(group);
      expect(first.memberId).not.toBe('');

      const producer = t.producer({ transactionalId: name('txn') });
      await producer.connect();
      const ok = await producer.beginTransaction();
      await ok.send([{ topic, partition: 0, key: null, value: Buffer.from('a') }]);
      await ok.sendOffsets(group, [{ topic, partition: 0, offset: 1 }], first);
      await ok.commit();
      const admin = await t.admin();
      // Stable reads: a transaction's offsets are written after EndTxn returns (its markers), so a plain read right
      // after a commit or an abort may still see the offsets before it.
      const committed = () => admin.fetchCommittedOffsets(group, topic, { requireStable: true });
      expect((await committed()).map((o) => o.offset)).toEqual([1, -1]);

      // A second member joins: a new generation; the first member's old metadata is a zombie's.
      const b = await member(transport(), group, topic);
      await until('the second member owns a partition', () => b.owned.size === 1 && a.owned.size === 1);
      expect(metadataOf(a.consumer).generationId).toBeGreaterThan(first.generationId);
      const stale = await producer.beginTransaction();
      await stale.send([{ topic, partition: 0, key: null, value: Buffer.from('zombie') }]);
      const refused = await stale.sendOffsets(group, [{ topic, partition: 0, offset: 9 }], first).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(PartitionsRevokedError);
      await stale.abort();
      expect((await committed()).map((o) => o.offset)).toEqual([1, -1]);

      // The same producer commits in the current generation.
      const [mine] = [...a.owned];
      const next = await producer.beginTransaction();
      await next.sendOffsets(group, [{ topic, partition: mine!, offset: 2 }], metadataOf(a.consumer));
      await next.commit();
      expect((await committed()).find((o) => o.partition === mine)?.offset).toBe(2);
      // Only committed records are read: the zombie's was aborted.
      const seen: string[] = [];
      await t.readToEnd([{ topic, partition: 0, fromOffset: 0 }], (records) => {
        for (const r of records) seen.push(r.value!.toString());
      });
      expect(seen).toEqual(['a']);
      // The partition the first member lost in the rebalance was not covered by its (new) membership while it was
      // revoked; the one it gives up leaving the group is (the generation is still its own).
      const atRebalance = options.eagerRevocation === true ? [0, 1] : [];
      expect(a.coveredAtRevoke).toEqual([atRebalance]);
      await producer.disconnect();
      await a.consumer.disconnect();
      expect(a.coveredAtRevoke).toEqual([atRebalance, [mine]]);
      await b.consumer.disconnect();
    });

    it('a stable read of committed offsets waits for the transaction holding them', async () => {
      const t = transport();
      const topic = name('t');
      const group = name('g');
      await (await t.admin()).createTopics([{ name: topic, partitions: 1 }]);
      const a = await member(t, group, topic);
      await until('the member owns the partition', () => a.owned.size === 1);
      const producer = t.producer({ transactionalId: name('txn') });
      await producer.connect();
      const txn = await producer.beginTransaction();
      await txn.sendOffsets(group, [{ topic, partition: 0, offset: 5 }], metadataOf(a.consumer));
      const admin = await t.admin();
      // Without requireStable the pending offset is not visible; with it the read waits for the commit.
      expect((await admin.fetchCommittedOffsets(group, topic))[0]!.offset).toBe(-1);
      let answered: number | undefined;
      const stable = admin.fetchCommittedOffsets(group, topic, { requireStable: true }).then((o) => {
        answered = o[0]!.offset;
      });
      await sleep(1_500);
      expect(answered).toBeUndefined();
      await txn.commit();
      await stable;
      expect(answered).toBe(5);
      await producer.disconnect();
      await a.consumer.disconnect();
    });
  });
}
