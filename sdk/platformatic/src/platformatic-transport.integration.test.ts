import { transportContract } from '@dirigo/testkit/contract';
import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';
import { PlatformaticTransport } from './index.ts';
import { testBrokers, testLogger } from './test-broker.ts';

const brokers = testBrokers();
const logger = testLogger();
const newTransport = (): PlatformaticTransport => new PlatformaticTransport({ brokers, logger });
/** readToEnd fetches at most a byte per partition: one record batch per fetch. */
const batchByBatch = (): PlatformaticTransport =>
  new PlatformaticTransport({
    brokers,
    logger,
    readToEnd: { maxBytesPerPartition: 1, stallTimeoutMs: 10_000 },
  });

/**
 * Compacts a topic for real: makes its segments roll and the cleaner eligible right away, appends a tombstone
 * per partition (so the segment holding the test's records is no longer the active one), then waits until the
 * cleaner has shrunk the topic.
 */
async function compact(topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'contract-compact', bootstrapBrokers: brokers!.split(',') });
  const transport = newTransport();
  try {
    const set = (name: string, value: string) => ({
      name,
      value,
      configOperation: IncrementalAlterConfigOperationTypes.SET,
    });
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: topic,
          configs: [
            set('cleanup.policy', 'compact'),
            set('segment.ms', '100'),
            set('min.cleanable.dirty.ratio', '0.001'),
            set('min.compaction.lag.ms', '0'),
            set('delete.retention.ms', '0'),
          ],
        },
      ],
    });
    const partitions = (await (await transport.admin()).describeTopics([topic]))[0]!.partitions;
    const all = Array.from({ length: partitions }, (_, p) => p);
    const before = await count(transport, topic, all);
    await new Promise((r) => setTimeout(r, 300)); // older than segment.ms: the next append rolls the segment
    const producer = transport.producer();
    await producer.connect();
    await producer.send(
      all.map((partition) => ({ topic, partition, key: Buffer.from('__roll'), value: null })),
    );
    await producer.disconnect();
    const deadline = Date.now() + 60_000;
    while ((await count(transport, topic, all)) >= before) {
      if (Date.now() > deadline) throw new Error(`topic ${topic} was not compacted within 60 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.close();
    await transport.close();
  }
}

async function count(transport: PlatformaticTransport, topic: string, partitions: number[]): Promise<number> {
  let n = 0;
  await transport.readToEnd(
    partitions.map((partition) => ({ topic, partition, fromOffset: 0 })),
    (records) => {
      n += records.length;
    },
  );
  return n;
}

transportContract('platformatic', async () => ({ transport: newTransport() }), {
  slow: true,
  compact,
  batchByBatch,
  frozenMemberMs: 9_000,
});
