// KafkajsInternals shares one kafkajs cluster between every watermark read and batch-header probe of a
// transport. Many partitions open at once (after a rebalance, after a worker resumes from a freeze) and read
// their changelogs' watermarks concurrently, often after a failed first attempt (dead connections). No read may
// then see another topic's metadata: an empty answer made a partition skip its restore and run on an empty
// state (found by the chaos run, seed 8).
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkajsInternals } from './internals.ts';

const brokers = (process.env.KAFKA_BROKERS ?? inject('kafkaBrokers')).split(',');

describe('KafkajsInternals under concurrent use', () => {
  const kafka = new kafkajs.Kafka({ brokers, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  const topics = [1, 2, 3, 4, 5, 6].map((n) => `dirigo-kjs-race-${n}-${randomBytes(3).toString('hex')}`);
  afterAll(async () => {
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  });

  it('answers every partition of each topic, even when attempts fail and are retried at the same time', async () => {
    await admin.connect();
    await admin.createTopics({ topics: topics.map((topic, i) => ({ topic, numPartitions: i + 1 })) });
    // After each round starts, the first ListOffsets calls fail as dead connections would (a worker resuming
    // from a freeze): the calls of the round retry at the same time.
    const key = Object.getOwnPropertySymbols(kafka).find(
      (s) => s.description === 'private:Kafka:createCluster',
    )!;
    const holder = kafka as unknown as Record<symbol, (o: object) => Record<string, unknown>>;
    const create = holder[key]!.bind(kafka);
    holder[key] = (options: object) => {
      const cluster = create(options);
      const fetch = (cluster.fetchTopicsOffset as (t: unknown) => Promise<unknown>).bind(cluster);
      cluster.fetchTopicsOffset = async (t: unknown) => {
        if (failures > 0) {
          failures--;
          throw Object.assign(new Error('Connection closed'), { retriable: true });
        }
        return fetch(t);
      };
      return cluster;
    };
    let failures = 0;
    const internals = new KafkajsInternals(kafka);
    try {
      for (let round = 0; round < 5; round++) {
        failures = 12;
        const answers = await Promise.all(
          topics.flatMap((t) =>
            [0, 1, 2].map(() => internals.watermarks(t).then((o) => [t, o.length] as const)),
          ),
        );
        for (const [t, n] of answers) expect({ t, n }).toEqual({ t, n: topics.indexOf(t) + 1 });
      }
    } finally {
      await internals.close();
    }
  }, 120_000);
});

describe('KafkajsInternals.watermarks', () => {
  it('never answers an empty partition list for a topic whose metadata was replaced under it: it retries', async () => {
    // A cluster whose metadata, at the first lookup, holds another caller's topics only (what a concurrent
    // refresh leaves behind), and the real partitions afterwards.
    let lookups = 0;
    const cluster = {
      targetTopics: new Set<string>(),
      connect: async () => {},
      disconnect: async () => {},
      addTargetTopic: async (t: string) => {
        cluster.targetTopics.add(t);
      },
      refreshMetadata: async () => {},
      findTopicPartitionMetadata: () => (lookups++ === 0 ? [] : [{ partitionId: 0 }, { partitionId: 1 }]),
      fetchTopicsOffset: async (
        topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
      ) =>
        topics.map((t) => ({
          topic: t.topic,
          partitions: t.partitions.map((p) => ({
            partition: p.partition,
            offset: t.fromBeginning ? '0' : '42',
          })),
        })),
    };
    const fakeKafka = { [Symbol('private:Kafka:createCluster')]: () => cluster };
    const internals = new KafkajsInternals(fakeKafka as unknown as import('kafkajs').Kafka);
    expect(await internals.watermarks('t')).toEqual([
      { partition: 0, low: 0, high: 42 },
      { partition: 1, low: 0, high: 42 },
    ]);
    expect(lookups).toBe(2);
  });
});
