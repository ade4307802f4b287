// Consumer on kafkajs: a group member delivering batches through `eachBatch`, with assigned/revoked callbacks
// derived from kafkajs's group events (kafkajs has no rebalance listener).
//
// How kafkajs behaves (2.2.4, read from its source):
// - One fetcher per broker fetches, hands the batches to the worker(s) and waits until they are processed.
//   kafkajs only heartbeats between batches (and after empty fetches); a long `eachBatch` starves heartbeats.
// - A rebalance is usually noticed by a heartbeat (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
//   UNKNOWN_MEMBER_ID). The runner then stops ALL fetchers, waiting for every in-flight batch, emits REBALANCING,
//   re-joins (JoinGroup + SyncGroup), emits GROUP_JOIN, and starts new fetchers. Every sync builds a new offset
//   manager: positions restart from the committed offsets (eager protocol: everything is revoked).
// - Two other paths re-join WITHOUT stopping the fetchers or emitting REBALANCING: a fetch that hits stale
//   metadata (leader moved, partitions added) re-joins from inside that fetch, and the runner's
//   UNKNOWN_MEMBER_ID path. Batches fetched before such a re-join may still be processed after it.
// - kafkajs does not wait for event listeners.
//
// What this class guarantees (see README.md, "Rebalance callbacks"):
// 1. onAssigned(full new assignment) completes before any batch of that assignment is delivered: eachBatch
//    waits on the transition promise (heartbeating meanwhile) and only then checks that delivery is allowed.
// 2. onRevoked(previous assignment) starts only after every in-flight eachBatch has returned, and no batch of
//    the revoked assignment is delivered once it has started (delivery is switched off first; batches that
//    arrive later are dropped unresolved, so kafkajs re-fetches them after the next assignment).
// 3. onRevoked, onAssigned and the next onRevoked never overlap (one promise chain).
// 4. When this class notices the rebalance itself (our heartbeat during or right after a batch, which is the
//    usual case under load), onRevoked runs BEFORE kafkajs re-joins: we hold kafkajs's worker until it
//    returns, then hand kafkajs a rebalance error. When kafkajs notices it first (heartbeat after an empty
//    fetch: an idle member), onRevoked runs while kafkajs is already re-joining; offsets committed from it may
//    then be rejected with PartitionsRevokedError (kafkajs offers no hook to delay its JoinGroup).
// 5. A re-join that kafkajs does without REBALANCING (the stale-metadata and UNKNOWN_MEMBER_ID paths) "poisons"
//    the member: nothing more is delivered, and the next batch makes kafkajs do a clean re-join (revoke, join,
//    assign), so no batch fetched under the old generation (with the old positions) ever reaches the owner.
// 6. Every generation change revokes everything and assigns everything (kafkajs resets positions to the
//    committed offsets on every sync, so the owner must do the same).
import {
  AuthorizationError,
  type ConsumerHandlers,
  type ConsumerOptions,
  type Consumer as DirigoConsumer,
  DirigoError,
  type GroupMetadata,
  type Logger,
  PartitionsRevokedError,
  type RecordBatch,
  type TopicPartition,
  type TopicPartitionOffset,
} from '@dirigo/core';
import type {
  ConsumerCrashEvent,
  ConsumerGroupJoinEvent,
  ConsumerStartBatchProcessEvent,
  EachBatchPayload,
  Admin as KAdmin,
  Kafka,
  Consumer as KConsumer,
  RetryOptions,
} from 'kafkajs';
import {
  isConnectionError,
  isCoordinatorError,
  isRebalanceError,
  isUnknownTopicError,
  mapError,
} from './errors.ts';
import { explainCoordinatorNotFound, type KafkajsInternals, nextReadable } from './internals.ts';
import { cancelRejoin, joinedGeneration, kafkajs, requestRejoin } from './kafkajs-patches.ts';
import { crashLevel } from './logging.ts';
import { askAgainWhileUnknown, METADATA_LAG_MS } from './metadata-lag.ts';
import { toIncomingRecords } from './records.ts';

const { KafkaJSProtocolError } = kafkajs;

/** What consumers need from the transport. */
export interface ConsumerContext {
  readonly kafka: Kafka;
  readonly logger: Logger;
  readonly retry: RetryOptions;
  /** A connected admin client shared by the transport (committed offsets on the error path). */
  sharedAdmin(): Promise<KAdmin>;
  /** Batch-header fetches, to step over record batches emptied by compaction (kafkajs issue #1072). */
  probe(): KafkajsInternals;
  /** A partition behind its end that has not moved for this long is checked for such batches. */
  readonly stuckPartitionCheckMs: number;
  /** How long a partition waits before re-delivery after `eachBatch` rejected. */
  readonly redeliveryBackoffMs: number;
  closed(consumer: KafkajsConsumer): void;
  /** Resolves once the transport's first-connection check passed (TLS and SASL); rejects with its error. */
  connectionCheck?(): Promise<void>;
}

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
/** The topic and partition of a `keyOf` key. */
const partitionOfKey = (key: string): TopicPartition => {
  const at = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
};

/** The error we hand kafkajs to make it stop its fetchers and re-join (it matches kafkajs's `isRebalancing`). */
function rejoinError(reason: string): Error {
  // kafkajs builds protocol errors from its error-code table entries ({ message, type, code, retriable }).
  const entry = {
    message: `dirigo: re-joining the group (${reason})`,
    type: 'REBALANCE_IN_PROGRESS',
    code: 27,
    retriable: false,
  };
  return new KafkaJSProtocolError(entry as unknown as Error);
}

function flattenAssignment(assignment: Record<string, number[]>): TopicPartition[] {
  const result: TopicPartition[] = [];
  for (const topic of Object.keys(assignment).sort()) {
    for (const partition of [...assignment[topic]!].sort((a, b) => a - b)) result.push({ topic, partition });
  }
  return result;
}

export class KafkajsConsumer implements DirigoConsumer {
  readonly #context: ConsumerContext;
  readonly #options: ConsumerOptions;
  readonly #consumer: KConsumer;
  readonly #logger: Logger;
  readonly #heartbeatIntervalMs: number;

  #handlers: ConsumerHandlers | null = null;
  /** `onFatal` was called (at most once). */
  #fatalSent = false;
  #running = false;
  #closing = false;
  #closed = false;

  // --- rebalance state ---
  /** Batches may be handed to the owner (assignment announced, no rebalance pending). */
  #deliverable = false;
  /** kafkajs is about to (re-)join through a path that stopped its fetchers: the next GROUP_JOIN is clean. */
  #expectingJoin = false;
  /** kafkajs re-joined without stopping its fetchers: force a clean re-join at the next batch. */
  #poisoned = false;
  /** The member id a clean re-join was requested for (see `requestRejoin`), until the group is joined cleanly. */
  #memberId: string | undefined;
  /** Bumped (`#bumpEpoch`) by every event that invalidates the current assignment. */
  #epoch = 0;
  /** Commits in flight, abandoned (answered with PartitionsRevokedError) when the assignment is invalidated. */
  #pendingCommits = new Set<() => void>();
  /** Consecutive background heartbeats that could not reach the group coordinator. */
  #heartbeatConnectionFailures = 0;
  /** The assignment the owner knows (last onAssigned), and its keys. */
  #announced: TopicPartition[] = [];
  #owned = new Set<string>();
  /** Partitions being revoked right now: commits for them are still allowed while onRevoked runs. */
  #revoking = new Set<string>();
  /**
   * The group generation and member id the announced assignment is of (exactly-once v2: offsets in a transaction
   * carry them); set with the assignment, so never newer than the partitions it is reported with.
   */
  #membership: { generationId: number; memberId: string } | undefined;
  /** Serialises onRevoked / onAssigned. */
  #control: Promise<void> = Promise.resolve();
  /** The transition eachBatch must wait for before delivering. */
  #gate: Promise<void> | null = null;

  // --- delivery bookkeeping ---
  #delivering = 0;
  #idleWaiters: (() => void)[] = [];
  /** eachBatch invocations in progress (delivering or waiting on a transition): kafkajs is not heartbeating. */
  #busy = 0;
  #heartbeat: (() => Promise<void>) | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeatInFlight = false;

  // --- pause / seek state (mirrors what we asked kafkajs) ---
  #pausedTopics = new Set<string>();
  /** Partitions resumed while their whole topic is paused. */
  #resumedInPausedTopic = new Set<string>();
  #pausedPartitions = new Set<string>();
  /** Partitions paused by us after a rejected batch, with their resume timers. */
  #backoff = new Map<string, NodeJS.Timeout>();
  /** Positions set by `seek` since the partition's last successful delivery (re-delivery target). */
  #sought = new Map<string, number>();

  // --- stuck-partition watch (kafkajs issue #1072) ---
  /** Next offset kafkajs fetches, per owned partition, when known (after a batch, a seek, a filtered batch). */
  #positions = new Map<string, number>();
  /** When each owned partition last moved (or was assigned). */
  #lastMove = new Map<string, number>();
  #stuckTimer: NodeJS.Timeout | null = null;
  #stuckCheckRunning = false;

  constructor(context: ConsumerContext, options: ConsumerOptions) {
    this.#context = context;
    this.#options = options;
    this.#logger = context.logger.child({ component: 'consumer', groupId: options.groupId });
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
    this.#consumer = context.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout,
      heartbeatInterval: this.#heartbeatIntervalMs,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
      maxWaitTimeInMs: options.maxWaitMs ?? 100,
      readUncommitted: options.isolation === 'read_uncommitted',
      allowAutoTopicCreation: false,
      retry: context.retry,
    });
    const events = this.#consumer.events;
    this.#consumer.on(events.GROUP_JOIN, (e) => this.#onGroupJoin(e));
    this.#consumer.on(events.REBALANCING, () => this.#onRebalancing());
    this.#consumer.on(events.CRASH, (e) => this.#onCrash(e));
    this.#consumer.on(events.STOP, () => this.#onStop());
    this.#consumer.on(events.START_BATCH_PROCESS, (e) => this.#onStartBatch(e));
  }

  async connect(): Promise<void> {
    await this.#context.connectionCheck?.();
    try {
      await this.#consumer.connect();
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'connect consumer' });
    }
  }

  /**
   * Subscribes. A topic just created may not be known yet to the broker kafkajs asks: an unknown topic is asked
   * for again for up to METADATA_LAG_MS before it fails as UnknownTopicError (metadata-lag.ts).
   */
  async subscribe(topics: readonly string[]): Promise<void> {
    const until = Date.now() + METADATA_LAG_MS;
    try {
      await askAgainWhileUnknown(
        () =>
          this.#consumer.subscribe({
            topics: [...topics],
            fromBeginning: (this.#options.autoOffsetReset ?? 'earliest') === 'earliest',
          }),
        (error) => (isUnknownTopicError(error) ? until : 0),
        (_error, attempt) =>
          this.#logger.debug(
            { topics, attempt },
            'subscribe: topic not known to the broker yet; asking again',
          ),
      );
    } catch (error) {
      throw mapError(error, {
        group: this.#options.groupId,
        operation: 'subscribe',
        ...(topics.length === 1 ? { topic: topics[0]! } : {}),
      });
    }
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    if (this.#running) throw new DirigoError('consumer.run: already running');
    this.#running = true;
    this.#handlers = handlers;
    this.#expectingJoin = true;
    this.#heartbeatTimer = setInterval(() => this.#backgroundHeartbeat(), this.#heartbeatIntervalMs);
    this.#heartbeatTimer.unref();
    const stuckMs = this.#context.stuckPartitionCheckMs;
    if (stuckMs > 0) {
      this.#stuckTimer = setInterval(() => void this.#checkStuckPartitions(), Math.max(100, stuckMs / 2));
      this.#stuckTimer.unref();
    }
    try {
      await this.#consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, this.#options.concurrency ?? 1),
        eachBatch: (payload) => this.#onBatch(payload),
      });
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'run consumer' });
    }
  }

  async commitOffsets(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    for (const o of offsets) {
      const key = keyOf(o.topic, o.partition);
      if (!this.#owned.has(key) && !this.#revoking.has(key)) {
        throw new PartitionsRevokedError(
          `commit offsets: ${o.topic}[${o.partition}] is not assigned to this member (revoked or never assigned)`,
        );
      }
    }
    // kafkajs retries a failing commit for a long time (its retry policy) and never looks for a moved group
    // coordinator (only a re-join does). Once the assignment is invalidated (a re-join is due), the owner is
    // answered at once; kafkajs's attempt goes on in the background and its outcome is ignored.
    const commit = this.#consumer.commitOffsets(
      offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) })),
    );
    let abandoned = false;
    try {
      await new Promise<void>((resolve, reject) => {
        const abandon = (): void => {
          abandoned = true;
          resolve();
        };
        this.#pendingCommits.add(abandon);
        commit.then(
          () => {
            this.#pendingCommits.delete(abandon);
            resolve();
          },
          (error: unknown) => {
            this.#pendingCommits.delete(abandon);
            reject(error);
          },
        );
      });
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'commit offsets', revocation: true });
    }
    if (abandoned) {
      commit.catch((error: unknown) => this.#logger.debug({ err: error }, 'abandoned commit failed'));
      throw new PartitionsRevokedError('commit offsets: abandoned, the member is re-joining the group');
    }
    if (this.#sought.size > 0) for (const o of offsets) this.#sought.delete(keyOf(o.topic, o.partition));
  }

  pause(topics: readonly { topic: string; partitions?: readonly number[] }[]): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.#pausedTopics.add(topic);
        for (const key of [...this.#resumedInPausedTopic]) {
          if (key.startsWith(`${topic}\u0000`)) this.#resumedInPausedTopic.delete(key);
        }
      } else {
        for (const p of partitions) {
          this.#pausedPartitions.add(keyOf(topic, p));
          this.#resumedInPausedTopic.delete(keyOf(topic, p));
        }
      }
    }
    this.#applyPause(topics);
  }

  resume(topics: readonly { topic: string; partitions?: readonly number[] }[]): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.#pausedTopics.delete(topic);
        for (const key of [...this.#pausedPartitions]) {
          if (key.startsWith(`${topic}\u0000`)) this.#pausedPartitions.delete(key);
        }
        for (const key of [...this.#resumedInPausedTopic]) {
          if (key.startsWith(`${topic}\u0000`)) this.#resumedInPausedTopic.delete(key);
        }
      } else {
        for (const p of partitions) {
          const key = keyOf(topic, p);
          this.#pausedPartitions.delete(key);
          if (this.#pausedTopics.has(topic)) this.#resumedInPausedTopic.add(key);
        }
      }
    }
    // Partitions in a re-delivery backoff stay paused in kafkajs until their timer fires.
    const toResume = topics.map(({ topic, partitions }) => ({
      topic,
      ...(partitions === undefined
        ? {}
        : { partitions: partitions.filter((p) => !this.#backoff.has(keyOf(topic, p))) }),
    }));
    this.#applyResume(toResume);
    if (this.#backoff.size > 0) this.#applyPause(this.#backoffPauses());
  }

  seek(position: TopicPartitionOffset): void {
    try {
      this.#consumer.seek({
        topic: position.topic,
        partition: position.partition,
        offset: String(position.offset),
      });
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'seek', topic: position.topic });
    }
    const key = keyOf(position.topic, position.partition);
    this.#sought.set(key, position.offset);
    this.#moved(key, position.offset);
  }

  assignment(): readonly TopicPartition[] {
    return this.#announced;
  }

  /**
   * The membership offsets in a transaction are committed as (exactly-once v2): the generation and member id of
   * the last announced assignment, with its partitions and those being revoked (onRevoked running: the group
   * still accepts this generation's offsets until the member re-joins). A generation kafkajs joined since (a
   * rebalance not yet announced) is not reported: the coordinator then refuses these offsets, as it should.
   */
  groupMetadata(): GroupMetadata | undefined {
    const m = this.#membership;
    if (m === undefined) return undefined;
    const partitions = [...this.#announced];
    for (const key of this.#revoking) {
      partitions.push(partitionOfKey(key));
    }
    return { groupId: this.#options.groupId, generationId: m.generationId, memberId: m.memberId, partitions };
  }

  async disconnect(): Promise<void> {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#deliverable = false;
    this.#bumpEpoch();
    cancelRejoin(this.#memberId);
    try {
      if (this.#running) await this.#enqueue(() => this.#revokeAll('disconnect'));
      if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer);
      if (this.#stuckTimer !== null) clearInterval(this.#stuckTimer);
      for (const timer of this.#backoff.values()) clearTimeout(timer);
      this.#backoff.clear();
      await this.#consumer.disconnect();
      this.#logger.debug('consumer disconnected');
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'disconnect consumer' });
    } finally {
      this.#closed = true;
      this.#context.closed(this);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Delivery

  async #onBatch(payload: EachBatchPayload): Promise<void> {
    this.#heartbeat = payload.heartbeat;
    if (!this.#deliverable) {
      if (this.#closing) return;
      if (this.#gate !== null) {
        this.#busy++;
        try {
          await this.#gate;
        } finally {
          this.#busy--;
        }
      }
      if (this.#closing) return;
      // A batch while a re-join is due (our heartbeat saw the rebalance, or kafkajs re-joined without stopping
      // its fetchers): revoke, then make kafkajs re-join cleanly.
      if (this.#poisoned || this.#expectingJoin) return this.#forceRejoin('re-join due');
      // Otherwise (onAssigned failed or is superseded) the batch is dropped without resolving its offset: kafkajs
      // fetches it again.
      if (!this.#deliverable) return;
    }

    const { batch } = payload;
    const { topic, partition } = batch;
    const key = keyOf(topic, partition);
    if (!this.#owned.has(key) || payload.isStale()) return;
    if (this.#isPaused(topic, key) || this.#backoff.has(key)) return;

    const recordBatch: RecordBatch = {
      topic,
      partition,
      records: toIncomingRecords(topic, partition, batch.messages),
      highWatermark: Number(batch.highWatermark),
    };
    const epoch = this.#epoch;
    this.#delivering++;
    this.#busy++;
    let delivered = false;
    try {
      await this.#handlers!.eachBatch(recordBatch);
      delivered = true;
    } catch (error) {
      // During a re-join there is nothing to rewind: the next assignment starts from the committed offsets.
      if (this.#deliverable) await this.#redeliverLater(topic, partition, key, recordBatch, error);
      else this.#logger.debug({ err: error, topic, partition }, 'eachBatch rejected during a re-join');
    } finally {
      this.#busy--;
      if (--this.#delivering === 0 && this.#idleWaiters.length > 0) this.#notifyIdle();
    }
    if (delivered) {
      // lastOffset() covers the control records / aborted data that follow the last record of the batch.
      const lastOffset = batch.lastOffset();
      payload.resolveOffset(lastOffset);
      this.#moved(key, Number(lastOffset) + 1);
      if (this.#sought.size > 0) this.#sought.delete(key);
    }

    if (this.#poisoned) return this.#forceRejoin('kafkajs re-joined while fetching');
    if (epoch !== this.#epoch && this.#expectingJoin && !this.#closing) {
      // Our background heartbeat saw the rebalance while the owner was busy.
      return this.#forceRejoin('rebalance noticed during the batch');
    }
    try {
      await payload.heartbeat();
    } catch (error) {
      if (isRebalanceError(error) || isCoordinatorError(error)) {
        return this.#forceRejoin('rebalance noticed after the batch');
      }
      throw error;
    }
  }

  /** Revokes (before kafkajs re-joins: it waits for this batch), then makes kafkajs re-join. */
  async #forceRejoin(reason: string): Promise<never> {
    this.#invalidate(reason);
    await this.#enqueue(() => this.#revokeAll(reason));
    throw rejoinError(reason);
  }

  /** Stops delivery: a re-join is coming. */
  #invalidate(reason: string): void {
    if (this.#deliverable || !this.#expectingJoin)
      this.#logger.debug({ reason }, 'delivery stopped for a re-join');
    this.#deliverable = false;
    this.#expectingJoin = true;
    this.#poisoned = false;
    this.#bumpEpoch();
  }

  /** The owner's eachBatch rejected: re-deliver from the last committed (or sought) position after a backoff. */
  async #redeliverLater(
    topic: string,
    partition: number,
    key: string,
    batch: RecordBatch,
    error: unknown,
  ): Promise<void> {
    let position = this.#sought.get(key);
    try {
      if (position === undefined) position = await this.#committedPosition(topic, partition);
      this.#logger.warn(
        { err: error, topic, partition, firstOffset: batch.records[0]?.offset, redeliverFrom: position },
        'eachBatch rejected; re-delivering from the last committed position after a backoff',
      );
      const previous = this.#backoff.get(key);
      if (previous !== undefined) clearTimeout(previous);
      const timer = setTimeout(() => {
        this.#backoff.delete(key);
        if (!this.#closing && !this.#isPaused(topic, key))
          this.#applyResume([{ topic, partitions: [partition] }]);
      }, this.#context.redeliveryBackoffMs);
      timer.unref();
      this.#backoff.set(key, timer);
      this.#applyPause([{ topic, partitions: [partition] }]);
      this.#consumer.seek({ topic, partition, offset: String(position) });
      this.#moved(key, position);
    } catch (lookupError) {
      // Without a position we cannot rewind; not resolving the offset makes kafkajs fetch the same batch again.
      this.#logger.error(
        { err: error, lookupError, topic, partition },
        'eachBatch rejected and the committed position could not be read; re-delivering the same batch',
      );
    }
  }

  /** The group's committed position of a partition, or the reset position when there is none. */
  async #committedPosition(topic: string, partition: number): Promise<number> {
    const admin = await this.#context.sharedAdmin();
    const [committed] = await admin.fetchOffsets({ groupId: this.#options.groupId, topics: [topic] });
    const entry = committed?.partitions.find((p) => p.partition === partition);
    const offset = entry === undefined ? -1 : Number(entry.offset);
    if (offset >= 0) return offset;
    const offsets = await admin.fetchTopicOffsets(topic);
    const o = offsets.find((p) => p.partition === partition);
    if (o === undefined) return 0;
    return Number((this.#options.autoOffsetReset ?? 'earliest') === 'earliest' ? o.low : o.high);
  }

  #backgroundHeartbeat(): void {
    // kafkajs heartbeats only between batches; while the owner's callbacks run we keep the session alive. The
    // heartbeat is throttled by kafkajs (no request unless the interval has passed) and shared with its own.
    if (this.#busy === 0 || this.#heartbeat === null || this.#heartbeatInFlight || this.#closing) return;
    this.#heartbeatInFlight = true;
    this.#heartbeat()
      .then(() => {
        this.#heartbeatConnectionFailures = 0;
      })
      .catch((error: unknown) => {
        if (isRebalanceError(error)) {
          this.#invalidate('rebalance noticed by the background heartbeat');
        } else if (isCoordinatorError(error)) {
          this.#invalidate('the group coordinator moved');
        } else if (isConnectionError(error) && ++this.#heartbeatConnectionFailures >= 2) {
          // kafkajs keeps talking to the coordinator it found at the last join; a re-join looks it up again.
          this.#heartbeatConnectionFailures = 0;
          this.#invalidate('the group coordinator cannot be reached');
        } else {
          this.#logger.debug({ err: error }, 'background heartbeat failed');
        }
      })
      .finally(() => {
        this.#heartbeatInFlight = false;
      });
  }

  #moved(key: string, position: number): void {
    this.#positions.set(key, position);
    this.#lastMove.set(key, Date.now());
  }

  /** kafkajs resolves batches whose records were all filtered (markers, aborted data) itself: track them. */
  #onStartBatch(event: ConsumerStartBatchProcessEvent): void {
    const e = event.payload;
    if (e.batchSize !== 0) return;
    const key = keyOf(e.topic, e.partition);
    if (this.#owned.has(key)) this.#moved(key, Number(e.lastOffset) + 1);
  }

  /**
   * kafkajs re-fetches forever at an offset where the broker only returns record batches emptied by compaction
   * (issue #1072). Partitions that are behind their end and have not moved for a while are probed for batch
   * headers, and moved past such batches with a seek, as the Java client would.
   */
  async #checkStuckPartitions(): Promise<void> {
    if (!this.#deliverable || this.#closing || this.#stuckCheckRunning) return;
    const now = Date.now();
    const limit = this.#context.stuckPartitionCheckMs;
    const candidates: { topic: string; partition: number; key: string; since: number }[] = [];
    for (const tp of this.#announced) {
      const key = keyOf(tp.topic, tp.partition);
      const since = this.#lastMove.get(key) ?? now;
      if (now - since < limit || this.#isPaused(tp.topic, key) || this.#backoff.has(key)) continue;
      candidates.push({ ...tp, key, since });
    }
    if (candidates.length === 0) return;
    this.#stuckCheckRunning = true;
    const epoch = this.#epoch;
    try {
      const admin = await this.#context.sharedAdmin();
      const ends = new Map<string, number>();
      for (const topic of new Set(candidates.map((c) => c.topic))) {
        for (const o of await admin.fetchTopicOffsets(topic))
          ends.set(keyOf(topic, o.partition), Number(o.high));
      }
      for (const c of candidates) {
        const end = ends.get(c.key);
        if (end === undefined || epoch !== this.#epoch || !this.#owned.has(c.key)) continue;
        const position = this.#positions.get(c.key) ?? (await this.#committedPosition(c.topic, c.partition));
        if (position >= end) {
          this.#lastMove.set(c.key, Date.now()); // idle at the end: nothing is stuck
          continue;
        }
        const result = await this.#context.probe().probe(c.topic, c.partition, position);
        const next = nextReadable(result, position, end);
        if (epoch !== this.#epoch || this.#lastMove.get(c.key) !== c.since || !this.#owned.has(c.key))
          continue;
        if (next > position) {
          this.#logger.info(
            { topic: c.topic, partition: c.partition, from: position, to: next },
            'stepping over record batches emptied by compaction (kafkajs would re-fetch them forever)',
          );
          this.#consumer.seek({ topic: c.topic, partition: c.partition, offset: String(next) });
          this.#moved(c.key, next);
        } else {
          const first = result.batches[0];
          const maxBytes = this.#options.maxBytesPerPartition ?? 1024 * 1024;
          if (first !== undefined && first.recordCount > 0 && first.sizeBytes > maxBytes) {
            this.#logger.warn(
              { topic: c.topic, partition: c.partition, position, batchBytes: first.sizeBytes, maxBytes },
              'partition stuck: its next record batch is larger than maxBytesPerPartition',
            );
          }
          this.#lastMove.set(c.key, Date.now());
        }
      }
    } catch (error) {
      this.#logger.debug({ err: error }, 'stuck-partition check failed');
    } finally {
      this.#stuckCheckRunning = false;
    }
  }

  /** Invalidates the current assignment; commits in flight are abandoned. */
  #bumpEpoch(): number {
    this.#epoch++;
    if (this.#pendingCommits.size > 0) {
      const pending = [...this.#pendingCommits];
      this.#pendingCommits.clear();
      for (const abandon of pending) abandon();
    }
    return this.#epoch;
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #whenIdle(): Promise<void> {
    if (this.#delivering === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Group events (kafkajs calls these synchronously and does not wait for them)

  #onGroupJoin(event: ConsumerGroupJoinEvent): void {
    if (this.#closing) return;
    const assignment = flattenAssignment(event.payload.memberAssignment);
    this.#reapplyPauses();
    const memberId = event.payload.memberId;
    if (!this.#expectingJoin) {
      // Re-joined from inside a fetch (or after UNKNOWN_MEMBER_ID) while other fetchers may hold batches fetched
      // under the old generation: deliver nothing more, and make kafkajs re-join cleanly, at the next batch or,
      // when the partitions are idle, at the next heartbeat (which kafkajs sends after every empty fetch).
      this.#logger.info(
        { assignment },
        'kafkajs re-joined the group without stopping its fetchers; forcing a clean re-join',
      );
      this.#deliverable = false;
      this.#poisoned = true;
      this.#bumpEpoch();
      this.#memberId = memberId;
      requestRejoin(memberId, rejoinError('kafkajs re-joined without a rebalance'));
      return;
    }
    cancelRejoin(memberId);
    this.#memberId = undefined;
    this.#expectingJoin = false;
    this.#poisoned = false;
    // Read now: kafkajs emits this event from inside the join, where the generation is the assignment's.
    const generationId = joinedGeneration(memberId);
    if (generationId === undefined) {
      // Only if kafkajs changed how it joins (the patch in kafkajs-patches.ts finds the group inside joinAndSync):
      // exactly-once v2 then commits nothing (no membership), which must not pass silently.
      this.#logger.warn(
        { memberId },
        'the group generation of this assignment is unknown: exactly-once v2 cannot commit until the next join',
      );
    }
    const epoch = this.#bumpEpoch();
    this.#gate = this.#enqueue(async () => {
      await this.#revokeAll('rebalance');
      if (this.#closing || epoch !== this.#epoch) return;
      this.#membership = generationId === undefined ? undefined : { generationId, memberId };
      this.#announced = assignment;
      this.#owned = new Set(assignment.map((tp) => keyOf(tp.topic, tp.partition)));
      const now = Date.now();
      for (const key of this.#owned) this.#lastMove.set(key, now);
      this.#logger.info(
        { partitions: assignment, generationLeader: event.payload.isLeader },
        'partitions assigned',
      );
      try {
        await this.#handlers?.onAssigned?.(assignment);
      } catch (error) {
        // Delivering without a successful onAssigned would hand batches to an owner that is not ready: re-join
        // (revoke, assign again) at the next batch instead.
        this.#logger.error({ err: error }, 'onAssigned rejected; the member will re-join the group');
        if (epoch === this.#epoch) {
          this.#poisoned = true;
          this.#bumpEpoch();
        }
        return;
      }
      if (!this.#closing && epoch === this.#epoch) this.#deliverable = true;
    });
  }

  #onRebalancing(): void {
    if (this.#closing) return;
    this.#invalidate('kafkajs is re-joining the group');
    this.#gate = this.#enqueue(() => this.#revokeAll('rebalance'));
  }

  #onStop(): void {
    if (this.#closing) return;
    // kafkajs stopped its runner on its own (after a crash); it may restart and join again.
    this.#invalidate('kafkajs consumer stopped');
    this.#gate = this.#enqueue(() => this.#revokeAll('consumer stopped'));
  }

  #onCrash(event: ConsumerCrashEvent): void {
    if (this.#closing) return;
    const { error, restart } = event.payload;
    this.#explainCoordinatorNotFound(error);
    if (restart) {
      // Retried by kafkajs: an expected condition (the coordinator is loading...) is not worth a stack trace.
      const level = crashLevel(error);
      if (level === 'debug')
        this.#logger.debug({ err: error }, 'kafkajs consumer crashed; it restarts and re-joins the group');
      else
        this.#logger.warn(
          { error: String(error) },
          'kafkajs consumer crashed; it restarts and re-joins the group',
        );
    } else
      this.#logger.error({ err: error }, 'kafkajs consumer crashed and will not restart; no more batches');
    this.#invalidate('kafkajs consumer crashed');
    this.#gate = this.#enqueue(() => this.#revokeAll('consumer crashed'));
    // A refused group is hidden behind a retriable "coordinator not found" (see below): only the rest is final here.
    if (!restart) this.#fatal(mapError(error, { operation: 'consume', group: this.#options.groupId }));
  }

  /** Tells the owner, once, that this consumer delivers no more batches (after its partitions were revoked). */
  #fatal(error: Error): void {
    if (this.#closing || this.#fatalSent) return;
    this.#fatalSent = true;
    void (this.#gate ?? Promise.resolve()).then(() => {
      if (!this.#closing) this.#handlers?.onFatal?.(error);
    });
  }

  /**
   * kafkajs says only "Failed to find group coordinator" when the broker refuses the group: then asks the broker
   * itself and logs its reason (an ACL refusing the group, say) with the fix, as an `AuthorizationError`'s message.
   */
  #explainCoordinatorNotFound(error: unknown): void {
    const group = this.#options.groupId;
    void explainCoordinatorNotFound(error, () => this.#context.probe(), group, 0).then((explained) => {
      if (explained === error) return;
      const mapped = mapError(explained, { operation: 'join the group', group });
      this.#logger.error(
        { err: explained },
        `kafkajs cannot find the group's coordinator: ${mapped.message}`,
      );
      // kafkajs would retry a refused group for ever: it is final (Kafka Streams stops too).
      if (mapped instanceof AuthorizationError) this.#fatal(mapped);
    });
  }

  /** Runs `step` after every earlier transition. The chain never rejects. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#control.then(step).catch((error: unknown) => {
      this.#logger.error({ err: error }, 'rebalance transition failed');
    });
    this.#control = next;
    return next;
  }

  /** Revokes the announced assignment: waits for in-flight batches, then calls onRevoked. */
  async #revokeAll(reason: string): Promise<void> {
    this.#deliverable = false;
    await this.#whenIdle();
    if (this.#announced.length === 0) return;
    const revoked = this.#announced;
    this.#revoking = this.#owned;
    this.#announced = [];
    this.#owned = new Set();
    // Backoffs end with the assignment: the next one restarts from the committed offsets anyway. kafkajs keeps
    // pauses across a re-join, so a partition whose backoff timer is dropped here must be resumed here too, or it
    // stays paused for good when the group hands it back.
    const ended: { topic: string; partitions: number[] }[] = [];
    for (const [key, timer] of this.#backoff) {
      clearTimeout(timer);
      this.#backoff.delete(key);
      const { topic, partition } = partitionOfKey(key);
      if (!this.#isPaused(topic, key)) ended.push({ topic, partitions: [partition] });
    }
    if (ended.length > 0) this.#applyResume(ended);
    this.#sought.clear();
    this.#positions.clear();
    this.#lastMove.clear();
    this.#logger.info({ partitions: revoked, reason }, 'partitions revoked');
    try {
      await this.#handlers?.onRevoked?.(revoked);
    } catch (error) {
      this.#logger.error({ err: error }, 'onRevoked rejected');
    } finally {
      this.#revoking = new Set();
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Pause bookkeeping

  #isPaused(topic: string, key: string): boolean {
    if (this.#pausedTopics.size === 0 && this.#pausedPartitions.size === 0) return false;
    if (this.#pausedPartitions.has(key)) return true;
    return this.#pausedTopics.has(topic) && !this.#resumedInPausedTopic.has(key);
  }

  #backoffPauses(): { topic: string; partitions: number[] }[] {
    const byTopic = new Map<string, number[]>();
    for (const key of this.#backoff.keys()) {
      const { topic, partition } = partitionOfKey(key);
      const list = byTopic.get(topic) ?? [];
      list.push(partition);
      byTopic.set(topic, list);
    }
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
  }

  /** Re-applies our pause state (kafkajs loses it when it recreates its group state after a crash). */
  #reapplyPauses(): void {
    const pauses: { topic: string; partitions?: number[] }[] = [];
    for (const topic of this.#pausedTopics) pauses.push({ topic });
    for (const key of this.#pausedPartitions) {
      const { topic, partition } = partitionOfKey(key);
      pauses.push({ topic, partitions: [partition] });
    }
    pauses.push(...this.#backoffPauses());
    if (pauses.length > 0) this.#applyPause(pauses);
    const resumes: { topic: string; partitions: number[] }[] = [];
    for (const key of this.#resumedInPausedTopic) {
      const { topic, partition } = partitionOfKey(key);
      resumes.push({ topic, partitions: [partition] });
    }
    // Anything kafkajs still holds paused that neither the owner nor a backoff wants paused.
    for (const { topic, partitions } of this.#kafkajsPaused()) {
      for (const p of partitions) {
        const key = keyOf(topic, p);
        if (!this.#isPaused(topic, key) && !this.#backoff.has(key)) resumes.push({ topic, partitions: [p] });
      }
    }
    if (resumes.length > 0) this.#applyResume(resumes);
  }

  /** The partitions kafkajs holds paused (of its current assignment). */
  #kafkajsPaused(): { topic: string; partitions: number[] }[] {
    try {
      return this.#consumer.paused();
    } catch {
      return [];
    }
  }

  #applyPause(topics: readonly { topic: string; partitions?: readonly number[] }[]): void {
    try {
      this.#consumer.pause(
        topics.map((t) => ({ topic: t.topic, ...(t.partitions ? { partitions: [...t.partitions] } : {}) })),
      );
    } catch {
      // Not running yet: the state is applied at the next group join.
    }
  }

  #applyResume(topics: readonly { topic: string; partitions?: readonly number[] }[]): void {
    try {
      this.#consumer.resume(
        topics.map((t) => ({ topic: t.topic, ...(t.partitions ? { partitions: [...t.partitions] } : {}) })),
      );
    } catch {
      // Not running yet: the state is applied at the next group join.
    }
  }
}
