// Issue 2's fault test: on a three-node cluster (replication factor 3, min.insync.replicas 2) the broker that
// coordinates the consumer group is killed in the middle of a produce/consume run; every acknowledged record must
// still be there, exactly once, and the consumer must catch up within CATCH_UP_MS of the kill. On both transports,
// one after the other on the same cluster (the killed node is started again in between). An exactly-once keyed
// count must keep every count exact when the group's coordinator, or the transaction coordinator of its
// transactional id, or the active KRaft controller (every node is a broker and a controller), is killed.
//
// Killing the coordinator (not any node) is what found the platformatic client's stale-coordinator retries: its
// Admin.listConsumerGroupOffsets kept retrying OffsetFetch against the dead node (about 2 s x `retries`), so a
// consumer re-delivering a batch after a failed commit waited 53 s for its committed position (committed.ts).
import {
  defineApp,
  fn,
  type OutgoingRecord,
  type Producer,
  state,
  type TopicPartition,
  type Transport,
} from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { PlatformaticTransport } from '@dirigo/platformatic';
import { describeCluster, type KafkaCluster, startKafka } from '@dirigo/local-kafka';
import { Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { Admin, ConnectionPool, describeQuorumV2, FindCoordinatorKeyTypes } from '@platformatic/kafka';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runAtomicity } from './chaos/atomicity.ts';
import { runChaos } from './chaos/chaos.ts';
import { SHAPES } from './chaos/names.ts';
import { cleanVerdict, verdict } from './chaos/verdict.ts';
import { readJson, testLogger, unique } from './harness.ts';
import { makeTransport, type TransportName } from './transports.ts';

/** From the kill to the consumer having seen every acknowledged record. */
const CATCH_UP_MS = 40_000;

/** A keyed count, exactly-once: every output carries the key's count after its message. */
const counterApp = (ns: string, input: string, out: string) =>
  defineApp({
    name: 'counter',
    options: { namespace: ns, guarantee: 'exactly_once', defaultPartitions: 3 },
    ingresses: [{ topic: input, to: 'count' }],
    egresses: { out: { topic: out } },
    functions: {
      count: fn({
        state: { n: state.value<number>() },
        handler(ctx, _m: unknown) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit('out', ctx.key, { n });
        },
      }),
    },
  });

/** Sends a batch until the brokers acknowledge it (the same batch again after each failure); the failures. */
async function sendUntilAcked(producer: Producer, records: OutgoingRecord[]): Promise<number> {
  for (let failures = 0; ; failures++) {
    try {
      await producer.send(records);
      return failures;
    } catch (e) {
      testLogger().warn({ err: e }, 'send failed during the failover; retrying the same batch');
    }
  }
}

/** The node coordinating a consumer group (or, with `transaction`, a transactional id). */
async function coordinatorOf(
  brokers: string,
  key: string,
  of: 'group' | 'transaction' = 'group',
): Promise<number> {
  const admin = new Admin({ clientId: 'it-failover-probe', bootstrapBrokers: brokers.split(',') });
  try {
    const keyType = of === 'group' ? FindCoordinatorKeyTypes.GROUP : FindCoordinatorKeyTypes.TRANSACTION;
    const [c] = await admin.findCoordinator({ keyType, keys: [key] });
    if (c === undefined) throw new Error(`no coordinator for ${of} ${key}`);
    return c.nodeId;
  } finally {
    await admin.close();
  }
}

/** The node that is the active KRaft controller (DescribeQuorum of the metadata log, asked through a broker). */
async function activeController(brokers: string): Promise<number> {
  const pool = new ConnectionPool('it-failover-probe');
  try {
    const connection = await pool.getFirstAvailable(
      brokers.split(',').map((b) => ({ host: b.split(':')[0]!, port: Number(b.split(':')[1]) })),
    );
    const answer = await describeQuorumV2.api.async(connection, [
      { topicName: '__cluster_metadata', partitions: [{ partitionIndex: 0 }] },
    ]);
    const leader = answer.topics[0]?.partitions[0]?.leaderId;
    if (leader === undefined || leader < 0) throw new Error('DescribeQuorum named no active controller');
    return leader;
  } finally {
    await pool.close();
  }
}

describe('three-node cluster', () => {
  let cluster: KafkaCluster;
  /** When each broker JVM was spawned (restarts included). */
  const spawns: { readonly id: number; readonly at: number }[] = [];
  beforeAll(async () => {
    // Ports 2092/12092/22092 (and the next ones): below Linux's ephemeral range (32768-60999), where an outgoing
    // connection of any process may hold a port at the moment the cluster starts (41092 was, once, in CI).
    cluster = await startKafka({
      nodes: 3,
      basePort: 2092,
      logger: testLogger(),
      onSpawn: (n) => spawns.push({ id: n.id, at: Date.now() }),
    });
    process.stderr.write(`three-node cluster: Kafka ${cluster.version} at ${cluster.brokers}\n`);
  }, 240_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);
  // Whatever a case did, the next one starts on three nodes (a failed case would leave its victim down).
  afterEach(async () => {
    for (const n of cluster?.nodes ?? []) await cluster!.startNode(n.id);
  }, 120_000);

  it.each<TransportName>(['kafkajs', 'platformatic'])(
    'loses nothing and catches up when the group coordinator is killed mid-run (%s)',
    async (transportName) => {
      // Retries enough to ride over the leader elections (about a minute at most 2 s apart).
      const transport: Transport =
        transportName === 'kafkajs'
          ? new KafkajsTransport({
              brokers: cluster.brokers,
              clientId: 'it-failover',
              logger: testLogger(),
              retry: { initialRetryTime: 200, retries: 30, maxRetryTime: 2_000 },
            })
          : new PlatformaticTransport({
              brokers: cluster.brokers,
              clientId: 'it-failover',
              logger: testLogger(),
              retries: 30,
            });
      const topic = unique('it-failover');
      const admin = await transport.admin();
      await admin.createTopics([
        { name: topic, partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': '2' } },
      ]);
      const described = await admin.describeTopics([topic]);
      expect(described[0]!.partitions).toBe(3);

      // Consumer: a group member reading with explicit commits, counting what it sees.
      const groupId = `${topic}-g`;
      const victim = await coordinatorOf(cluster.brokers, groupId);
      const seen = new Map<number, number>();
      const consumer = transport.consumer({ groupId, sessionTimeoutMs: 10_000 });
      await consumer.connect();
      await consumer.subscribe([topic]);
      await consumer.run({
        eachBatch: async (batch) => {
          for (const r of batch.records) {
            const seq = Number(r.value!.toString());
            seen.set(seq, (seen.get(seq) ?? 0) + 1);
          }
          const last = batch.records[batch.records.length - 1];
          if (last)
            await consumer.commitOffsets([{ topic, partition: batch.partition, offset: last.offset + 1 }]);
        },
        onAssigned: (_tps: readonly TopicPartition[]) => {},
      });

      // Producer: acks=all, idempotent; a batch counts as sent only once the broker acknowledged it.
      const producer = transport.producer({ clientId: 'it-failover-producer' });
      await producer.connect();
      const acked: number[] = [];
      let killedAt = 0;
      const total = 20_000;
      const batch = 250;
      let killed = false;
      for (let start = 0; start < total; start += batch) {
        const records = Array.from({ length: batch }, (_, i) => ({
          topic,
          key: Buffer.from(`k${(start + i) % 97}`),
          value: Buffer.from(String(start + i)),
        }));
        await sendUntilAcked(producer, records);
        for (let i = 0; i < batch; i++) acked.push(start + i);
        if (!killed && start >= total / 3) {
          killed = true;
          killedAt = Date.now();
          await cluster.stopNode(victim, 'SIGKILL');
        }
      }
      expect(killed).toBe(true);
      // The consumer keeps going on the two surviving brokers and sees every acknowledged record.
      await waitFor(() => acked.every((s) => seen.has(s)), 90_000, { intervalMs: 200 });
      const caughtUpMs = Date.now() - killedAt;
      process.stderr.write(
        `three-node failover (${transportName}): coordinator node ${victim} killed; every acknowledged record seen ${caughtUpMs} ms later\n`,
      );
      expect(caughtUpMs).toBeLessThan(CATCH_UP_MS);
      // And commits up to the end: a batch whose commit failed on the dying coordinator was seen already, and is
      // committed once it has been delivered again (at-least-once), so this may take longer: kafkajs retries a
      // commit against the dead coordinator until its consumer re-joins (this transport's `retries: 30`, about a
      // minute at most); CI once saw the commits short of the end 30 s after every record was seen.
      const high = await admin.fetchTopicOffsets(topic);
      const end = new Map(high.map((h) => [h.partition, h.high]));
      let behind: { partition: number; committed: number; end: number }[] = [];
      await waitFor(
        async () => {
          const committed = await admin.fetchCommittedOffsets(groupId, topic).catch(() => []);
          behind = [...end]
            .map(([partition, e]) => ({
              partition,
              committed: committed.find((c) => c.partition === partition)?.offset ?? -1,
              end: e,
            }))
            .filter((b) => b.committed !== b.end);
          return behind.length === 0;
        },
        90_000,
        { intervalMs: 200 },
      ).catch(() => {});
      const committedMs = Date.now() - killedAt;
      process.stderr.write(
        `three-node failover (${transportName}): commits at the end ${committedMs} ms after the kill\n`,
      );
      expect(behind).toEqual([]);
      // Nothing lost, nothing written twice (the idempotent producer de-duplicates its retries).
      let read = 0;
      const copies = new Map<number, number>();
      await transport.readToEnd(
        high.map((h) => ({ topic, partition: h.partition, fromOffset: 0 })),
        (rs) => {
          for (const r of rs) {
            read++;
            const seq = Number(r.value!.toString());
            copies.set(seq, (copies.get(seq) ?? 0) + 1);
          }
        },
      );
      expect(acked.filter((s) => copies.get(s) !== 1)).toEqual([]);
      expect(read).toBe(total);
      await producer.disconnect();
      await consumer.disconnect();
      await transport.close();
    },
    240_000,
  );

  // The transaction coordinator killed is the one of the worker's transactional id on platformatic (exactly-once
  // v2: one per worker, `<group>.<worker>`), of partition 0's on kafkajs (v1: one per input partition). The
  // controller is the active one of the KRaft quorum (the other two elect a new one).
  it.each<[TransportName, 'group' | 'transaction' | 'controller']>([
    ['kafkajs', 'group'],
    ['platformatic', 'group'],
    ['kafkajs', 'transaction'],
    ['platformatic', 'transaction'],
    ['kafkajs', 'controller'],
    ['platformatic', 'controller'],
  ])(
    'an exactly-once app keeps every count exact when a node is killed mid-run (%s, %s)',
    async (transportName, which) => {
      const transport = makeTransport(transportName, cluster.brokers, 'it-failover-eos', testLogger());
      const ns = unique('it-failover-eos');
      const input = `${ns}-in`;
      const out = `${ns}-out`;
      const admin = await transport.admin();
      await admin.createTopics([{ name: input, partitions: 3 }]); // replication factor 3, min.insync.replicas 2
      // A worker id per client: the control group (`dirigo.control.<worker id>`) of the case before, on the other
      // client, may still hold that client's member until its session ends.
      const workerId = `w-failover-${transportName}`;
      const worker = new Worker({
        transport,
        apps: [counterApp(ns, input, out)],
        logger: testLogger(),
        workerId,
        sessionTimeoutMs: 6000,
      });
      await worker.start();
      try {
        const group = `${ns}.counter.count`;
        const victim =
          which === 'group'
            ? await coordinatorOf(cluster.brokers, group)
            : which === 'controller'
              ? await activeController(cluster.brokers)
              : // Exactly-once v2 on both clients: the worker's one transactional id for the group.
                await coordinatorOf(cluster.brokers, `${group}.${workerId}`, 'transaction');

        const keys = 30;
        const perKey = 100;
        const producer = transport.producer({ clientId: 'it-failover-eos-feeder' });
        await producer.connect();
        let killedAt = 0;
        let failedSends = 0;
        for (let start = 0; start < keys * perKey; start += 250) {
          const records = Array.from({ length: 250 }, (_, i) => ({
            topic: input,
            key: Buffer.from(`k${(start + i) % keys}`),
            value: Buffer.from('{}'),
          }));
          failedSends += await sendUntilAcked(producer, records);
          if (killedAt === 0 && start >= 1000) {
            killedAt = Date.now();
            await cluster.stopNode(victim, 'SIGKILL');
          }
        }
        await producer.disconnect();
        // What the input holds, per key: a send that failed on the dead node after the live nodes had appended
        // their partitions' records is sent again whole (sendUntilAcked), so a key may hold more than perKey
        // records. The app must count what is in the input, each record once (CI failed once comparing with
        // perKey, 8 keys of 30 wrong, without saying how: the message below now does).
        const inputByKey = new Map<string, number>();
        for (const r of await readJson<unknown>(transport, input))
          inputByKey.set(r.key!, (inputByKey.get(r.key!) ?? 0) + 1);
        const inputTotal = [...inputByKey.values()].reduce((a, b) => a + b, 0);
        expect(inputByKey.size).toBe(keys);
        expect(Math.min(...inputByKey.values())).toBeGreaterThanOrEqual(perKey);
        // Every message counted once: per key, the committed outputs are exactly 1..(its input records), and so
        // is the state.
        let outputs: { key: string | null; value: { n: number } }[] = [];
        await waitFor(
          async () => {
            outputs = await readJson<{ n: number }>(transport, out);
            return outputs.length >= inputTotal;
          },
          90_000,
          { intervalMs: 1000 },
        );
        const caughtUpMs = Date.now() - killedAt;
        process.stderr.write(
          `three-node failover, exactly-once (${transportName}): ${which === 'controller' ? 'active controller' : `${which} coordinator`} node ${victim} killed; every output committed ${caughtUpMs} ms later; ${failedSends} sends failed and were sent again, ${inputTotal - keys * perKey} extra input records\n`,
        );
        const byKey = new Map<string, number[]>();
        for (const o of outputs) {
          const l = byKey.get(o.key!) ?? [];
          l.push(o.value.n);
          byKey.set(o.key!, l);
        }
        const wrong = [...byKey]
          .filter(([k, counts]) => {
            const sorted = [...counts].sort((a, b) => a - b);
            return counts.length !== inputByKey.get(k) || sorted.some((n, i) => n !== i + 1);
          })
          .map(([k, counts]) => {
            const twice = counts.filter((n, i) => counts.indexOf(n) !== i);
            return `${k}: ${inputByKey.get(k)} in, ${counts.length} out, max ${Math.max(...counts)}, twice [${twice.join(',')}]`;
          });
        if (wrong.length > 0) {
          // The other client reads the output too: a reader that shows aborted records would look like this.
          const other = makeTransport(
            transportName === 'kafkajs' ? 'platformatic' : 'kafkajs',
            cluster.brokers,
            'it-failover-eos-check',
            testLogger(),
          );
          const again = await readJson<{ n: number }>(other, out).finally(() => other.close());
          process.stderr.write(
            `three-node failover, exactly-once (${transportName}, ${which}): wrong keys ${JSON.stringify(wrong)}; ${outputs.length} outputs read, ${again.length} by the other client\n`,
          );
        }
        expect(wrong).toEqual([]);
        expect(byKey.size).toBe(keys);
        // The state too (a partition whose last step failed is opened again by the worker within seconds).
        const states = async () => {
          const counts: unknown[] = [];
          for (let k = 0; k < keys; k++)
            counts.push(await worker.readState('counter', 'count', `k${k}`, 'n'));
          return counts;
        };
        let final: unknown[] = [];
        await waitFor(
          async () => {
            final = await states();
            return final.every((n, k) => n === inputByKey.get(`k${k}`));
          },
          20_000,
          { intervalMs: 200 },
        ).catch(() => {});
        expect(final).toEqual(Array.from({ length: keys }, (_, k) => inputByKey.get(`k${k}`)));
        expect(caughtUpMs).toBeLessThan(CATCH_UP_MS);
      } finally {
        // The victim is started again by afterEach.
        await worker.stop().catch(() => {});
        await transport.close().catch(() => {});
      }
    },
    240_000,
  );
  // A node back before the controller fenced its old session leads its old partitions again for a moment, on a log
  // whose tail was never replicated: Kafka 4.2.2 then commits a transaction on some partitions and aborts it on the
  // others (operations.md, "kafkajs, and a Kafka defect behind its last failures"). So startNode waits for the fence.
  it('a SIGKILLed node is started again only once the other nodes no longer list it', async () => {
    const victim = 3;
    const other = cluster.nodes.find((n) => n.id === 1)!;
    /** Send time of each metadata request to node 1, and whether its answer listed the victim. */
    const samples: { readonly sent: number; readonly listed: boolean }[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const sent = Date.now();
        const c = await describeCluster([`127.0.0.1:${other.port}`], 3000).catch(() => undefined);
        if (c !== undefined) samples.push({ sent, listed: c.brokers.some((b) => b.nodeId === victim) });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    /** The first request sent after `from` whose answer no longer listed the victim. */
    const firstUnlisted = (from: number) => samples.find((x) => x.sent >= from && !x.listed)?.sent;
    try {
      const killedAt = Date.now();
      await cluster.stopNode(victim, 'SIGKILL');
      await cluster.startNode(victim);
      const spawn = spawns.filter((x) => x.id === victim).at(-1)!;
      // Node 1 stopped listing the victim (the controller fenced it) only seconds after the kill (its broker
      // session is 5 s), and the restart came after that: a request sent about when the fence was seen, since
      // startNode polls every 250 ms and this loop every 50 ms, hence the 500 ms of slack.
      const fencedSeen = firstUnlisted(killedAt);
      expect(fencedSeen).toBeDefined();
      expect(fencedSeen! - killedAt).toBeGreaterThan(3000);
      expect(spawn.at).toBeGreaterThan(fencedSeen! - 500);

      // The control: the opt-out restarts at once, long before node 1 stops listing the victim.
      await cluster.stopNode(victim, 'SIGKILL');
      const killedAgain = Date.now();
      await cluster.startNode(victim, { beforeFenced: true });
      const early = spawns.filter((x) => x.id === victim).at(-1)!;
      expect(early.at - killedAgain).toBeLessThan(1500);
      expect(samples.filter((x) => x.sent >= killedAgain && x.sent <= early.at).every((x) => x.listed)).toBe(
        true,
      );
    } finally {
      polling = false;
      await poll;
    }
  }, 180_000);

  /** Runs `fn` with a transport of `transportName` on this cluster, closed afterwards. */
  const withTransport = async (
    transportName: TransportName,
    clientId: string,
    fn: (transport: Transport) => Promise<void>,
  ): Promise<void> => {
    const transport = makeTransport(transportName, cluster.brokers, clientId, testLogger());
    try {
      await fn(transport);
    } finally {
      await transport.close();
    }
  };

  // Transactions alone (no app): each writes one record to each of 6 partitions and adds an offset, while two nodes
  // are SIGKILLed; each must end on all partitions or none, once (`npm run chaos -- atomicity` at a smaller size).
  // kafkajs 2.2.4 wrote records of a transaction twice when a broker failed (architecture.md, "six ways it broke",
  // item 6): this counts such copies as duplicated.
  it.each<TransportName>(['kafkajs', 'platformatic'])(
    'transactions stay whole across broker kills (%s)',
    (transportName) =>
      withTransport(transportName, 'it-atomicity', async (transport) => {
        const seed = Date.now() % 100_000;
        const r = await runAtomicity({
          cluster,
          transport,
          seed,
          producers: 12,
          partitions: 6,
          feedMs: 20_000,
          brokerKills: 2,
          beforeFenced: false,
          logger: testLogger(),
        });
        expect({
          seed,
          partial: r.partial,
          duplicated: r.duplicated,
          lost: r.lostCommitted,
          examples: r.examples,
        }).toEqual({
          seed,
          partial: 0,
          duplicated: 0,
          lost: 0,
          examples: [],
        });
        expect(r.committed).toBeGreaterThan(100);
        expect(r.brokerKills).toBe(2);
      }),
    180_000,
  );

  // The chaos scenario's four app shapes (one-hop, two-hop with timers, fan-out-in, windowed) on this cluster while
  // three nodes are SIGKILLed one at a time (`npm run chaos -- eos --broker-kills 3` at a smaller size), each started
  // again once it is fenced (see above; kafkajs runs duplicated and lost now and then while restarts came earlier).
  it.each<TransportName>(['kafkajs', 'platformatic'])(
    'exactly-once holds in every app shape while broker nodes are killed one at a time (%s)',
    (transportName) =>
      withTransport(transportName, 'it-broker-chaos', async (transport) => {
        const seed = Date.now() % 100_000;
        const result = await runChaos({
          transport,
          brokers: cluster.brokers,
          guarantee: 'exactly_once',
          shapes: SHAPES,
          records: 12_000,
          workers: 3,
          kills: 0,
          pauses: 0,
          joinLeave: 0,
          partitions: 6,
          feedMs: 12_000,
          sessionTimeoutMs: 6_000,
          timeoutMs: 90_000,
          brokerKills: 3,
          cluster,
          seed,
          logger: testLogger(),
        });
        expect(verdict(seed, result)).toEqual(cleanVerdict(seed, result, { sent: 12_000, brokerKills: 3 }));
      }),
    300_000,
  );
});
