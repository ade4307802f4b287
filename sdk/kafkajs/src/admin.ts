// Admin on kafkajs.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Admin as DirigoAdmin,
  type FetchCommittedOptions,
  INTERNAL_TOPICS,
  namingRefusedTopic,
  type Logger,
  type PartitionOffset,
  type PartitionOffsets,
  type TopicDescription,
  type TopicPartitionOffset,
  type TopicSpec,
  recordsToDelete,
  TransportError,
  UnknownTopicError,
} from '@dirigo/core';
import type { ITopicConfig, Admin as KAdmin } from 'kafkajs';
import { causeChain, isLeaderNotAvailable, isUnknownTopicError, mapError } from './errors.ts';
import { askAgainWhileUnknown, METADATA_LAG_MS } from './metadata-lag.ts';
import { explainCoordinatorNotFound, type KafkajsInternals } from './internals.ts';
import { kafkajs } from './kafkajs-patches.ts';

const { ConfigResourceTypes } = kafkajs;

/** Attempts of an OffsetFetch while the group coordinator moves or loads (about 5 s in all). */
const COORDINATOR_ATTEMPTS = 8;

const COORDINATOR_MOVING = new Set([
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
]);

/** The group's coordinator is not there yet (a new broker) or moving: asking again soon will do. */
function isCoordinatorMoving(error: unknown): boolean {
  return causeChain(error).some((e) => e.type !== undefined && COORDINATOR_MOVING.has(e.type));
}

/** How long topic creation may take, including the wait until the topics are usable. */
const CREATE_TIMEOUT_MS = 30_000;

/** What the admin needs from the transport. */
export interface AdminContext {
  readonly logger: Logger;
  /** Partition counts of topics known to exist (producers skip their existence check for them). */
  readonly knownTopics: Map<string, number>;
  /**
   * Topics `createTopics` saw usable, with when: a broker other than the one it asked may not know them yet for a
   * moment (each broker of a cluster learns of a new topic on its own), so `describeTopics` asks again for them.
   */
  readonly created?: Map<string, number>;
  /** High watermarks (kafkajs's admin only reports last stable offsets). */
  internals(): KafkajsInternals;
  closed(admin: KafkajsAdmin): void;
}

/** Throws `UnknownTopicError` naming the first of `names` that does not exist (kafkajs's error does not say). */
export async function throwUnknownTopic(
  admin: KAdmin,
  names: readonly string[],
  cause: unknown,
): Promise<never> {
  let missing: string | undefined;
  try {
    const existing = new Set(await admin.listTopics());
    missing = names.find((n) => !existing.has(n));
  } catch {
    // Keep the original error.
  }
  throw new UnknownTopicError(missing ?? names[0] ?? '?', { cause });
}

export class KafkajsAdmin implements DirigoAdmin {
  readonly #context: AdminContext;
  readonly #admin: KAdmin;
  readonly #logger: Logger;
  #closed = false;

  constructor(context: AdminContext, admin: KAdmin) {
    this.#context = context;
    this.#admin = admin;
    this.#logger = context.logger.child({ component: 'admin' });
  }

  /**
   * Creates the missing topics, then waits until every requested topic (created here, by a concurrent creator, or
   * earlier) is in the broker's metadata with a leader for each partition, so producers and consumers can use it
   * at once. kafkajs alone returns too early in two cases: when a concurrent creator won (TOPIC_ALREADY_EXISTS can
   * come from the controller before the topic reaches the brokers' metadata), and when its own wait for leaders
   * meets UNKNOWN_TOPIC_OR_PARTITION (it gives up instead of waiting).
   */
  async createTopics(topics: readonly TopicSpec[]): Promise<void> {
    if (topics.length === 0) return;
    try {
      const existing = new Set(await this.#admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.name));
      if (missing.length > 0) {
        const { brokers } = await this.#admin.describeCluster();
        const defaultReplication = Math.max(1, Math.min(3, brokers.length));
        const specs: ITopicConfig[] = missing.map((t) => {
          const config: Record<string, string> = { ...(t.config ?? {}) };
          if (t.compacted === true) config['cleanup.policy'] = 'compact';
          return {
            topic: t.name,
            numPartitions: t.partitions,
            replicationFactor: t.replicationFactor ?? defaultReplication,
            configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
          };
        });
        // Resolves false when every topic already existed (a concurrent creator won the race): fine.
        const created = await this.#admin.createTopics({
          topics: specs,
          waitForLeaders: false,
          timeout: CREATE_TIMEOUT_MS,
        });
        if (created) this.#logger.info({ topics: missing.map((t) => t.name) }, 'topics created');
      }
    } catch (error) {
      throw mapError(error, { operation: 'create topics' });
    }
    await this.#waitUntilUsable(topics.map((t) => t.name));
  }

  /** Waits until every topic has metadata with a leader for each partition (see `createTopics`). */
  async #waitUntilUsable(names: readonly string[]): Promise<void> {
    const deadline = Date.now() + CREATE_TIMEOUT_MS;
    let pending: readonly string[] = names;
    for (let attempt = 0; ; attempt++) {
      try {
        const metadata = await this.#admin.fetchTopicMetadata({ topics: [...pending] });
        const ready = new Set(
          metadata.topics
            .filter((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
            .map((t) => t.name),
        );
        pending = pending.filter((n) => !ready.has(n));
        if (pending.length === 0) {
          const now = Date.now();
          for (const n of names) this.#context.created?.set(n, now);
          return;
        }
      } catch (error) {
        if (!isUnknownTopicError(error) && !isLeaderNotAvailable(error)) {
          throw mapError(error, { operation: 'create topics: wait for metadata' });
        }
      }
      if (Date.now() > deadline) {
        throw new TransportError(
          `create topics: ${pending.join(', ')} still without metadata or leaders ${CREATE_TIMEOUT_MS} ms after creation; check the brokers' health`,
          { retriable: true },
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(500, 25 * 2 ** attempt)));
    }
  }

  async describeTopics(names: readonly string[]): Promise<TopicDescription[]> {
    if (names.length === 0) return [];
    // A topic this transport saw created a moment ago: the broker asked may not know it yet.
    return askAgainWhileUnknown(
      () => namingRefusedTopic(names, (some) => this.#describeTopics(some)),
      (error) => {
        const created =
          error instanceof UnknownTopicError ? this.#context.created?.get(error.topic) : undefined;
        return created === undefined ? 0 : created + METADATA_LAG_MS;
      },
      (error, attempt) =>
        this.#logger.debug(
          { topic: (error as UnknownTopicError).topic, attempt },
          'describe topics: asking again',
        ),
    );
  }

  async #describeTopics(names: readonly string[]): Promise<TopicDescription[]> {
    let partitionsByTopic: Map<string, number>;
    try {
      const metadata = await this.#admin.fetchTopicMetadata({ topics: [...names] });
      partitionsByTopic = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
    } catch (error) {
      if (isUnknownTopicError(error)) return throwUnknownTopic(this.#admin, names, error);
      throw mapError(error, {
        operation: 'describe topics',
        ...(names.length === 1 ? { topic: names[0]! } : {}),
      });
    }
    const missing = names.find((n) => !partitionsByTopic.has(n) || partitionsByTopic.get(n) === 0);
    if (missing !== undefined) throw new UnknownTopicError(missing);
    let configs: Map<string, Record<string, string>>;
    try {
      const described = await this.#admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      });
      configs = new Map();
      for (const resource of described.resources) {
        const config: Record<string, string> = {};
        for (const entry of resource.configEntries) {
          if (entry.configValue !== null && entry.configValue !== undefined) {
            config[entry.configName] = entry.configValue;
          }
        }
        configs.set(resource.resourceName, config);
      }
    } catch (error) {
      if (isUnknownTopicError(error)) return throwUnknownTopic(this.#admin, names, error);
      throw mapError(error, {
        operation: 'describe topic configs',
        ...(names.length === 1 ? { topic: names[0]! } : {}),
      });
    }
    return names.map((name) => ({
      name,
      partitions: partitionsByTopic.get(name)!,
      config: configs.get(name) ?? {},
    }));
  }

  async listTopics(): Promise<string[]> {
    try {
      const topics = await this.#admin.listTopics();
      return topics.filter((t) => !INTERNAL_TOPICS.has(t)).sort();
    } catch (error) {
      throw mapError(error, { operation: 'list topics' });
    }
  }

  async deleteTopics(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    try {
      const existing = new Set(await this.#admin.listTopics());
      const toDelete = names.filter((n) => existing.has(n));
      for (const n of names) {
        this.#context.knownTopics.delete(n);
        this.#context.created?.delete(n);
      }
      if (toDelete.length === 0) return;
      await this.#admin.deleteTopics({ topics: toDelete, timeout: 30_000 });
      this.#logger.info({ topics: toDelete }, 'topics deleted');
    } catch (error) {
      // A topic deleted concurrently between the listing and the request.
      if (isUnknownTopicError(error)) return;
      throw mapError(error, { operation: 'delete topics' });
    }
  }

  async fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    try {
      return await this.#context.internals().watermarks(topic);
    } catch (error) {
      if (isUnknownTopicError(error)) throw new UnknownTopicError(topic, { cause: error });
      throw mapError(error, { operation: 'fetch topic offsets', topic });
    }
  }

  async deleteRecords(topic: string, offsets: readonly PartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    try {
      const moving = recordsToDelete(topic, offsets, await this.#context.internals().watermarks(topic));
      if (moving.length === 0) return;
      // kafkajs looks the partitions' leaders up before it loads the topic's metadata: load it first.
      await this.#admin.fetchTopicMetadata({ topics: [topic] });
      await this.#admin.deleteTopicRecords({
        topic,
        partitions: moving.map((o) => ({ partition: o.partition, offset: String(o.offset) })),
      });
    } catch (error) {
      if (isUnknownTopicError(error)) throw new UnknownTopicError(topic, { cause: error });
      throw mapError(error, { operation: 'delete records', topic });
    }
  }

  async fetchCommittedOffsets(
    groupId: string,
    topic: string,
    options?: FetchCommittedOptions,
  ): Promise<TopicPartitionOffset[]> {
    if (options?.requireStable === true) {
      // kafkajs's OffsetFetch (up to v4) has no require_stable: OffsetFetch v7 through its internals.
      try {
        const committed = await this.#context.internals().committedOffsets(groupId, topic, true);
        return committed.map((c) => ({ topic, partition: c.partition, offset: c.offset }));
      } catch (error) {
        if (isUnknownTopicError(error)) throw new UnknownTopicError(topic, { cause: error });
        throw await this.#committedError(
          error,
          `fetch committed offsets of group ${groupId}`,
          groupId,
          topic,
        );
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.#admin.fetchOffsets({ groupId, topics: [topic] });
        const entry = result.find((r) => r.topic === topic);
        if (entry === undefined) return [];
        return entry.partitions
          .map((p) => ({
            topic,
            partition: p.partition,
            offset: Number(p.offset) < 0 ? -1 : Number(p.offset),
          }))
          .sort((a, b) => a.partition - b.partition);
      } catch (error) {
        if (isUnknownTopicError(error)) throw new UnknownTopicError(topic, { cause: error });
        // kafkajs finds the coordinator but does not retry its answer: on a new broker the first OffsetFetch
        // can meet NOT_COORDINATOR while __consumer_offsets is created and loaded.
        if (attempt < COORDINATOR_ATTEMPTS && isCoordinatorMoving(error)) {
          await sleep(Math.min(100 * 2 ** (attempt - 1), 1000));
          continue;
        }
        throw await this.#committedError(error, 'fetch committed offsets', groupId, topic);
      }
    }
  }

  /** A failed read of `groupId`'s offsets as a Dirigo error, with the broker's reason when kafkajs dropped it. */
  async #committedError(error: unknown, operation: string, groupId: string, topic: string): Promise<Error> {
    const explained = await explainCoordinatorNotFound(error, () => this.#context.internals(), groupId, 0);
    return mapError(explained, { operation, topic, group: groupId });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#admin.disconnect();
    } catch (error) {
      throw mapError(error, { operation: 'close admin' });
    } finally {
      this.#context.closed(this);
    }
  }
}
