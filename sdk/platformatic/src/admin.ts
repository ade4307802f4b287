// Admin on @platformatic/kafka.
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
import {
  type ClusterMetadata,
  ConfigResourceTypes,
  type ConnectionPool,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  type Admin as PAdmin,
} from '@platformatic/kafka';
import { fetchCommitted } from './committed.ts';
import { hasErrorId, isLeaderNotAvailable, isUnknownTopicError, mapError, unknownTopicOf } from './errors.ts';

/** How long topic creation may take, including the wait until the topics are usable. */
const CREATE_TIMEOUT_MS = 30_000;

/** What the admin needs from the transport. */
export interface AdminContext {
  readonly logger: Logger;
  /** Partition counts of topics known to exist (producers skip their existence check for them). */
  readonly knownTopics: Map<string, number>;
  /** The node coordinating a group (cached), and forgetting it after a failed request. */
  groupCoordinator(groupId: string): Promise<number>;
  forgetGroupCoordinator(groupId: string): void;
  /** Connections for the requests the admin sends itself (committed offsets), closed with the admin. */
  readonly pool: ConnectionPool;
  closed(admin: PlatformaticAdmin): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Fresh metadata of `names` (no retries inside the client: callers decide). Rejects with `UnknownTopicError`
 * naming the first missing topic.
 */
export async function topicMetadata(admin: PAdmin, names: readonly string[]): Promise<ClusterMetadata> {
  try {
    const metadata = await admin.metadata({ topics: [...names], forceUpdate: true, retries: 0 });
    const missing = names.find((n) => (metadata.topics.get(n)?.partitionsCount ?? 0) === 0);
    if (missing !== undefined) throw new UnknownTopicError(missing);
    return metadata;
  } catch (error) {
    if (isUnknownTopicError(error)) {
      throw new UnknownTopicError(unknownTopicOf(error) ?? names[0] ?? '?', { cause: error });
    }
    throw error;
  }
}

/** Low and high watermarks of every partition of `topic` (read_uncommitted: the real high watermark). */
export async function watermarks(admin: PAdmin, topic: string): Promise<PartitionOffsets[]> {
  const metadata = await topicMetadata(admin, [topic]);
  const count = metadata.topics.get(topic)!.partitionsCount;
  const ask = (timestamp: bigint) =>
    admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: count }, (_, partitionIndex) => ({ partitionIndex, timestamp })),
        },
      ],
      isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
    });
  const [low, high] = await Promise.all([
    ask(ListOffsetTimestamps.EARLIEST),
    ask(ListOffsetTimestamps.LATEST),
  ]);
  const offsetOf = (answer: typeof low, partition: number): number | undefined => {
    const p = answer.find((t) => t.name === topic)?.partitions.find((x) => x.partitionIndex === partition);
    return p === undefined ? undefined : Number(p.offset);
  };
  const result: PartitionOffsets[] = [];
  for (let partition = 0; partition < count; partition++) {
    const l = offsetOf(low, partition);
    const h = offsetOf(high, partition);
    // Never answer with fewer partitions than the topic has: a restore would take a missing one for empty.
    if (l === undefined || h === undefined) {
      throw new TransportError(`fetch topic offsets: no answer for ${topic}[${partition}]`, {
        retriable: true,
      });
    }
    result.push({ partition, low: l, high: h });
  }
  return result;
}

export class PlatformaticAdmin implements DirigoAdmin {
  readonly #context: AdminContext;
  readonly #admin: PAdmin;
  readonly #logger: Logger;
  #closed = false;

  constructor(context: AdminContext, admin: PAdmin) {
    this.#context = context;
    this.#admin = admin;
    this.#logger = context.logger.child({ component: 'admin' });
  }

  /**
   * Creates the missing topics, then waits until every requested topic (created here, by a concurrent creator, or
   * earlier) is in the broker's metadata with a leader for each partition, so producers and consumers can use it
   * at once. TOPIC_ALREADY_EXISTS (a concurrent creator won) is not an error.
   */
  async createTopics(topics: readonly TopicSpec[]): Promise<void> {
    if (topics.length === 0) return;
    try {
      const existing = new Set(await this.#admin.listTopics({ includeInternals: true }));
      const missing = topics.filter((t) => !existing.has(t.name));
      if (missing.length > 0) {
        const metadata = await this.#admin.metadata({ topics: [], forceUpdate: true });
        const defaultReplication = Math.max(1, Math.min(3, metadata.brokers.size));
        // One request per topic: the client applies one config list to every topic of a request.
        const created = await Promise.all(missing.map((t) => this.#create(t, defaultReplication)));
        const names = missing.filter((_, i) => created[i]).map((t) => t.name);
        if (names.length > 0) this.#logger.info({ topics: names }, 'topics created');
      }
    } catch (error) {
      throw mapError(error, { operation: 'create topics' });
    }
    await this.#waitUntilUsable(topics.map((t) => t.name));
  }

  /** Creates one topic; false when it already existed. */
  async #create(t: TopicSpec, defaultReplication: number): Promise<boolean> {
    const config: Record<string, string> = { ...(t.config ?? {}) };
    if (t.compacted === true) config['cleanup.policy'] = 'compact';
    try {
      await this.#admin.createTopics({
        topics: [
          { topic: t.name, partitions: t.partitions, replicas: t.replicationFactor ?? defaultReplication },
        ],
        configs: Object.entries(config).map(([name, value]) => ({ name, value })),
      });
      return true;
    } catch (error) {
      if (hasErrorId(error, 'TOPIC_ALREADY_EXISTS')) return false;
      throw error;
    }
  }

  /** Waits until every topic has metadata with a leader for each partition (see `createTopics`). */
  async #waitUntilUsable(names: readonly string[]): Promise<void> {
    const deadline = Date.now() + CREATE_TIMEOUT_MS;
    let pending: readonly string[] = names;
    for (let attempt = 0; ; attempt++) {
      try {
        const metadata = await topicMetadata(this.#admin, pending);
        pending = pending.filter((n) => {
          const t = metadata.topics.get(n);
          if (t === undefined || t.partitionsCount === 0) return true;
          for (let p = 0; p < t.partitionsCount; p++) if ((t.partitions[p]?.leader ?? -1) < 0) return true;
          this.#context.knownTopics.set(n, t.partitionsCount);
          return false;
        });
        if (pending.length === 0) return;
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
      await sleep(Math.min(500, 25 * 2 ** attempt));
    }
  }

  describeTopics(names: readonly string[]): Promise<TopicDescription[]> {
    if (names.length === 0) return Promise.resolve([]);
    return namingRefusedTopic(names, (some) => this.#describeTopics(some));
  }

  async #describeTopics(names: readonly string[]): Promise<TopicDescription[]> {
    let metadata: ClusterMetadata;
    try {
      metadata = await topicMetadata(this.#admin, names);
    } catch (error) {
      throw mapError(error, { operation: 'describe topics', topic: names[0]! });
    }
    const configs = new Map<string, Record<string, string>>();
    try {
      const described = await this.#admin.describeConfigs({
        resources: names.map((resourceName) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName })),
        includeSynonyms: false,
      });
      for (const resource of described) {
        const config: Record<string, string> = {};
        for (const entry of resource.configs) {
          if (entry.value !== null && entry.value !== undefined) config[entry.name] = entry.value;
        }
        configs.set(resource.resourceName, config);
      }
    } catch (error) {
      throw mapError(error, { operation: 'describe topic configs', topic: names[0]! });
    }
    return names.map((name) => ({
      name,
      partitions: metadata.topics.get(name)!.partitionsCount,
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
      for (const n of names) this.#context.knownTopics.delete(n);
      if (toDelete.length === 0) return;
      await this.#admin.deleteTopics({ topics: toDelete });
      this.#logger.info({ topics: toDelete }, 'topics deleted');
    } catch (error) {
      // A topic deleted concurrently between the listing and the request.
      if (isUnknownTopicError(error)) return;
      throw mapError(error, { operation: 'delete topics' });
    }
  }

  async fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    try {
      return await watermarks(this.#admin, topic);
    } catch (error) {
      throw mapError(error, { operation: 'fetch topic offsets', topic });
    }
  }

  async deleteRecords(topic: string, offsets: readonly PartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    try {
      const moving = recordsToDelete(topic, offsets, await watermarks(this.#admin, topic));
      if (moving.length === 0) return;
      await this.#admin.deleteRecords({
        topics: [
          {
            name: topic,
            partitions: moving.map((o) => ({ partition: o.partition, offset: BigInt(o.offset) })),
          },
        ],
      });
    } catch (error) {
      if (isUnknownTopicError(error)) throw new UnknownTopicError(topic, { cause: error });
      throw mapError(error, { operation: 'delete records', topic });
    }
  }

  async fetchCommittedOffsets(
    groupId: string,
    topic: string,
    options: FetchCommittedOptions = {},
  ): Promise<TopicPartitionOffset[]> {
    try {
      const metadata = await topicMetadata(this.#admin, [topic]);
      const count = metadata.topics.get(topic)!.partitionsCount;
      const partitionIndexes = Array.from({ length: count }, (_, i) => i);
      // UNSTABLE_OFFSET_COMMIT (a transaction holds offsets of the group) is tried again there.
      const committed = await fetchCommitted(
        {
          client: this.#admin,
          pool: this.#context.pool,
          coordinator: (g) => this.#context.groupCoordinator(g),
          forgetCoordinator: (g) => this.#context.forgetGroupCoordinator(g),
        },
        groupId,
        topic,
        partitionIndexes,
        options.requireStable === true,
      );
      return partitionIndexes.map((partition) => {
        const offset = committed.get(partition) ?? -1n;
        return { topic, partition, offset: offset < 0n ? -1 : Number(offset) };
      });
    } catch (error) {
      throw mapError(error, { operation: 'fetch committed offsets', topic, group: groupId });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#context.pool.close();
      await this.#admin.close();
    } catch (error) {
      throw mapError(error, { operation: 'close admin' });
    } finally {
      this.#context.closed(this);
    }
  }
}
