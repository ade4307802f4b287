// readToEnd on kafkajs: reads partitions from given offsets up to their end offsets at the start of the call,
// without committing anything.
//
// kafkajs has no manual assignment, so a throwaway consumer joins a group of its own (unique id) whose assigner
// hands exactly the requested partitions to its single member. Offsets are never committed; the group is
// deleted afterwards.
//
// Termination. The target of a partition is its high watermark when the call starts (a read_uncommitted
// ListOffsets, through kafkajs internals: its admin only reports the last stable offset). So the records of a
// transaction committed before the call are read even while the broker is still writing its markers (a
// read_committed end offset would stop short of them for a few milliseconds), and a transaction still open at
// the start delays the read until it ends (commit, abort, or the broker aborting it at its timeout). A partition
// is finished when its position (the offset after the last record, control record or aborted record seen)
// reaches its target. Three kinds of fetch move the position:
// 1. batches with visible records: position = batch.lastOffset() + 1 (lastOffset includes the commit markers
//    and aborted records that follow the last visible record, so a transactional topic whose last data record
//    sits below target - 1 still finishes);
// 2. batches whose records were all filtered (only markers, only aborted data, or compacted records below the
//    fetch offset): kafkajs resolves them itself without calling eachBatch, but it reports them with a
//    START_BATCH_PROCESS event of size 0, which carries lastOffset;
// 3. fetches returning no record at all for the partition although it is behind. After compaction a segment
//    can end with record batches that have no records left (Kafka keeps each producer's last batch, emptied);
//    the broker answers a fetch from one segment at a time, so a fetch there returns only empty batches, and
//    kafkajs, which keeps no batch headers, re-fetches the same offset forever without telling anybody (kafkajs
//    issue #1072). We notice it (two successful fetch answers from the partition's leader in a row without
//    anything for it, or no movement for PROBE_AFTER_MS), then ask the leader for the batch headers at the
//    position (`KafkajsInternals`) and seek past the batches that have no records left, as the Java client does;
//    when there is no batch at all up to the end offset, the partition is finished.
// A watchdog fails the call when nothing moves for `stallTimeoutMs`.
import { randomUUID } from 'node:crypto';
import {
  DirigoError,
  type IncomingRecord,
  type Logger,
  type ReadFrom,
  type TopicPartitionOffset,
  TransportError,
  UnknownTopicError,
} from '@dirigo/core';
import type {
  ConsumerCrashEvent,
  ConsumerFetchStartEvent,
  ConsumerStartBatchProcessEvent,
  EachBatchPayload,
  Admin as KAdmin,
  Kafka,
  PartitionAssigner,
  RequestEvent,
  RetryOptions,
} from 'kafkajs';
import { isUnknownTopicError, mapError } from './errors.ts';
import { explainCoordinatorNotFound, type KafkajsInternals, nextReadable } from './internals.ts';
import { kafkajs } from './kafkajs-patches.ts';
import { crashLevel } from './logging.ts';
import { toIncomingRecords } from './records.ts';

const { AssignerProtocol } = kafkajs;

export interface ReadToEndContext {
  readonly kafka: Kafka;
  readonly logger: Logger;
  readonly retry: RetryOptions;
  sharedAdmin(): Promise<KAdmin>;
  /** Batch-header fetches (steps over record batches emptied by compaction). */
  readonly probe: KafkajsInternals;
}

export interface ReadToEndOptions {
  /** Fail when no partition moves for this long. Default 120000. */
  readonly stallTimeoutMs?: number;
  /** Bytes per partition per fetch. Default 4 MiB (above the broker's default max batch size of 1 MiB). */
  readonly maxBytesPerPartition?: number;
}

/** Successful fetch answers without anything for a partition before its position is probed. */
const EMPTY_ROUNDS = 2;
/** A partition that has not moved for this long is probed anyway. */
const PROBE_AFTER_MS = 2_000;
const ASSIGNER_NAME = 'DirigoReadToEnd';

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  /** The end offset captured at the start. */
  readonly target: number;
  /** The next offset to read. */
  pos: number;
  done: boolean;
  /** Bumped whenever the position moves or anything is delivered. */
  progress: number;
  /** `progress` when the current fetch round of the partition's leader began. */
  roundMark: number;
  emptyRounds: number;
  /** A batch-header probe of the position is under way. */
  probing: boolean;
  lastProgressAt: number;
}

/** An assigner giving exactly `assignment` to the first member (the group only ever has one). */
function exactAssigner(assignment: Record<string, number[]>): PartitionAssigner {
  return () => ({
    name: ASSIGNER_NAME,
    version: 1,
    async assign({ members }) {
      return members.map((member, i) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: i === 0 ? assignment : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}

export async function readToEnd(
  context: ReadToEndContext,
  partitions: readonly ReadFrom[],
  onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>,
  options: ReadToEndOptions = {},
): Promise<TopicPartitionOffset[]> {
  if (partitions.length === 0) return [];
  const logger = context.logger.child({ component: 'readToEnd' });
  const admin = await context.sharedAdmin();

  // Targets and start positions.
  const topics = [...new Set(partitions.map((p) => p.topic))];
  const bounds = new Map<string, { low: number; high: number }>();
  for (const topic of topics) {
    let offsets: { partition: number; low: number; high: number }[];
    try {
      offsets = await context.probe.watermarks(topic);
    } catch (error) {
      if (isUnknownTopicError(error)) throw new UnknownTopicError(topic, { cause: error });
      throw mapError(error, { operation: 'readToEnd: fetch end offsets', topic });
    }
    for (const o of offsets) bounds.set(keyOf(topic, o.partition), { low: o.low, high: o.high });
  }
  const states = new Map<string, PartitionState>();
  const results: TopicPartitionOffset[] = [];
  for (const p of partitions) {
    const key = keyOf(p.topic, p.partition);
    const b = bounds.get(key);
    if (b === undefined) throw new DirigoError(`readToEnd: ${p.topic} has no partition ${p.partition}`);
    const start = p.fromOffset <= 0 ? b.low : Math.max(p.fromOffset, b.low);
    results.push({ topic: p.topic, partition: p.partition, offset: Math.max(start, b.high) });
    if (start >= b.high || states.has(key)) continue;
    states.set(key, {
      topic: p.topic,
      partition: p.partition,
      key,
      target: b.high,
      pos: start,
      done: false,
      progress: 0,
      roundMark: 0,
      emptyRounds: 0,
      probing: false,
      lastProgressAt: Date.now(),
    });
  }
  if (states.size === 0) return results;

  // Leaders and broker addresses, for the empty-fetch accounting (3. above).
  const leaders = new Map<string, number>();
  const nodeByAddress = new Map<string, number>();
  const refreshLeaders = async (): Promise<void> => {
    const [metadata, cluster] = await Promise.all([
      admin.fetchTopicMetadata({ topics: [...new Set([...states.values()].map((s) => s.topic))] }),
      admin.describeCluster(),
    ]);
    for (const t of metadata.topics) {
      for (const p of t.partitions) leaders.set(keyOf(t.name, p.partitionId), p.leader);
    }
    nodeByAddress.clear();
    for (const b of cluster.brokers) nodeByAddress.set(`${b.host}:${b.port}`, b.nodeId);
  };
  await refreshLeaders();

  const assignment: Record<string, number[]> = {};
  for (const s of states.values()) {
    const list = assignment[s.topic];
    if (list === undefined) assignment[s.topic] = [s.partition];
    else list.push(s.partition);
  }
  const groupId = `dirigo-read-to-end-${randomUUID()}`;
  const consumer = context.kafka.consumer({
    groupId,
    partitionAssigners: [exactAssigner(assignment)],
    sessionTimeout: 30_000,
    rebalanceTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
    maxBytes: 50 * 1024 * 1024,
    minBytes: 1,
    maxWaitTimeInMs: 100,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    retry: context.retry,
  });

  let remaining = states.size;
  let joins = 0;
  let lastProgressAt = Date.now();
  let inCallback = false;
  let settled = false;
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const failOnce = (error: Error): void => {
    if (settled) return;
    settled = true;
    fail(error);
  };

  const pause = (s: PartitionState): void => {
    try {
      consumer.pause([{ topic: s.topic, partitions: [s.partition] }]);
    } catch {
      // Applied again at the next group join.
    }
  };
  const markDone = (s: PartitionState): void => {
    if (s.done) return;
    s.done = true;
    pause(s);
    remaining--;
    if (remaining === 0 && !settled) {
      settled = true;
      finish();
    }
  };

  const moved = (s: PartitionState, pos: number): void => {
    s.progress++;
    lastProgressAt = Date.now();
    s.lastProgressAt = lastProgressAt;
    s.emptyRounds = 0;
    if (pos > s.pos) s.pos = pos;
    if (s.pos >= s.target) markDone(s);
  };

  consumer.on(consumer.events.GROUP_JOIN, () => {
    joins++;
    // Every (re-)join restarts kafkajs from the committed offsets (none): put each partition back where we are.
    for (const s of states.values()) {
      s.emptyRounds = 0;
      if (s.done) pause(s);
      else consumer.seek({ topic: s.topic, partition: s.partition, offset: String(s.pos) });
    }
    if (joins > 1) {
      refreshLeaders().catch((error: unknown) => logger.debug({ err: error }, 'leader refresh failed'));
    }
  });

  // 2. Batches kafkajs resolved itself (all records filtered): it reports them with batchSize 0.
  consumer.on(consumer.events.START_BATCH_PROCESS, (event: ConsumerStartBatchProcessEvent) => {
    const e = event.payload;
    if (e.batchSize !== 0) return;
    const s = states.get(keyOf(e.topic, e.partition));
    if (s === undefined || s.done) return;
    const last = Number(e.lastOffset);
    const first = e.firstOffset === null || e.firstOffset === undefined ? last : Number(e.firstOffset);
    if (first < s.pos) return; // fetched before a re-seek
    moved(s, last + 1);
  });

  // 3. Fetch rounds: a round of broker N runs from one FETCH_START of N to the next (kafkajs processes every
  // batch of a fetch before fetching again); it is "good" when N answered a Fetch and no re-join happened.
  const rounds = new Map<number, { good: boolean; joins: number }>();
  consumer.on(consumer.events.REQUEST, (event: RequestEvent) => {
    if (event.payload.apiName !== 'Fetch') return;
    const node = nodeByAddress.get(event.payload.broker);
    const round = node === undefined ? undefined : rounds.get(node);
    if (round !== undefined) round.good = true;
  });
  consumer.on(consumer.events.FETCH_START, (event: ConsumerFetchStartEvent) => {
    const node = Number(event.payload.nodeId); // kafkajs passes the node id as a string
    const round = rounds.get(node);
    const good = round?.good === true && round.joins === joins;
    rounds.set(node, { good: false, joins });
    let suspect: PartitionState | undefined;
    for (const s of states.values()) {
      if (s.done || leaders.get(s.key) !== node) continue;
      if (good) {
        if (s.progress === s.roundMark) s.emptyRounds++;
        else s.emptyRounds = 0;
        if (s.emptyRounds >= EMPTY_ROUNDS && suspect === undefined) suspect = s;
      }
      s.roundMark = s.progress;
    }
    if (suspect !== undefined) onEmpty(suspect);
  });

  const onEmpty = (s: PartitionState): void => {
    // Ask the leader what lies at the position (batch headers, which kafkajs does not expose) and step over
    // batches that have no records left.
    if (s.probing) return;
    s.probing = true;
    s.emptyRounds = 0;
    const pos = s.pos;
    const progress = s.progress;
    context.probe
      .probe(s.topic, s.partition, pos)
      .then((result) => {
        if (s.done || s.progress !== progress || s.pos !== pos) return;
        const next = nextReadable(result, pos, s.target);
        if (next > pos) {
          logger.debug(
            { topic: s.topic, partition: s.partition, from: pos, to: next, target: s.target },
            next >= s.target ? 'nothing left to read' : 'stepping over record batches emptied by compaction',
          );
          consumer.seek({ topic: s.topic, partition: s.partition, offset: String(next) });
          moved(s, next);
        }
      })
      .catch((error: unknown) =>
        logger.debug({ err: error, topic: s.topic, partition: s.partition }, 'probe failed'),
      )
      .finally(() => {
        s.probing = false;
      });
  };

  consumer.on(consumer.events.CRASH, (event: ConsumerCrashEvent) => {
    if (!event.payload.restart) {
      // kafkajs says "Failed to find group coordinator" whatever the reason, an ACL refusing the throwaway group
      // (prefix dirigo-read-to-end-) say: the broker is asked why.
      void explainCoordinatorNotFound(event.payload.error, () => context.probe, groupId, 0).then(
        (explained) =>
          failOnce(mapError(explained, { operation: 'readToEnd: consumer crashed', group: groupId })),
      );
    } else {
      const error = event.payload.error;
      if (crashLevel(error) === 'debug')
        logger.debug({ err: error }, 'readToEnd consumer crashed; kafkajs restarts it');
      else logger.warn({ error: String(error) }, 'readToEnd consumer crashed; kafkajs restarts it');
    }
  });

  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    if (settled) return;
    const { batch } = payload;
    const s = states.get(keyOf(batch.topic, batch.partition));
    if (s === undefined || s.done || payload.isStale()) return;
    const fetchedOffset = Number((batch as unknown as { fetchedOffset: string }).fetchedOffset);
    // kafkajs moved on without us (offset out of range after retention): records below no longer exist.
    if (fetchedOffset > s.pos) s.pos = fetchedOffset;
    const last = Number(batch.lastOffset());
    if (last + 1 <= s.pos) return;
    const records = toIncomingRecords(batch.topic, batch.partition, batch.messages, s.pos, s.target);
    if (records.length > 0) {
      inCallback = true;
      try {
        const result = onRecords(records);
        if (result !== undefined) await result;
      } catch (error) {
        failOnce(error instanceof Error ? error : new Error(String(error)));
        return;
      } finally {
        inCallback = false;
      }
    }
    payload.resolveOffset(batch.lastOffset());
    moved(s, last + 1);
  };

  const stallTimeoutMs = options.stallTimeoutMs ?? 120_000;
  const watchdog = setInterval(() => {
    if (inCallback || settled) return;
    const now = Date.now();
    // Fallback of the round accounting (3.): probe any partition that has not moved for a while.
    for (const s of states.values()) {
      if (!s.done && now - s.lastProgressAt > PROBE_AFTER_MS) {
        s.lastProgressAt = now;
        onEmpty(s);
      }
    }
    if (now - lastProgressAt > stallTimeoutMs) {
      const behind = [...states.values()]
        .filter((s) => !s.done)
        .map((s) => `${s.topic}[${s.partition}]@${s.pos}/${s.target}`);
      failOnce(
        new TransportError(`readToEnd: no progress for ${stallTimeoutMs} ms (${behind.join(', ')})`, {
          retriable: true,
        }),
      );
    }
  }, 500);
  watchdog.unref();

  try {
    try {
      await consumer.connect();
      await consumer.subscribe({
        topics: [...new Set([...states.values()].map((s) => s.topic))],
        fromBeginning: true,
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch,
      });
    } catch (error) {
      failOnce(mapError(error, { operation: 'readToEnd: start consumer' }));
    }
    await finished;
    return results;
  } finally {
    clearInterval(watchdog);
    try {
      await consumer.disconnect();
    } catch (error) {
      logger.debug({ err: error }, 'readToEnd consumer disconnect failed');
    }
    try {
      await admin.deleteGroups([groupId]);
    } catch (error) {
      logger.debug({ err: error, groupId }, 'could not delete the readToEnd group');
    }
  }
}
