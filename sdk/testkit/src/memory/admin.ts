// The in-memory Admin: topic administration and offset queries against a MemoryKafka.
import {
  type Admin,
  type PartitionOffset,
  type PartitionOffsets,
  type TopicDescription,
  type TopicPartitionOffset,
  type TopicSpec,
  recordsToDelete,
} from '@dirigo/core';
import type { MemoryKafka } from './kafka.ts';

export class MemoryAdmin implements Admin {
  private readonly kafka: MemoryKafka;

  constructor(kafka: MemoryKafka) {
    this.kafka = kafka;
  }

  async createTopics(topics: readonly TopicSpec[]): Promise<void> {
    this.kafka.ensureOpen();
    for (const spec of topics) this.kafka.createTopic(spec);
  }

  async describeTopics(names: readonly string[]): Promise<TopicDescription[]> {
    this.kafka.ensureOpen();
    return names.map((name) => this.kafka.describe(name));
  }

  async listTopics(): Promise<string[]> {
    this.kafka.ensureOpen();
    return this.kafka.topicNames();
  }

  async deleteTopics(names: readonly string[]): Promise<void> {
    this.kafka.ensureOpen();
    for (const name of names) this.kafka.deleteTopic(name);
  }

  /** `high` is the high watermark (it counts records of open transactions and transaction markers). */
  async fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    this.kafka.ensureOpen();
    return this.kafka
      .topic(topic)
      .logs.map((log) => ({ partition: log.partition, low: log.low, high: log.high }));
  }

  async deleteRecords(topic: string, offsets: readonly PartitionOffset[]): Promise<void> {
    this.kafka.ensureOpen();
    const logs = this.kafka.topic(topic).logs;
    for (const o of recordsToDelete(topic, offsets, await this.fetchTopicOffsets(topic)))
      logs[o.partition]!.deleteBefore(o.offset);
  }

  async fetchCommittedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    this.kafka.ensureOpen();
    const group = this.kafka.group(groupId);
    return this.kafka.topic(topic).logs.map((log) => ({
      topic,
      partition: log.partition,
      offset: group.committedOffset(topic, log.partition) ?? -1,
    }));
  }

  async close(): Promise<void> {}
}
