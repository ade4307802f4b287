// Consumer on @platformatic/kafka: group membership from the client (classic protocol: JoinGroup/SyncGroup and
// heartbeats on the client's own timers, so a long `eachBatch` never starves them), and our own fetch loop
// (fetch.ts) with per-partition positions, so that pause, resume, seek, re-delivery and the read_committed filter
// are ours. The client's MessagesStream is not used: it delivers single messages and lets aborted records through.
//
// What this class guarantees (see README.md, "Rebalance callbacks"):
// 1. onAssigned(full new assignment) completes before any batch of a newly assigned partition is delivered; its
//    position is then read from the group's committed offsets (after onAssigned, so a new exactly-once owner has
//    fenced the old one first and reads what it committed last).
// 2. A partition leaving the assignment is revoked: no batch of it is delivered once that starts, and commits for
//    it are allowed until onRevoked returns.
// 3. Transitions (onRevoked, onAssigned) never overlap, run in the order of the joins, start once every
//    in-flight eachBatch has returned, and no batch is delivered while one runs. With the KIP-848 protocol an
//    assignment change waits only for the batches of the partitions it revokes, and the other partitions keep
//    being delivered while it runs (a membership lost still stops everything).
// 4. Partitions kept across a rebalance are not revoked (the client's assignments are incremental from our point
//    of view), unless the member lost its membership (a new member id) or missed a generation: then everything is
//    revoked first, because another member may have owned them in between.
// 5. While the member is not an active group member (the client is re-joining), nothing new is delivered.
//
// Two group protocols (the transport's `groupProtocol`):
// - classic (eager): the client reports every completed join ('consumer:group:join', with the whole assignment);
//   from the moment a heartbeat says a rebalance started until the join completes, nothing is delivered.
// - consumer (KIP-848): the broker computes assignments and hands each member its own in heartbeat answers; the
//   member keeps its other partitions running meanwhile. The client has no assignment event: after every
//   heartbeat the current assignment is compared with the last one applied, and a change is applied as a join
//   (partitions kept stay open). The client acknowledges a revocation in its next heartbeat without waiting for
//   onRevoked, so the new owner may start while this member finishes its in-flight batch: exactly-once holds
//   by fencing (the new owner's InitProducerId aborts what this member had open); at-least-once may repeat those
//   records. A heartbeat refused with UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH (the session expired, e.g. a
//   frozen process) revokes everything before the member joins again.
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
import { ConnectionPool, type Admin as PAdmin, Consumer as PConsumer } from '@platformatic/kafka';
import { topicMetadata, watermarks } from './admin.ts';
import { type CommitClient, commitAsMember } from './commit.ts';
import { fetchCommitted } from './committed.ts';
import { consumerProtocolUnserved, errorTree, hasErrorId, mapError } from './errors.ts';
import { type FetchedPartition, type FetchTarget, fetchRound } from './fetch.ts';
import { forgetMember, memberEpoch, watchMemberEpochs } from './member-epochs.ts';
import { Pauses, type TopicPartitions } from './pauses.ts';
import type { GroupProtocol } from './platformatic-transport.ts';
import type { BaseClientOptions } from './producer.ts';

/** What a member of the `consumer` group protocol logs while the brokers refuse it (joins are tried again). */
const UNSERVED_CONSUMER_PROTOCOL =
  "the brokers do not serve the consumer group protocol (KIP-848): ConsumerGroupHeartbeat is not listed or is refused as UNSUPPORTED_VERSION. Kafka 4.0 and later serve it; 3.7-3.9 only with group.coordinator.rebalance.protocols=classic,consumer on every broker. Or use the classic protocol: groupProtocol 'classic' (--group-protocol classic, DIRIGO_GROUP_PROTOCOL=classic). Joining again in a few seconds";

/** What consumers need from the transport. */
export interface ConsumerContext {
  readonly logger: Logger;
  readonly client: BaseClientOptions;
  readonly clientId: string;
  /** A connected admin shared by the transport (committed offsets, watermarks). */
  sharedAdmin(): PAdmin;
  /** How long a partition waits before re-delivery after `eachBatch` rejected. */
  readonly redeliveryBackoffMs: number;
  /** How long a member may take to re-join during a rebalance. */
  readonly rebalanceTimeoutMs: number;
  /** `classic` (eager JoinGroup/SyncGroup) or `consumer` (KIP-848, incremental). */
  readonly groupProtocol: GroupProtocol;
  /** The node coordinating a group (cached), and forgetting it after a failed request. */
  groupCoordinator(groupId: string): Promise<number>;
  forgetGroupCoordinator(groupId: string): void;
  /** The transport's first-connection check (a TLS or SASL failure rejects with a `SecurityError`). */
  connectionCheck?(): Promise<void>;
  closed(consumer: PlatformaticConsumer): void;
}

/** Largest fetch size per partition a partition grows to when its next batch does not fit. */
const MAX_PARTITION_BYTES = 64 * 1024 * 1024;
/** Upper bound of a whole fetch answer. */
const MAX_FETCH_BYTES = 64 * 1024 * 1024;
/** Back-off of a partition whose fetch failed, growing to the second value. */
const FETCH_RETRY_MS = [100, 2_000] as const;
/**
 * While some partition is busy, how long a caught-up partition waits before it is fetched on its own (capped by
 * `maxWaitMs`): the most a record arriving on an idle partition waits beside busy ones (a fetch without a wait
 * every this often, only while nothing else is fetched).
 */
const QUIET_MS = 10;

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/** One owned partition. */
interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  /** Next offset to fetch; undefined until read from the committed offsets. */
  position: number | undefined;
  /** Bumped by everything that invalidates fetched data (seek, re-delivery, revocation). */
  version: number;
  fetching: boolean;
  /** A fetched batch waiting for delivery. */
  ready: RecordBatch | null;
  inFlight: Promise<void> | null;
  maxBytes: number;
  /** Re-delivery back-off or fetch retry: not fetched nor delivered until it fires. */
  timer: NodeJS.Timeout | null;
  /**
   * Caught up (a fetch that did not wait found nothing) while other partitions were busy: fetched again only with
   * others, or on its own after this time (ms since epoch; see #fetchOnce).
   */
  quietUntil: number;
  fetchFailures: number;
  /** Set by `seek` since the partition's last successful delivery: where a rejected batch restarts. */
  sought: number | undefined;
  revoked: boolean;
}

interface JoinEvent {
  readonly memberId: string;
  readonly generationId: number;
  readonly assignments: readonly { topic: string; partitions: readonly number[] }[] | null;
  /** KIP-848: whether the member kept its membership since the last assignment applied (no generations). */
  readonly continuous?: boolean;
}

/** Commits refused with STALE_MEMBER_EPOCH are tried this often (100 ms, 200 ms, ... apart: about 4.5 s). */
const STALE_EPOCH_RETRIES = 10;

/** Heartbeat or commit errors after which a KIP-848 member owns nothing any more and must join again. */
const MEMBERSHIP_LOST = new Set(['UNKNOWN_MEMBER_ID', 'FENCED_MEMBER_EPOCH']);
const lostMembership = (error: unknown): boolean =>
  errorTree(error).some((e) => e.apiId !== undefined && MEMBERSHIP_LOST.has(e.apiId));

/** An offset commit waiting for its flush (see PlatformaticConsumer #flushCommits). */
interface QueuedCommit {
  readonly offsets: readonly TopicPartitionOffset[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class PlatformaticConsumer implements DirigoConsumer {
  readonly #context: ConsumerContext;
  readonly #options: ConsumerOptions;
  /** The client holding the membership; KIP-848: replaced by a new one when the membership is lost. */
  #client: PConsumer<Buffer, Buffer, Buffer, Buffer>;
  readonly #pool: ConnectionPool;
  /** Classic protocol: commits go out with the generation and member id of the assignment last applied. */
  readonly #commitClient: CommitClient;
  readonly #logger: Logger;
  readonly #concurrency: number;
  readonly #pauses = new Pauses();
  #topics: readonly string[] = [];
  #handlers: ConsumerHandlers | null = null;
  /** `onFatal` was called or is coming (at most once). */
  #fatalSent = false;
  #running = false;
  #closing = false;
  #closed = false;

  // --- membership ---
  #memberId: string | null = null;
  #generation = -1;
  #announced: TopicPartition[] = [];
  #owned = new Map<string, PartitionState>();
  /**
   * Partitions being revoked, with the generation they were owned in: commits for them are still allowed while
   * onRevoked runs (in a transaction, only while that generation is still the member's: a graceful leave).
   */
  #revoking = new Map<string, { readonly tp: TopicPartition; readonly generation: number }>();
  /** Serialises transitions (join handling, revocations). */
  #control: Promise<void> = Promise.resolve();
  /** The client saw a rebalance start (a heartbeat answered REBALANCE_IN_PROGRESS) after the last join. */
  #rebalancing = false;
  #eventSeq = 0;
  #rebalanceSeq = 0;
  /** KIP-848: the member id and assignment last seen after a heartbeat (a change is applied as a join). */
  #seenAssignment = '';
  /** KIP-848: the membership was lost since the last assignment applied. */
  #membershipLost = false;
  /**
   * KIP-848: the member epoch of the last heartbeat answer and the partitions the client held then (exactly-once
   * v2 commits carry that epoch, for those partitions only).
   */
  #epoch: { readonly memberId: string; readonly epoch: number; readonly partitions: Set<string> } | undefined;
  /** Seeks of partitions not owned yet, applied when they are assigned. */
  #pendingSeeks = new Map<string, number>();

  // --- fetch and delivery ---
  #fetchScheduled = false;
  #fetchInFlight = false;
  #active = 0;
  #idleWaiters: (() => void)[] = [];
  /** The wake-up for the end of a quiet partition's time (see #fetchOnce). */
  #quietTimer: NodeJS.Timeout | null = null;
  /** Offset commits made since the last flush (see #flushCommits). */
  #commitQueue: QueuedCommit[] = [];
  #commitScheduled = false;
  /** Transitions running or waiting for in-flight batches: nothing new is delivered meanwhile. */
  #transitions = 0;
  #order: PartitionState[] = [];
  #nextInOrder = 0;

  constructor(context: ConsumerContext, options: ConsumerOptions) {
    this.#context = context;
    this.#options = options;
    this.#logger = context.logger.child({ component: 'consumer', groupId: options.groupId });
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    if (context.groupProtocol === 'consumer') watchMemberEpochs();
    this.#client = this.#newClient();
    const { bootstrapBrokers: _b, ...connectionOptions } = context.client;
    this.#pool = new ConnectionPool(options.clientId ?? context.clientId, connectionOptions);
    const consumer = this;
    this.#commitClient = {
      get client() {
        return consumer.#client;
      },
      pool: this.#pool,
      groupId: options.groupId,
      membership: () =>
        this.#memberId === null || this.#generation < 0
          ? undefined
          : { generationId: this.#generation, memberId: this.#memberId },
      coordinator: () => context.groupCoordinator(options.groupId),
      forgetCoordinator: () => context.forgetGroupCoordinator(options.groupId),
    };
  }

  /** A client for the membership, its events wired; the events of a client replaced since are ignored. */
  #newClient(): PConsumer<Buffer, Buffer, Buffer, Buffer> {
    const context = this.#context;
    const options = this.#options;
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    const client = new PConsumer<Buffer, Buffer, Buffer, Buffer>({
      ...context.client,
      clientId: options.clientId ?? context.clientId,
      groupId: options.groupId,
      sessionTimeout,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
      // The client refuses a rebalance timeout below the session timeout.
      rebalanceTimeout: Math.max(context.rebalanceTimeoutMs, sessionTimeout),
      autocommit: false,
      ...(context.groupProtocol === 'consumer' ? { groupProtocol: 'consumer' as const } : {}),
    });
    const current = (): boolean => client === this.#client;
    // A heartbeat the broker refuses for the group's ACL: the client would go on heartbeating (and being refused)
    // for good, holding its partitions; that is final for the owner.
    client.on('consumer:heartbeat:error', (e: { error?: unknown }) => {
      if (current()) this.#refusedHeartbeat(e.error);
    });
    if (context.groupProtocol === 'consumer') {
      client.on('consumer:heartbeat:end', () => {
        if (current()) this.#onHeartbeat();
      });
      client.on('consumer:heartbeat:error', (e: { error?: unknown }) => {
        if (current()) this.#onMembershipLost(e.error);
      });
    } else {
      client.on('consumer:group:join', (e: JoinEvent) => {
        if (current()) this.#onJoin(e);
      });
      client.on('consumer:group:rebalance', () => {
        if (!current()) return;
        this.#rebalanceSeq = ++this.#eventSeq;
        this.#rebalancing = true;
      });
    }
    client.on('error', (error: unknown) => {
      if (current()) this.#onClientError(error);
    });
    for (const t of this.#topics) client.topics.track(t);
    return client;
  }

  async connect(): Promise<void> {
    await this.#context.connectionCheck?.();
    try {
      await this.#client.metadata({ topics: [] });
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'connect consumer' });
    }
  }

  /**
   * Classic protocol: the generation and member id of the assignment last applied (exactly-once v2), and the
   * partitions they cover: those owned, and those being revoked while that generation is still the member's (a
   * graceful leave; not a rebalance, whose new generation may give them to someone else).
   *
   * KIP-848: the member epoch of the last heartbeat answer (the coordinator accepts no other), and the partitions
   * owned or being revoked that the client held at that answer. A partition being revoked is covered until the
   * client acknowledges its revocation (its next heartbeat): until then the coordinator keeps it this member's and
   * gives it to nobody else; the acknowledgement moves the epoch on, and the answer's assignment no longer has it.
   */
  groupMetadata(): GroupMetadata | undefined {
    if (this.#context.groupProtocol === 'consumer') return this.#epochMetadata();
    const member = this.#commitClient.membership();
    if (member === undefined) return undefined;
    const partitions: TopicPartition[] = [...this.#announced];
    for (const { tp, generation } of this.#revoking.values()) {
      if (generation === member.generationId) partitions.push(tp);
    }
    return { groupId: this.#options.groupId, ...member, partitions };
  }

  #epochMetadata(): GroupMetadata | undefined {
    const at = this.#epoch;
    if (at === undefined || this.#membershipLost || at.memberId !== this.#memberId) return undefined;
    const partitions: TopicPartition[] = [];
    for (const tp of this.#announced)
      if (at.partitions.has(keyOf(tp.topic, tp.partition))) partitions.push(tp);
    for (const [key, { tp }] of this.#revoking) if (at.partitions.has(key)) partitions.push(tp);
    return { groupId: this.#options.groupId, generationId: at.epoch, memberId: at.memberId, partitions };
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    try {
      await topicMetadata(this.#context.sharedAdmin(), topics);
    } catch (error) {
      throw mapError(error, {
        group: this.#options.groupId,
        operation: 'subscribe',
        ...(topics.length === 1 ? { topic: topics[0]! } : {}),
      });
    }
    this.#topics = [...topics];
    for (const t of topics) this.#client.topics.track(t);
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    if (this.#running) throw new DirigoError('consumer.run: already running');
    this.#running = true;
    this.#handlers = handlers;
    // Joining happens in the background, as on kafkajs: a member the group keeps refusing (e.g. a session timeout
    // outside the broker's bounds) holds no assignment, which the owner notices (the runtime's assignment watch).
    void this.#join();
  }

  /** Joins the group, retrying with a growing back-off until it succeeds or the consumer closes. */
  async #join(): Promise<void> {
    for (let attempt = 0; !this.#closing; attempt++) {
      try {
        if (this.#context.groupProtocol === 'consumer') await this.#joinIncremental();
        else await this.#client.joinGroup({});
        return;
      } catch (error) {
        if (this.#context.groupProtocol === 'consumer' && consumerProtocolUnserved(error)) {
          // Tried again: the brokers may be upgraded or reconfigured meanwhile.
          this.#logger.error({ err: error, attempt, setting: 'groupProtocol' }, UNSERVED_CONSUMER_PROTOCOL);
        } else {
          const mapped = mapError(error, { group: this.#options.groupId, operation: 'join the group' });
          if (mapped instanceof AuthorizationError) {
            // Final, as in Kafka Streams: the owner stops (an ACL removed while running, say), no join loop.
            this.#logger.error({ err: error, attempt }, `joining the group failed: ${mapped.message}`);
            this.#fatal(mapped);
            return;
          }
          const level = mapped.retriable ? 'warn' : 'error';
          // The mapped message names the cause (an ACL refusing the group, say) and what to do.
          this.#logger[level](
            { err: error, attempt },
            `joining the group failed; retrying: ${mapped.message}`,
          );
        }
        await sleep(Math.min(5_000, 250 * 2 ** attempt));
      }
    }
  }

  /**
   * KIP-848: the client joins only when a MessagesStream is created (its joinGroup does nothing for this
   * protocol); the stream is closed at once (its topics stay tracked: this consumer tracks them too), and the
   * client's heartbeats carry the membership from then on. A member whose id is still known re-joins by itself.
   */
  async #joinIncremental(): Promise<void> {
    const stream = await this.#client.consume({
      topics: [...this.#topics],
      autocommit: false,
      maxFetches: 1,
    });
    await stream.close();
    this.#onHeartbeat();
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
    await new Promise<void>((resolve, reject) => {
      this.#commitQueue.push({ offsets, resolve, reject });
      if (!this.#commitScheduled) {
        this.#commitScheduled = true;
        setImmediate(this.#flushCommits);
      }
    });
    for (const o of offsets) {
      const st = this.#owned.get(keyOf(o.topic, o.partition));
      if (st !== undefined) st.sought = undefined;
    }
  }

  /**
   * Commits the offsets of every commit queued in this turn of the event loop in one OffsetCommit (the partitions'
   * tasks commit their steps at about the same time). When that fails, or two commits name one partition, each is
   * sent on its own, so each gets its own answer.
   */
  readonly #flushCommits = (): void => {
    this.#commitScheduled = false;
    const queued = this.#commitQueue;
    this.#commitQueue = [];
    const alone = (c: QueuedCommit) => this.#commitNow(c.offsets).then(c.resolve, c.reject);
    if (queued.length === 1) {
      void alone(queued[0]!);
      return;
    }
    const all: TopicPartitionOffset[] = [];
    const seen = new Set<string>();
    for (const c of queued) {
      for (const o of c.offsets) {
        const key = keyOf(o.topic, o.partition);
        if (seen.has(key)) {
          void queued.reduce((p, q) => p.then(() => alone(q)), Promise.resolve());
          return;
        }
        seen.add(key);
        all.push(o);
      }
    }
    this.#commitNow(all).then(
      () => {
        for (const c of queued) c.resolve();
      },
      () => {
        for (const c of queued) void alone(c);
      },
    );
  };

  async #commitNow(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    try {
      if (this.#context.groupProtocol === 'consumer') await this.#commitWithEpoch(offsets);
      else await commitAsMember(this.#commitClient, offsets);
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'commit offsets', revocation: true });
    }
  }

  /**
   * KIP-848: the client's commit, which carries the member epoch; one sent while the epoch moved on (this
   * member's assignment changed) is refused as stale. The next heartbeat brings the new epoch: retried while the
   * partitions are still this member's.
   */
  async #commitWithEpoch(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const request = {
      offsets: offsets.map((o) => ({
        topic: o.topic,
        partition: o.partition,
        offset: BigInt(o.offset),
        leaderEpoch: -1,
      })),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#client.commit(request);
        return;
      } catch (error) {
        // Refused for a membership gone: the client has cleared its member id by now (see #renewMembership).
        this.#onMembershipLost(error);
        const stillOwned = offsets.every((o) => {
          const key = keyOf(o.topic, o.partition);
          return this.#owned.has(key) || this.#revoking.has(key);
        });
        if (
          !hasErrorId(error, 'STALE_MEMBER_EPOCH') ||
          !stillOwned ||
          attempt >= STALE_EPOCH_RETRIES ||
          this.#closing
        ) {
          throw error;
        }
        await sleep(100 * attempt);
      }
    }
  }

  pause(topics: TopicPartitions): void {
    this.#pauses.pause(topics);
  }

  resume(topics: TopicPartitions): void {
    this.#pauses.resume(topics);
    this.#pump();
    this.#wake();
  }

  seek(position: TopicPartitionOffset): void {
    const key = keyOf(position.topic, position.partition);
    const st = this.#owned.get(key);
    if (st === undefined) {
      this.#pendingSeeks.set(key, position.offset);
      return;
    }
    st.position = position.offset;
    st.sought = position.offset;
    st.version++;
    st.ready = null;
    this.#wake();
  }

  assignment(): readonly TopicPartition[] {
    return this.#announced;
  }

  async disconnect(): Promise<void> {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    try {
      await this.#enqueue(() => this.#revoke([...this.#owned.keys()], 'disconnect'));
      if (this.#context.groupProtocol !== 'consumer') {
        // Classic protocol: leave first. The client's `close` leaves the group but keeps its membership flag set,
        // so a heartbeat answered (or a join completed) after it schedules the next heartbeat again and again:
        // the process never exits by itself (seen in `npm run chaos -- faults` on this transport, about 1 run
        // in 5). `leaveGroup` clears the flag first; a late heartbeat then stops.
        try {
          const leave: (force: boolean) => Promise<void> = this.#client.leaveGroup.bind(this.#client);
          await leave(true);
        } catch (error) {
          this.#logger.debug({ err: error }, 'leaving the group before closing failed; closing anyway');
        }
      }
      await this.#client.close(true);
      if (typeof this.#client.memberId === 'string') forgetMember(this.#client.memberId);
      this.#epoch = undefined;
      await this.#pool.close();
      this.#logger.debug('consumer disconnected');
    } catch (error) {
      throw mapError(error, { group: this.#options.groupId, operation: 'disconnect consumer' });
    } finally {
      this.#closed = true;
      this.#context.closed(this);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Membership

  #onJoin(e: JoinEvent): void {
    if (this.#closing) return;
    const seq = ++this.#eventSeq;
    const assignment: TopicPartition[] = [];
    for (const { topic, partitions } of e.assignments ?? []) {
      for (const partition of partitions) assignment.push({ topic, partition });
    }
    assignment.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    // KIP-848: a change of this member's assignment does not stop its other partitions (unless it lost its
    // membership: then everything is revoked, and waited for, anyway).
    const wholeMember = this.#context.groupProtocol !== 'consumer' || e.continuous === false;
    void this.#enqueue(() => this.#applyJoin(e, assignment, seq), wholeMember);
  }

  /** KIP-848: applies the client's assignment when it changed since the last one applied. */
  #onHeartbeat(): void {
    if (this.#closing || !this.#running) return;
    const assignments = this.#client.assignments;
    const memberId = this.#client.memberId;
    if (assignments === null || memberId === null || memberId === undefined) return;
    const epoch = memberEpoch(memberId);
    if (epoch !== undefined) {
      const partitions = new Set<string>();
      for (const a of assignments) for (const p of a.partitions) partitions.add(keyOf(a.topic, p));
      this.#epoch = { memberId, epoch, partitions };
    }
    const seen = `${memberId}|${assignments
      .map((a) => `${a.topic}:${[...a.partitions].sort((x, y) => x - y).join(',')}`)
      .sort()
      .join(';')}`;
    if (seen === this.#seenAssignment) return;
    this.#seenAssignment = seen;
    const continuous = !this.#membershipLost && memberId === this.#memberId;
    this.#membershipLost = false;
    this.#onJoin({
      memberId,
      generationId: this.#generation + 1,
      assignments: assignments.map((a) => ({ topic: a.topic, partitions: [...a.partitions] })),
      continuous,
    });
  }

  /**
   * KIP-848: the session expired or the member was fenced (a heartbeat or commit answered UNKNOWN_MEMBER_ID or
   * FENCED_MEMBER_EPOCH): revoke everything, then join again as a new member.
   */
  #onMembershipLost(error: unknown): void {
    if (this.#closing || !this.#running) return;
    if (!lostMembership(error) || this.#membershipLost) return;
    this.#membershipLost = true;
    this.#seenAssignment = '';
    this.#epoch = undefined;
    this.#logger.warn({ err: error }, 'the consumer lost its group membership (KIP-848); re-joining');
    this.#revokeAllThen(() => this.#renewMembership());
  }

  /** A heartbeat refused as not authorised: revoke everything, then tell the owner (`onFatal`) once. */
  #refusedHeartbeat(error: unknown): void {
    if (this.#closing || !this.#running || this.#fatalSent) return;
    const mapped = mapError(error, { group: this.#options.groupId, operation: 'heartbeat' });
    if (!(mapped instanceof AuthorizationError)) return;
    this.#logger.error({ err: error }, `the group refused this member's heartbeat: ${mapped.message}`);
    this.#fatal(mapped);
  }

  /** Stops for good: revokes every partition (after the transitions before it), then tells the owner, once. */
  #fatal(error: Error): void {
    if (this.#fatalSent) return;
    this.#fatalSent = true;
    this.#revokeAllThen(async () => {
      if (!this.#closing) this.#handlers?.onFatal?.(error);
    });
  }

  /** Revokes every partition (after the transitions before it), then runs `next` (a join). */
  #revokeAllThen(next: () => Promise<void>): void {
    void this.#enqueue(() => this.#revoke([...this.#owned.keys()], 'group membership lost')).then(next);
  }

  /**
   * KIP-848: joins with a new client. The client resets its member epoch only on FENCED_MEMBER_EPOCH: after
   * UNKNOWN_MEMBER_ID (a session expired, e.g. a process frozen past it) it kept heartbeating with its old epoch,
   * refused for good, and kept its old assignment, which looked like a re-join; a commit refused as
   * UNKNOWN_MEMBER_ID then made it clear its member id and send commits without one, which the broker takes for
   * malformed requests (it closes the connection). A new client joins with epoch 0 and a member id of its own; the
   * old one leaves (its leave is refused when the member is gone: nothing to do then).
   */
  async #renewMembership(): Promise<void> {
    if (this.#closing) return;
    const old = this.#client;
    this.#client = this.#newClient();
    if (typeof old.memberId === 'string') forgetMember(old.memberId);
    old.close(true).catch((error: unknown) => {
      this.#logger.debug({ err: error }, 'closing the client of a lost membership failed');
    });
    await this.#join();
  }

  async #applyJoin(e: JoinEvent, assignment: TopicPartition[], seq: number): Promise<void> {
    if (this.#closing) return;
    const continuous =
      e.continuous ?? (e.memberId === this.#memberId && e.generationId === this.#generation + 1);
    const ownedIn = this.#generation;
    this.#memberId = e.memberId;
    this.#generation = e.generationId;
    const next = new Set(assignment.map((tp) => keyOf(tp.topic, tp.partition)));
    const lost = [...this.#owned.keys()].filter((key) => !continuous || !next.has(key));
    await this.#revoke(lost, continuous ? 'rebalance' : 'membership lost or a generation missed', ownedIn);
    if (this.#closing) return;
    const added: PartitionState[] = [];
    for (const tp of assignment) {
      const key = keyOf(tp.topic, tp.partition);
      const kept = this.#owned.get(key);
      if (kept !== undefined) {
        // A rebalance ends re-delivery back-offs, as it does on kafkajs (where positions restart anyway).
        if (kept.timer !== null) clearTimeout(kept.timer);
        kept.timer = null;
        continue;
      }
      const st: PartitionState = {
        ...tp,
        key,
        position: undefined,
        version: 0,
        fetching: false,
        ready: null,
        inFlight: null,
        maxBytes: this.#options.maxBytesPerPartition ?? 1024 * 1024,
        timer: null,
        quietUntil: 0,
        fetchFailures: 0,
        sought: undefined,
        revoked: false,
      };
      this.#owned.set(key, st);
      added.push(st);
    }
    this.#announced = assignment;
    this.#order = [...this.#owned.values()];
    this.#logger.info(
      { partitions: assignment, generation: e.generationId, added: added.map((s) => s.partition) },
      'partitions assigned',
    );
    try {
      await this.#handlers?.onAssigned?.(assignment);
    } catch (error) {
      this.#logger.error({ err: error }, 'onAssigned rejected');
    }
    await this.#findPositions(added);
    if (this.#rebalanceSeq < seq) this.#rebalancing = false;
    this.#pump();
    this.#wake();
  }

  /** Reads the committed position of newly assigned partitions (or the reset position without one). */
  async #findPositions(added: readonly PartitionState[]): Promise<void> {
    for (let attempt = 0; added.some((s) => s.position === undefined && !s.revoked); attempt++) {
      if (this.#closing) return;
      try {
        for (const st of added) {
          if (st.position !== undefined || st.revoked) continue;
          const sought = this.#pendingSeeks.get(st.key);
          this.#pendingSeeks.delete(st.key);
          st.position = sought ?? (await this.#committedPosition(st.topic, st.partition));
        }
      } catch (error) {
        this.#logger.warn({ err: error, attempt }, 'reading committed positions failed; retrying');
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
  }

  /** The group's committed position of a partition, or the reset position when there is none. */
  async #committedPosition(topic: string, partition: number): Promise<number> {
    const c = this.#commitClient;
    const committed = (
      await fetchCommitted(
        {
          client: c.client,
          pool: c.pool,
          coordinator: () => c.coordinator(),
          forgetCoordinator: () => c.forgetCoordinator(),
        },
        this.#options.groupId,
        topic,
        [partition],
        false,
      )
    ).get(partition);
    if (committed !== undefined && committed >= 0n) return Number(committed);
    const admin = this.#context.sharedAdmin();
    const offsets = (await watermarks(admin, topic)).find((o) => o.partition === partition);
    if (offsets === undefined) return 0;
    return (this.#options.autoOffsetReset ?? 'earliest') === 'earliest' ? offsets.low : offsets.high;
  }

  /** Revokes partitions: no more deliveries, wait for their in-flight batches, then onRevoked. */
  async #revoke(keys: readonly string[], reason: string, ownedIn = this.#generation): Promise<void> {
    if (keys.length === 0) return;
    const states = keys.map((k) => this.#owned.get(k)).filter((s): s is PartitionState => s !== undefined);
    for (const st of states) {
      st.revoked = true;
      st.version++;
      st.ready = null;
      if (st.timer !== null) clearTimeout(st.timer);
      st.timer = null;
      this.#owned.delete(st.key);
      this.#revoking.set(st.key, {
        tp: { topic: st.topic, partition: st.partition },
        generation: ownedIn,
      });
    }
    this.#order = [...this.#owned.values()];
    const revoked = states.map((s) => ({ topic: s.topic, partition: s.partition }));
    this.#announced = this.#announced.filter((tp) => this.#owned.has(keyOf(tp.topic, tp.partition)));
    await Promise.all(states.map((s) => s.inFlight?.catch(() => {})));
    this.#logger.info({ partitions: revoked, reason }, 'partitions revoked');
    try {
      await this.#handlers?.onRevoked?.(revoked);
    } catch (error) {
      this.#logger.error({ err: error }, 'onRevoked rejected');
    } finally {
      for (const st of states) this.#revoking.delete(st.key);
    }
  }

  /** The client gave up re-joining (its retries ran out): revoke everything and keep trying to join. */
  #onClientError(error: unknown): void {
    if (this.#closing || !this.#running) return;
    this.#logger.warn({ err: error }, 'the consumer lost its group membership; re-joining');
    this.#revokeAllThen(() => this.#join());
  }

  /**
   * Runs `step` after every earlier transition. A `wholeMember` transition starts once no batch is being
   * delivered, and none starts until it ends; otherwise (KIP-848 assignment changes) the other partitions keep
   * being delivered meanwhile: `#revoke` waits for the in-flight batches of the partitions it revokes, and a
   * partition added has no position (is not fetched) until onAssigned returned. The chain never rejects.
   */
  #enqueue(step: () => Promise<void>, wholeMember = true): Promise<void> {
    const next = this.#control
      .then(async () => {
        if (wholeMember) this.#transitions++;
        try {
          if (wholeMember) await this.#whenIdle();
          await step();
        } finally {
          if (wholeMember) this.#transitions--;
          this.#pump();
          this.#wake();
        }
      })
      .catch((error: unknown) => {
        this.#logger.error({ err: error }, 'rebalance transition failed');
      });
    this.#control = next;
    return next;
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Fetching

  /** Whether the member may fetch and deliver right now (running, in the group, no rebalance under way). */
  #canWork(): boolean {
    return (
      this.#running &&
      !this.#closing &&
      !this.#rebalancing &&
      this.#transitions === 0 &&
      this.#client.isActive()
    );
  }

  #wake(): void {
    if (this.#fetchScheduled || !this.#running || this.#closing) return;
    this.#fetchScheduled = true;
    setImmediate(() => {
      this.#fetchScheduled = false;
      void this.#fetchOnce();
    });
  }

  /**
   * One Fetch (one at a time) for every partition without a batch in hand. While some partition is busy (a batch
   * delivered or waiting), the fetch does not wait on the broker: a long poll for caught-up partitions would hold
   * back the busy ones' next fetch for up to `maxWaitMs` (one fetch at a time). A partition it finds caught up is
   * then quiet for `QUIET_MS` (at most `maxWaitMs`): fetched again along with others, or on its own, without a
   * wait, when that time is over; so a record arriving there waits at most about that long. With nothing busy, the
   * fetch long-polls every partition, as a consumer should.
   */
  async #fetchOnce(): Promise<void> {
    if (this.#fetchInFlight || !this.#canWork()) return;
    const maxWaitMs = this.#options.maxWaitMs ?? 100;
    const now = Date.now();
    // One pass: the partitions to fetch, whether some partition is busy, and the caught-up ones still quiet.
    let busy = this.#active > 0;
    const due: PartitionState[] = [];
    const quiet: PartitionState[] = [];
    let quietEnds = Infinity;
    for (const st of this.#order) {
      if (st.ready !== null) busy = true;
      if (st.position === undefined || st.fetching || st.ready !== null || st.timer !== null) continue;
      if (this.#pauses.isPaused(st.topic, st.partition)) continue;
      if (st.quietUntil > now) {
        quiet.push(st);
        quietEnds = Math.min(quietEnds, st.quietUntil);
      } else due.push(st);
    }
    // Quiet partitions go along with partitions fetched anyway (no wait added), or on their own once their time is
    // over; with nothing busy they are not quiet.
    if (busy && due.length === 0) {
      if (quiet.length > 0) this.#wakeAt(quietEnds - now);
      return;
    }
    const targets: FetchTarget[] = [];
    const versions = new Map<string, number>();
    for (const st of quiet.length === 0 ? due : due.concat(quiet)) {
      st.fetching = true;
      versions.set(st.key, st.version);
      targets.push({ topic: st.topic, partition: st.partition, offset: st.position!, maxBytes: st.maxBytes });
    }
    if (targets.length === 0) return;
    this.#fetchInFlight = true;
    let answers: FetchedPartition[];
    try {
      answers = await fetchRound(this.#client, this.#pool, targets, {
        isolation: this.#options.isolation ?? 'read_committed',
        maxWaitMs: busy ? 0 : maxWaitMs,
        maxBytes: MAX_FETCH_BYTES,
      });
    } catch (error) {
      answers = targets.map((t) => ({
        topic: t.topic,
        partition: t.partition,
        from: t.offset,
        records: [],
        next: undefined,
        highWatermark: -1,
        logStartOffset: -1,
        truncated: false,
        outOfRange: false,
        error,
      }));
    } finally {
      this.#fetchInFlight = false;
    }
    const quietUntil = busy ? Date.now() + Math.min(maxWaitMs, QUIET_MS) : 0;
    for (const a of answers) this.#onAnswer(a, versions.get(keyOf(a.topic, a.partition)), quietUntil);
    this.#pump();
    this.#wake();
  }

  /** A fetch round after `ms` (a quiet partition's time is over), unless one is due sooner. */
  #wakeAt(ms: number): void {
    if (this.#quietTimer !== null) return;
    this.#quietTimer = setTimeout(
      () => {
        this.#quietTimer = null;
        this.#wake();
      },
      Math.max(1, ms),
    );
    this.#quietTimer.unref?.();
  }

  #onAnswer(a: FetchedPartition, version: number | undefined, quietUntil: number): void {
    const st = this.#owned.get(keyOf(a.topic, a.partition));
    if (st === undefined) return;
    st.fetching = false;
    // Caught up (nothing past the position, no error): quiet while others are busy (see #fetchOnce).
    st.quietUntil =
      a.error === undefined && a.next === undefined && !a.truncated && !a.outOfRange ? quietUntil : 0;
    if (st.version !== version || st.position !== a.from) return; // sought, re-delivered or revoked meanwhile
    if (a.error !== undefined) {
      st.fetchFailures++;
      const delay = Math.min(FETCH_RETRY_MS[1], FETCH_RETRY_MS[0] * 2 ** (st.fetchFailures - 1));
      this.#logger.debug({ err: a.error, topic: a.topic, partition: a.partition, delay }, 'fetch failed');
      this.#hold(st, delay);
      return;
    }
    st.fetchFailures = 0;
    if (a.outOfRange) {
      const earliest = (this.#options.autoOffsetReset ?? 'earliest') === 'earliest';
      const to = earliest ? a.logStartOffset : a.highWatermark;
      // The broker may leave the log start out of an out-of-range answer (-1): then ask the watermarks. Only the
      // fetch position moves; the group's committed offset is its owner's.
      if (to >= 0 && to !== a.from) this.#resetPosition(st, a, to);
      else this.#resetFromWatermarks(st, a, earliest);
      return;
    }
    if (a.truncated) st.maxBytes = Math.min(MAX_PARTITION_BYTES, st.maxBytes * 2);
    if (a.next !== undefined) st.position = a.next;
    if (a.records.length > 0) {
      st.ready = {
        topic: a.topic,
        partition: a.partition,
        records: a.records,
        highWatermark: a.highWatermark,
      };
    }
  }

  #resetPosition(st: PartitionState, a: FetchedPartition, to: number): void {
    st.position = to;
    this.#logger.warn(
      { topic: a.topic, partition: a.partition, from: a.from, to },
      'position out of range; reset',
    );
  }

  /** Resets an out-of-range position from the partition's watermarks; the partition waits meanwhile. */
  #resetFromWatermarks(st: PartitionState, a: FetchedPartition, earliest: boolean): void {
    const { version, position } = st;
    this.#hold(st, FETCH_RETRY_MS[1]);
    watermarks(this.#context.sharedAdmin(), a.topic).then(
      (marks) => {
        const m = marks.find((o) => o.partition === a.partition);
        if (m === undefined || st.version !== version || st.position !== position) return;
        if (this.#owned.get(keyOf(a.topic, a.partition)) !== st) return;
        this.#resetPosition(st, a, earliest ? m.low : m.high);
        if (st.timer !== null) clearTimeout(st.timer);
        st.timer = null;
        this.#pump();
        this.#wake();
      },
      (error: unknown) => {
        this.#logger.debug({ err: error, topic: a.topic, partition: a.partition }, 'watermarks failed');
      },
    );
  }

  /** Keeps a partition from fetching and delivering for `ms`. */
  #hold(st: PartitionState, ms: number): void {
    if (st.timer !== null) clearTimeout(st.timer);
    st.timer = setTimeout(() => {
      st.timer = null;
      this.#pump();
      this.#wake();
    }, ms);
    st.timer.unref?.();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Delivery

  /** Starts deliveries of ready batches, up to `concurrency` partitions at once, taking partitions in turn. */
  #pump(): void {
    if (!this.#canWork()) return;
    const n = this.#order.length;
    for (let i = 0; i < n && this.#active < this.#concurrency; i++) {
      const st = this.#order[(this.#nextInOrder + i) % n]!;
      if (st.ready === null || st.inFlight !== null || st.timer !== null) continue;
      if (this.#pauses.isPaused(st.topic, st.partition)) continue;
      this.#nextInOrder = (this.#nextInOrder + i + 1) % n;
      this.#deliver(st);
    }
  }

  #deliver(st: PartitionState): void {
    const batch = st.ready!;
    st.ready = null;
    this.#active++;
    const run = (async () => {
      try {
        await this.#handlers!.eachBatch(batch);
        st.sought = undefined;
      } catch (error) {
        if (!st.revoked && !this.#closing) await this.#redeliverLater(st, batch, error);
        else
          this.#logger.debug({ err: error, topic: st.topic, partition: st.partition }, 'eachBatch rejected');
      }
    })();
    st.inFlight = run;
    void run.finally(() => {
      st.inFlight = null;
      if (--this.#active === 0 && this.#idleWaiters.length > 0) {
        for (const resolve of this.#idleWaiters.splice(0)) resolve();
      }
      this.#pump();
      this.#wake();
    });
  }

  /** The owner's eachBatch rejected: re-deliver from the last sought (or committed) position after a back-off. */
  async #redeliverLater(st: PartitionState, batch: RecordBatch, error: unknown): Promise<void> {
    st.version++;
    st.ready = null;
    this.#hold(st, this.#context.redeliveryBackoffMs);
    let position = st.sought;
    try {
      position ??= await this.#committedPosition(st.topic, st.partition);
    } catch (lookupError) {
      // Without a position we cannot rewind: the batch itself is delivered again.
      position = batch.records[0]?.offset ?? st.position;
      this.#logger.error({ err: error, lookupError }, 'the committed position could not be read');
    }
    if (st.revoked) return;
    st.version++;
    st.ready = null;
    st.position = position;
    this.#logger.warn(
      {
        err: error,
        topic: st.topic,
        partition: st.partition,
        firstOffset: batch.records[0]?.offset,
        redeliverFrom: position,
      },
      'eachBatch rejected; re-delivering from the last committed position after a backoff',
    );
  }
}
