// Fix 6 of kafkajs 2.2.4 (see kafkajs-patches.ts): the producer's send, which kafkajs builds per producer from
// `src/producer/sendMessages.js`. kafkajs remembers which BROKERS answered a send, by Broker object, and each
// retry sends again to every leader without an answer recorded, and it waits for an attempt's requests with
// `Promise.all`. Three ways records went missing or were written twice, seen in the chaos run with broker kills
// (`npm run chaos -- eos --broker-kills 3 --transport kafkajs`), in transactions as well:
// - an attempt fails at its first failed request while the requests to other leaders are still in flight; the
//   retry sends those leaders' records again although their first request then succeeds;
// - a broker that fails a request is dropped from kafkajs's pool and comes back as a new Broker object: the retry
//   counts it as one that never answered and sends again the records it had acknowledged;
// - a partition whose leader moved to a broker that had answered already is not sent at all (the call resolves
//   without it; producer.ts used to notice and send those records again).
// The records sent again in the first two cases get the next sequence numbers, so the broker cannot tell them from
// new records and appends them twice (seen: one transaction holding the same ten records at offsets 160 and 176,
// sequences 24-33 and 34-43 of one producer epoch). Here a send remembers which PARTITIONS were acknowledged;
// each attempt sends every partition not acknowledged yet to its current leader, and fails only once all of its
// requests have settled. A failed request gives its sequence numbers back (as kafkajs does), so records a broker
// appended without its answer arriving are sent again under the same numbers and recognised as duplicates.
// A partition whose leader the metadata does not know (kafkajs's `findLeaderForPartitions` leaves it out) is not
// sent in that attempt, and the attempt then fails once its requests have settled (metadata refreshed, the next
// attempt sends it), so a send resolves only once every partition it holds records for was acknowledged.
// Everything else is kafkajs's algorithm: grouping, metadata refreshes on the same errors, the same retrier.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface Broker {
  produce(request: unknown): Promise<{ topics: { topicName: string; partitions: object[] }[] }>;
}
interface PartitionEntry {
  partition: number;
  messages: unknown[];
  firstSequence?: number;
}
interface TopicData {
  topic: string;
  partitions: PartitionEntry[];
}
interface Cluster {
  refreshMetadataIfNecessary(): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): unknown[];
  findLeaderForPartitions(topic: string, partitions: string[]): Record<string, number[]>;
  findBroker(args: { nodeId: string }): Promise<Broker>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  removeBroker(args: { host: string; port: number }): void;
  isConnected(): boolean;
  connect(): Promise<void>;
  readonly targetTopics: Set<string>;
}
interface EosManager {
  acquireBrokerLock(broker: Broker): Promise<void>;
  releaseBrokerLock(broker: Broker): Promise<void>;
  isTransactional(): boolean;
  addPartitionsToTransaction(topicData: TopicData[]): Promise<void>;
  getSequence(topic: string, partition: number): number;
  updateSequence(topic: string, partition: number, increment: number): void;
  getTransactionalId(): string;
  getProducerId(): number;
  getProducerEpoch(): number;
}
type Retrier = <T>(
  fn: (bail: (e: Error) => void, retryCount: number, retryTime: number) => Promise<T>,
) => Promise<T>;
interface Logger {
  debug(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}
interface SendArgs {
  acks: number;
  timeout: number;
  compression: unknown;
  topicMessages: { topic: string; messages: unknown[] }[];
}
type KafkaError = Error & { retriable?: boolean; host?: string; port?: number };

/** kafkajs internals the send uses, taken when a producer is made (the copy kafkajs-patches.ts loaded). */
function internals() {
  const { KafkaJSMetadataNotLoaded } = require('kafkajs/src/errors') as {
    KafkaJSMetadataNotLoaded: new (message: string) => Error;
  };
  const { staleMetadata } = require('kafkajs/src/protocol/error') as {
    staleMetadata: (e: unknown) => boolean;
  };
  const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition') as (args: {
    topic: string;
    partitionMetadata: unknown[];
    messages: unknown[];
    partitioner: unknown;
  }) => Record<string, unknown[]>;
  return { KafkaJSMetadataNotLoaded, staleMetadata, groupMessagesPerPartition };
}

/** The same factory signature as kafkajs's `sendMessages.js`. */
export function createSendMessages({
  logger,
  cluster,
  partitioner,
  eosManager,
  retrier,
}: {
  logger: Logger;
  cluster: Cluster;
  partitioner: unknown;
  eosManager: EosManager;
  retrier: Retrier;
}) {
  const { KafkaJSMetadataNotLoaded, staleMetadata, groupMessagesPerPartition } = internals();
  return async ({ acks, timeout, compression, topicMessages }: SendArgs): Promise<object[]> => {
    /** Partitions whose records a broker acknowledged in this send, per topic: never sent again. */
    const acked = new Map<string, Set<number>>();
    /** The acknowledgements, one per partition. */
    const responses: object[] = [];

    /**
     * One Produce request per current leader, for the partitions not acknowledged yet; `leaderless` gets the
     * partitions (`topic[partition]`) left out because no leader is known for them.
     */
    const createProducerRequests = async (leaderless: string[]): Promise<Promise<void>[]> => {
      await cluster.refreshMetadataIfNecessary();
      const perLeader = new Map<string, TopicData[]>();
      for (const { topic, messages } of topicMessages) {
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic);
        if (partitionMetadata.length === 0) {
          logger.debug('Producing to topic without metadata', {
            topic,
            targetTopics: Array.from(cluster.targetTopics),
          });
          throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata');
        }
        const messagesPerPartition = groupMessagesPerPartition({
          topic,
          partitionMetadata,
          messages,
          partitioner,
        });
        const done = acked.get(topic);
        const open = Object.keys(messagesPerPartition).filter((p) => done?.has(Number(p)) !== true);
        if (open.length === 0) continue;
        const partitionsPerLeader = cluster.findLeaderForPartitions(topic, open);
        let placed = 0;
        for (const partitions of Object.values(partitionsPerLeader)) placed += partitions.length;
        if (placed < open.length) {
          const led = new Set(Object.values(partitionsPerLeader).flat().map(Number));
          for (const p of open) if (!led.has(Number(p))) leaderless.push(`${topic}[${p}]`);
        }
        for (const [nodeId, partitions] of Object.entries(partitionsPerLeader)) {
          const list = perLeader.get(nodeId) ?? [];
          list.push({
            topic,
            partitions: partitions.map((partition) => ({
              partition,
              messages: messagesPerPartition[partition]!,
            })),
          });
          perLeader.set(nodeId, list);
        }
      }
      const leaders: [Broker, TopicData[]][] = [];
      for (const [nodeId, topicData] of perLeader)
        leaders.push([await cluster.findBroker({ nodeId }), topicData]);
      return leaders.map(async ([broker, topicData]) => {
        await eosManager.acquireBrokerLock(broker);
        try {
          if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData);
          for (const { topic, partitions } of topicData) {
            for (const entry of partitions) {
              entry.firstSequence = eosManager.getSequence(topic, entry.partition);
              eosManager.updateSequence(topic, entry.partition, entry.messages.length);
            }
          }
          let response: Awaited<ReturnType<Broker['produce']>>;
          try {
            response = await broker.produce({
              transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
              producerId: eosManager.getProducerId(),
              producerEpoch: eosManager.getProducerEpoch(),
              acks,
              timeout,
              compression,
              topicData,
            });
          } catch (e) {
            // Given back: the next attempt sends these records again under the same sequence numbers, so a
            // broker that appended them (the answer was lost) recognises them and does not append them again.
            for (const { topic, partitions } of topicData) {
              for (const entry of partitions) {
                eosManager.updateSequence(topic, entry.partition, -entry.messages.length);
              }
            }
            throw e;
          }
          for (const { topic, partitions } of topicData) {
            const set = acked.get(topic) ?? new Set<number>();
            for (const entry of partitions) set.add(Number(entry.partition));
            acked.set(topic, set);
          }
          if (acks !== 0) {
            for (const { topicName, partitions } of response.topics) {
              for (const partition of partitions) responses.push({ topicName, ...partition });
            }
          }
        } finally {
          await eosManager.releaseBrokerLock(broker);
        }
      });
    };

    return retrier(async (bail, retryCount, retryTime) => {
      await cluster.addMultipleTargetTopics(topicMessages.map(({ topic }) => topic));
      try {
        const leaderless: string[] = [];
        const requests = await createProducerRequests(leaderless);
        // The fix: every request of the attempt settles (its answer recorded) before the attempt fails.
        const settled = await Promise.allSettled(requests);
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        if (leaderless.length > 0) {
          throw new KafkaJSMetadataNotLoaded(
            `no leader known for ${leaderless.join(', ')}: not sent yet (metadata refreshed, sent in the next attempt)`,
          );
        }
        return responses;
      } catch (error) {
        const e = error as KafkaError;
        if (e.name === 'KafkaJSConnectionClosedError') cluster.removeBroker({ host: e.host!, port: e.port! });
        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, { retryCount, retryTime });
          await cluster.connect();
          await cluster.refreshMetadata();
          throw e;
        }
        if (
          staleMetadata(e) ||
          e.name === 'KafkaJSMetadataNotLoaded' ||
          e.name === 'KafkaJSConnectionError' ||
          e.name === 'KafkaJSConnectionClosedError' ||
          (e.name === 'KafkaJSProtocolError' && e.retriable === true)
        ) {
          logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime });
          await cluster.refreshMetadata();
          throw e;
        }
        logger.error(e.message, { retryCount, retryTime });
        if (e.retriable === true) throw e;
        bail(e);
        return [];
      }
    });
  };
}
