// A KRaft cluster with a dedicated controller, as production clusters run Kafka 4 (the brokers only serve
// clients; the metadata quorum is a process of its own, which clients never reach): one broker and one controller
// of the project's Kafka. On both clients: the exactly-once v2 primitives (the KIP-447 contract), the exactly-once
// chaos scenario (all four app shapes, workers SIGKILLed and frozen), and a controller that goes away and comes
// back while an app runs (the broker keeps serving the partitions it leads; the app resumes where it was).
import { type KafkaCluster, startKafka } from '@dirigo/local-kafka';
import { eosV2Contract } from '@dirigo/testkit/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactlyOnceOnCluster } from './chaos/own-cluster.ts';
import { testLogger, unique } from './harness.ts';
import { makeTransport, TRANSPORT_NAMES } from './transports.ts';

/** The broker on 8092, the controller on 18093: below the ephemeral range, away from the other suites' ports. */
const BASE_PORT = 8092;

describe('Kafka with a dedicated KRaft controller', () => {
  let cluster: KafkaCluster | undefined;
  const brokers = (): string => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster.brokers;
  };
  beforeAll(async () => {
    cluster = await startKafka({ basePort: BASE_PORT, controllers: 'dedicated', logger: testLogger() });
  }, 240_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('runs the broker and the controller as two processes, clients reaching only the broker', () => {
    expect(brokers()).toBe(`127.0.0.1:${BASE_PORT}`);
    expect(cluster!.nodes.map((n) => [n.id, n.role, n.running])).toEqual([
      [1, 'broker', true],
      [2, 'controller', true],
    ]);
    expect(cluster!.nodes[1]!.controllerPort).toBe(BASE_PORT + 10_001);
  });

  for (const name of TRANSPORT_NAMES) {
    eosV2Contract(
      `${name} with a dedicated controller`,
      () => makeTransport(name, brokers(), `it-kraft-${name}`, testLogger()),
      { eagerRevocation: name === 'kafkajs' },
    );
  }

  it.each(TRANSPORT_NAMES)(
    'exactly-once survives kills and freezes in every app shape (%s)',
    (transportName) => expectExactlyOnceOnCluster(transportName, brokers(), 'it-kraft-chaos'),
    240_000,
  );

  it.each(TRANSPORT_NAMES)(
    'keeps producing and consuming while the controller is down, and creates topics again once it is back (%s)',
    async (transportName) => {
      const transport = makeTransport(transportName, brokers(), 'it-kraft-down', testLogger());
      try {
        const topic = unique('it-kraft-down');
        const admin = await transport.admin();
        await admin.createTopics([{ name: topic, partitions: 2 }]);
        const producer = transport.producer({ clientId: 'it-kraft-down' });
        await producer.connect();
        const send = (from: number) =>
          producer.send(
            Array.from({ length: 50 }, (_, i) => ({
              topic,
              key: Buffer.from(`k${(from + i) % 7}`),
              value: Buffer.from(String(from + i)),
            })),
          );
        await send(0);
        await cluster!.stopNode(2, 'SIGKILL');
        // The broker leads its partitions without the controller: produce and read on.
        await send(50);
        const seen: string[] = [];
        await transport.readToEnd(
          [0, 1].map((partition) => ({ topic, partition, fromOffset: 0 })),
          (records) => {
            for (const r of records) seen.push(r.value!.toString());
          },
        );
        expect(seen.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        await cluster!.startNode(2);
        expect(cluster!.nodes.find((n) => n.id === 2)!.running).toBe(true);
        // Metadata changes need the controller: a new topic can be made again.
        const after = unique('it-kraft-after');
        await admin.createTopics([{ name: after, partitions: 1 }]);
        await producer.send([{ topic: after, key: null, value: Buffer.from('x') }]);
        await producer.disconnect();
      } finally {
        await transport.close();
      }
    },
    180_000,
  );
});
