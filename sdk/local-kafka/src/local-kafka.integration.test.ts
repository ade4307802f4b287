// A real broker: start one node, create a topic, produce and consume a record with kafkajs, crash and
// restart the node (the record survives), stop, and check that the process and its data are gone.
// Needs Java 17+ and Maven (or an already fetched Kafka); it fails, never skips, without them.
import { existsSync } from 'node:fs';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { type KafkaCluster, startKafka } from './cluster.ts';
import { isAlive } from './tools.ts';

const { Kafka, logLevel } = kafkajs;

// Away from the CLI's default ports, so that it runs next to `npm run kafka -- start`.
const BASE_PORT = 19_692;

async function consumeOne(brokers: string, topic: string, groupId: string): Promise<string> {
  const kafka = new Kafka({
    clientId: 'local-kafka-test',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<string>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            resolve(message.value?.toString() ?? '');
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

describe('startKafka (real broker)', () => {
  it('starts one node, serves produce and consume, survives a crash, and stops', {
    timeout: 180_000,
  }, async () => {
    const t0 = Date.now();
    let cluster: KafkaCluster | undefined;
    try {
      cluster = await startKafka({ nodes: 1, basePort: BASE_PORT });
      const startMs = Date.now() - t0;
      expect(cluster.brokers).toBe(`127.0.0.1:${BASE_PORT}`);
      expect(cluster.version).toMatch(/^4\./);
      const [node] = cluster.nodes;
      expect(node).toMatchObject({ id: 1, port: BASE_PORT, running: true });
      const firstPid = node!.pid;
      expect(isAlive(firstPid)).toBe(true);

      const kafka = new Kafka({
        clientId: 'local-kafka-test',
        brokers: [cluster.brokers],
        logLevel: logLevel.NOTHING,
      });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic: 'local-kafka-test', numPartitions: 1 }],
        waitForLeaders: true,
      });
      await admin.disconnect();
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      await producer.send({
        topic: 'local-kafka-test',
        acks: -1,
        messages: [{ key: 'k', value: 'hello kafka' }],
      });
      await producer.disconnect();
      expect(await consumeOne(cluster.brokers, 'local-kafka-test', 'g1')).toBe('hello kafka');
      const roundTripMs = Date.now() - t0 - startMs;

      // A crash, then a restart on the same data: the record is still there.
      await cluster.stopNode(1, 'SIGKILL');
      expect(isAlive(firstPid)).toBe(false);
      expect(cluster.nodes[0]!.running).toBe(false);
      const t1 = Date.now();
      await cluster.startNode(1);
      const restartMs = Date.now() - t1;
      expect(cluster.nodes[0]!.running).toBe(true);
      expect(cluster.nodes[0]!.pid).not.toBe(firstPid);
      expect(await consumeOne(cluster.brokers, 'local-kafka-test', 'g2')).toBe('hello kafka');

      const pid = cluster.nodes[0]!.pid;
      const dataDir = cluster.dataDir;
      const t2 = Date.now();
      await cluster.stop();
      const stopMs = Date.now() - t2;
      expect(isAlive(pid)).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
      process.stderr.write(
        `local-kafka timings: start ${startMs} ms, topic+produce+consume ${roundTripMs} ms, ` +
          `restart ${restartMs} ms, stop ${stopMs} ms\n`,
      );
    } finally {
      await cluster?.stop();
    }
  });
});
