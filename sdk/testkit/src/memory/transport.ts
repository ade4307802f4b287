// MemoryTransport: the Transport implementation over a MemoryKafka cluster (several transports may share one
// cluster, to simulate several workers), including `readToEnd` for restoring from changelogs.
import type {
  Admin,
  Consumer,
  ConsumerOptions,
  IncomingRecord,
  Producer,
  ProducerOptions,
  ReadFrom,
  TopicPartitionOffset,
  Transport,
} from '@dirigo/core';
import { MemoryAdmin } from './admin.ts';
import { MemoryConsumer } from './consumer.ts';
import { MemoryKafka } from './kafka.ts';
import { MemoryProducer } from './producer.ts';

/**
 * A `Transport` backed by an in-memory Kafka. Pass a shared `MemoryKafka` to let several transports (workers)
 * see the same topics and groups; by default each transport gets its own new cluster.
 */
export class MemoryTransport implements Transport {
  readonly name = 'memory';
  /** The cluster this transport talks to. */
  readonly kafka: MemoryKafka;
  private readonly clients = new Set<{ disconnect(): Promise<void> }>();

  constructor(kafka: MemoryKafka = new MemoryKafka()) {
    this.kafka = kafka;
  }

  async admin(): Promise<Admin> {
    this.kafka.ensureOpen();
    return new MemoryAdmin(this.kafka);
  }

  producer(options: ProducerOptions = {}): Producer {
    const producer = new MemoryProducer(this.kafka, options);
    this.clients.add(producer);
    return producer;
  }

  consumer(options: ConsumerOptions): Consumer {
    const consumer = new MemoryConsumer(this.kafka, options);
    this.clients.add(consumer);
    return consumer;
  }

  /**
   * Reads each partition from `fromOffset` (0 or -1: earliest) up to the high watermark it had when the call
   * began, read_committed, in batches of up to `maxBatchRecords`. Waits while an open transaction holds the last
   * stable offset below that watermark. Resolves with the next offset of each partition.
   */
  async readToEnd(
    partitions: readonly ReadFrom[],
    onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>,
  ): Promise<TopicPartitionOffset[]> {
    this.kafka.ensureOpen();
    const targets = partitions.map((p) => {
      const log = this.kafka.log(p.topic, p.partition);
      return { log, target: log.high, position: p.fromOffset <= 0 ? log.low : p.fromOffset };
    });
    const result: TopicPartitionOffset[] = [];
    for (const t of targets) {
      let position = t.position;
      while (position < t.target) {
        this.kafka.ensureOpen();
        const fetched = t.log.fetch(
          position,
          'read_committed',
          this.kafka.maxBatchRecords,
          Infinity,
          t.target,
        );
        if (fetched.next === position) {
          await this.kafka.changed(t.log.topic); // an open transaction holds the last stable offset
          continue;
        }
        position = fetched.next;
        if (fetched.records.length > 0) await onRecords(fetched.records);
      }
      result.push({ topic: t.log.topic, partition: t.log.partition, offset: position });
    }
    return result;
  }

  /** Disconnects every producer and consumer this transport created. The cluster stays up. */
  async close(): Promise<void> {
    const clients = [...this.clients];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.disconnect()));
  }
}
