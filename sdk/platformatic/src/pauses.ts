// What the owner of a consumer paused: whole topics, single partitions, and partitions resumed inside a paused
// topic. Pure bookkeeping; the consumer asks `isPaused` before fetching or delivering a partition.

export type TopicPartitions = readonly { topic: string; partitions?: readonly number[] }[];

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const ofTopic = (topic: string) => (key: string) => key.startsWith(`${topic}\u0000`);

export class Pauses {
  readonly #topics = new Set<string>();
  readonly #partitions = new Set<string>();
  /** Partitions resumed while their whole topic is paused. */
  readonly #resumedInPausedTopic = new Set<string>();

  pause(list: TopicPartitions): void {
    for (const { topic, partitions } of list) {
      if (partitions === undefined) {
        this.#topics.add(topic);
        for (const key of [...this.#resumedInPausedTopic].filter(ofTopic(topic)))
          this.#resumedInPausedTopic.delete(key);
      } else {
        for (const p of partitions) {
          this.#partitions.add(keyOf(topic, p));
          this.#resumedInPausedTopic.delete(keyOf(topic, p));
        }
      }
    }
  }

  resume(list: TopicPartitions): void {
    for (const { topic, partitions } of list) {
      if (partitions === undefined) {
        this.#topics.delete(topic);
        for (const key of [...this.#partitions].filter(ofTopic(topic))) this.#partitions.delete(key);
        for (const key of [...this.#resumedInPausedTopic].filter(ofTopic(topic)))
          this.#resumedInPausedTopic.delete(key);
      } else {
        for (const p of partitions) {
          const key = keyOf(topic, p);
          this.#partitions.delete(key);
          if (this.#topics.has(topic)) this.#resumedInPausedTopic.add(key);
        }
      }
    }
  }

  isPaused(topic: string, partition: number): boolean {
    if (this.#topics.size === 0 && this.#partitions.size === 0) return false;
    const key = keyOf(topic, partition);
    if (this.#partitions.has(key)) return true;
    return this.#topics.has(topic) && !this.#resumedInPausedTopic.has(key);
  }
}
