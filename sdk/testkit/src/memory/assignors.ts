// Partition assignment strategies of the in-memory consumer groups, modelled on Kafka's range and round-robin
// assignors. Deterministic: members are ordered by join sequence, partitions by topic name then number.
import type { TopicPartition } from '@dirigo/core';

/** `range` (Kafka's RangeAssignor: co-partitions topics) or `roundRobin` (kafkajs's default). */
export type AssignmentStrategy = 'range' | 'roundRobin';

export interface AssignorMember {
  readonly seq: number;
  readonly topics: readonly string[];
}

/** Partitions per member seq. `partitionsOf` returns undefined for topics that do not exist (skipped). */
export function assign(
  strategy: AssignmentStrategy,
  members: readonly AssignorMember[],
  partitionsOf: (topic: string) => number | undefined,
): Map<number, TopicPartition[]> {
  const sorted = [...members].sort((a, b) => a.seq - b.seq);
  const result = new Map<number, TopicPartition[]>(sorted.map((m) => [m.seq, []]));
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].sort();
  if (strategy === 'range') {
    for (const topic of topics) {
      const n = partitionsOf(topic) ?? 0;
      const subscribers = sorted.filter((m) => m.topics.includes(topic));
      if (subscribers.length === 0) continue;
      const per = Math.floor(n / subscribers.length);
      const extra = n % subscribers.length;
      let p = 0;
      subscribers.forEach((m, i) => {
        const count = per + (i < extra ? 1 : 0);
        for (let k = 0; k < count; k++) result.get(m.seq)!.push({ topic, partition: p++ });
      });
    }
    return result;
  }
  let cursor = 0;
  for (const topic of topics) {
    const n = partitionsOf(topic) ?? 0;
    for (let partition = 0; partition < n; partition++) {
      // Next member (cyclically) subscribed to this topic.
      for (let k = 0; k < sorted.length; k++) {
        const m = sorted[(cursor + k) % sorted.length]!;
        if (!m.topics.includes(topic)) continue;
        result.get(m.seq)!.push({ topic, partition });
        cursor = (cursor + k + 1) % sorted.length;
        break;
      }
    }
  }
  return result;
}
