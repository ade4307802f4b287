// Runs the transport contract suite against KafkajsTransport on a real broker (KAFKA_BROKERS, e.g.
// `npm run kafka -- start` then `KAFKA_BROKERS=127.0.0.1:19092`). Without a broker this file FAILS on purpose:
// a green run must mean the contract was checked against Kafka.
import { createLogger } from '@dirigo/core';
import { eosV2Contract, transportContract } from '@dirigo/testkit/contract';
import kafkajs from 'kafkajs';
import { KafkajsTransport } from './index.ts';

const brokers = process.env.KAFKA_BROKERS;
if (brokers === undefined || brokers.trim() === '') {
  throw new Error(
    'KAFKA_BROKERS is not set: the kafkajs transport tests need a real broker. Start one with ' +
      '`npm run kafka -- start` and set KAFKA_BROKERS to its bootstrap address (e.g. 127.0.0.1:19092).',
  );
}

/** Logs of the transport under test: silent unless DIRIGO_LOG_LEVEL asks for them. */
const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'silent' });
const newTransport = (): KafkajsTransport => new KafkajsTransport({ brokers, logger });
/** readToEnd fetches at most a byte per partition: one record batch per fetch. */
const batchByBatch = (): KafkajsTransport =>
  new KafkajsTransport({ brokers, logger, readToEnd: { maxBytesPerPartition: 1, stallTimeoutMs: 10_000 } });

/**
 * Compacts a topic for real: makes its segments roll and the cleaner eligible right away, appends a tombstone
 * per partition (so the segment holding the test's records is no longer the active one), then waits until the
 * cleaner has shrunk the topic. kafkajs's admin has no incremental config change, so the whole topic config is
 * set, cleanup.policy included.
 */
async function compact(topic: string): Promise<void> {
  const client = new kafkajs.Kafka({ brokers: brokers!.split(','), logLevel: kafkajs.logLevel.NOTHING });
  const admin = client.admin();
  const transport = newTransport();
  try {
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'segment.ms', value: '100' },
            { name: 'min.cleanable.dirty.ratio', value: '0.001' },
            { name: 'min.compaction.lag.ms', value: '0' },
            { name: 'delete.retention.ms', value: '0' },
          ],
        },
      ],
    });
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const partitions = metadata!.partitions.map((p) => p.partitionId);
    const before = await count(transport, topic, partitions);
    await new Promise((r) => setTimeout(r, 300)); // older than segment.ms: the next append rolls the segment
    const producer = transport.producer();
    await producer.connect();
    await producer.send(
      partitions.map((partition) => ({ topic, partition, key: Buffer.from('__roll'), value: null })),
    );
    await producer.disconnect();
    const deadline = Date.now() + 60_000;
    while ((await count(transport, topic, partitions)) >= before) {
      if (Date.now() > deadline) throw new Error(`topic ${topic} was not compacted within 60 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.disconnect();
    await transport.close();
  }
}

async function count(transport: KafkajsTransport, topic: string, partitions: number[]): Promise<number> {
  let n = 0;
  await transport.readToEnd(
    partitions.map((partition) => ({ topic, partition, fromOffset: 0 })),
    (records) => {
      n += records.length;
    },
  );
  return n;
}

transportContract('kafkajs', async () => ({ transport: newTransport() }), {
  slow: true,
  compact,
  batchByBatch,
  frozenMemberMs: 9_000,
});

// Exactly-once v2 through kafkajs's connections (TxnOffsetCommit v3, OffsetFetch v7: eos-v2.ts).
eosV2Contract('kafkajs', newTransport, { eagerRevocation: true });
