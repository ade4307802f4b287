// Brokers before Kafka 4.0, as users run them next to their apps: Kafka 3.6 and 3.9 (KRaft, one node each, started
// here; the rest of the suites run on the project's Kafka 4.2), and Kafka 3.9 on ZooKeeper (a cluster that has not
// moved to KRaft: a ZooKeeper server and one broker registered in it). On each, with both clients and the classic group
// protocol: the exactly-once v2 primitives (the KIP-447 contract: offsets committed as the member, a past
// generation refused, stable reads), and the exactly-once chaos scenario (all four app shapes on worker processes
// that are SIGKILLed and frozen past their session). The consumer group protocol (KIP-848) is not served by these
// brokers: a member of it says so, naming the fix, instead of logging a bare protocol error.
import { createLogger } from '@dirigo/core';
import { type KafkaCluster, startKafka } from '@dirigo/local-kafka';
import { PlatformaticTransport } from '@dirigo/platformatic';
import { eosV2Contract } from '@dirigo/testkit/contract';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactlyOnceOnCluster } from './chaos/own-cluster.ts';
import { testLogger, unique } from './harness.ts';
import { makeTransport, TRANSPORT_NAMES, type TransportName } from './transports.ts';

/**
 * The versions, each on ports of its own: below Linux's ephemeral range (32768-60999), away from the shared broker
 * (19092) and the other suites' own (2092/12092/22092, 19892-19896).
 */
export const OLD_BROKERS: readonly {
  readonly version: string;
  readonly basePort: number;
  readonly metadata: 'kraft' | 'zookeeper';
  /** The transports that run there; the others must refuse the brokers at once, saying why. */
  readonly transports: readonly TransportName[];
}[] = [
  // The oldest @platformatic/kafka supports (the platformatic transport's documented minimum).
  { version: '3.5.2', basePort: 7092, metadata: 'kraft', transports: TRANSPORT_NAMES },
  { version: '3.6.2', basePort: 3092, metadata: 'kraft', transports: TRANSPORT_NAMES },
  { version: '3.9.1', basePort: 4092, metadata: 'kraft', transports: TRANSPORT_NAMES },
  { version: '3.9.1', basePort: 5092, metadata: 'zookeeper', transports: TRANSPORT_NAMES },
  // Before 3.1 (Fetch v13) for @platformatic/kafka, which supports 3.5 and newer; kafkajs runs there.
  { version: '2.8.2', basePort: 6092, metadata: 'zookeeper', transports: ['kafkajs'] },
];

describe.each(OLD_BROKERS)(
  'Kafka $version, $metadata (classic group protocol)',
  ({ version, basePort, metadata, transports }) => {
    let cluster: KafkaCluster | undefined;
    const brokers = (): string => {
      if (cluster === undefined) throw new Error(`Kafka ${version} did not start`);
      return cluster.brokers;
    };
    beforeAll(async () => {
      cluster = await startKafka({ version, basePort, metadata, logger: testLogger() });
      expect(cluster.version).toBe(version);
    }, 240_000);
    afterAll(async () => {
      await cluster?.stop();
    }, 120_000);

    for (const name of transports) {
      eosV2Contract(
        `${name} on Kafka ${version}`,
        () => makeTransport(name, brokers(), `it-old-${name}`, testLogger()),
        { eagerRevocation: name === 'kafkajs' },
      );
    }

    it.each(transports)(
      'exactly-once survives kills and freezes in every app shape (%s)',
      (transportName) => expectExactlyOnceOnCluster(transportName, brokers(), 'it-old-chaos'),
      240_000,
    );

    if (!transports.includes('platformatic'))
      it('the platformatic transport refuses the brokers at once, naming what they lack and the way around', async () => {
        // Before the check, a consumer retried the refused OffsetFetch for ever and the app hung with no error.
        const transport = new PlatformaticTransport({ brokers: brokers(), logger: testLogger() });
        try {
          const started = Date.now();
          const error = await transport.admin().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect((error as Error).message).toBe(
            `the brokers at ${brokers()} are too old for the platformatic transport: they do not speak Fetch v13+ (Kafka 3.1), OffsetFetch v8+ (Kafka 3.0). It runs on Kafka 3.5 or newer (what @platformatic/kafka supports): upgrade the cluster, or use the kafkajs transport (--transport kafkajs, DIRIGO_TRANSPORT=kafkajs, or new KafkajsTransport(...)), which runs on Kafka 2.8 and newer`,
          );
          // Every later connection says the same.
          await expect(transport.producer({ clientId: 'it-old-refused' }).connect()).rejects.toThrow(
            'too old for the platformatic transport',
          );
          expect(Date.now() - started).toBeLessThan(15_000);
        } finally {
          await transport.close();
        }
      }, 60_000);

    if (transports.includes('platformatic'))
      it('a member of the consumer group protocol says that the brokers do not serve it, and how to fix it', async () => {
        const file = join(mkdtempSync(join(tmpdir(), 'old-broker-')), 'consumer.log');
        const logger = createLogger({ file, level: 'warn' });
        const transport = new PlatformaticTransport({
          brokers: brokers(),
          logger,
          groupProtocol: 'consumer',
        });
        try {
          const topic = unique('it-old-kip848');
          await (await transport.admin()).createTopics([{ name: topic, partitions: 1 }]);
          const consumer = transport.consumer({ groupId: unique('it-old-kip848-g') });
          await consumer.connect();
          await consumer.subscribe([topic]);
          await consumer.run({ eachBatch: async () => {} });
          const said = () =>
            readFileSync(file, 'utf8')
              .split('\n')
              .filter((l) => l.includes('do not serve the consumer group protocol'));
          const deadline = Date.now() + 30_000;
          while (said().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
          // Said at every try (joins are tried again: the brokers may be upgraded meanwhile), with the fix.
          expect(said().length).toBeGreaterThanOrEqual(2);
          const line = JSON.parse(said()[0]!) as { msg: string; setting: string };
          expect(line.setting).toBe('groupProtocol');
          expect(line.msg).toContain('--group-protocol classic');
          expect(consumer.assignment()).toEqual([]);
          await consumer.disconnect();
        } finally {
          await transport.close();
        }
      }, 60_000);
  },
);
