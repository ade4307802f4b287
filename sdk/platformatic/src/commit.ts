// Offset commits of a classic-protocol group member, sent by the transport itself (OffsetCommit with the member's
// current generation and id, on the consumer's own connection pool). The client's `Consumer.commit` is not used
// for them: when the broker answers REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID it re-joins the
// group by itself and commits again in the new generation, which (1) commits positions of partitions the member
// may have just lost, and (2) emits a rebalance event from the commit's error path that can arrive after the
// join it started has completed, leaving the consumer waiting for a join that never comes (seen as 3-30 s stalls
// of an at-least-once app when a worker joined: `npm run bench -- rebalance`). Here a refused commit is an error
// for the caller (the runtime re-delivers from the last committed position); the heartbeat does the re-joining.
import { DirigoError, type TopicPartitionOffset } from '@dirigo/core';
import {
  type Base,
  type Connection,
  type ConnectionPool,
  offsetCommitV8,
  offsetCommitV9,
} from '@platformatic/kafka';
import { newestApi } from './apis.ts';
import { isRebalanceError } from './errors.ts';

type CommitApi = typeof offsetCommitV9.api;
const OFFSET_COMMIT_KEY = 8;
/** OffsetCommit versions with the same request layout, newest first (v8: Kafka 2.8+, flexible). */
const COMMIT_APIS: readonly [number, CommitApi][] = [
  [9, offsetCommitV9.api],
  [8, offsetCommitV8.api as unknown as CommitApi],
];

/** What a commit needs from the consumer. */
export interface CommitClient {
  readonly client: Pick<Base, 'metadata' | 'listApis'>;
  readonly pool: ConnectionPool;
  readonly groupId: string;
  /** The generation and member id of the assignment last applied, or undefined before the first one. */
  membership(): { generationId: number; memberId: string } | undefined;
  coordinator(): Promise<number>;
  forgetCoordinator(): void;
}

const commitApiOf = (client: CommitClient['client']): Promise<CommitApi> =>
  newestApi(
    client,
    OFFSET_COMMIT_KEY,
    COMMIT_APIS,
    'the brokers do not speak OffsetCommit v8 or newer (Kafka 2.8+ is needed)',
  );

/** An offset commit request's topics: `offsets` (next offsets to read) grouped by topic, no leader epoch. */
export function offsetsByTopic(offsets: readonly TopicPartitionOffset[]): {
  name: string;
  partitions: {
    partitionIndex: number;
    committedOffset: bigint;
    committedLeaderEpoch: number;
    committedMetadata: null;
  }[];
}[] {
  const topics = new Map<string, ReturnType<typeof offsetsByTopic>[number]>();
  for (const o of offsets) {
    let t = topics.get(o.topic);
    if (t === undefined) {
      t = { name: o.topic, partitions: [] };
      topics.set(o.topic, t);
    }
    t.partitions.push({
      partitionIndex: o.partition,
      committedOffset: BigInt(o.offset),
      committedLeaderEpoch: -1,
      committedMetadata: null,
    });
  }
  return [...topics.values()];
}

/**
 * A connection to the group coordinator `coordinator` (a node id), on `pool`: the brokers' metadata names its
 * address. `operation` names the request in the error when the node is not known.
 */
export async function coordinatorConnection(
  client: Pick<Base, 'metadata'>,
  pool: ConnectionPool,
  coordinator: number,
  operation: string,
  retriable: boolean,
): Promise<Connection> {
  const metadata = await client.metadata({ topics: [] });
  const broker = metadata.brokers.get(coordinator);
  if (broker === undefined) {
    throw new DirigoError(`${operation}: coordinator ${coordinator} is not known`, { retriable });
  }
  return pool.get(broker);
}

/**
 * Commits `offsets` (each the next offset to read) for the member's current generation. Rejects with the broker's
 * error when it refuses (a rebalance under way, a generation moved on, an unknown member): nothing is retried.
 */
export async function commitAsMember(
  c: CommitClient,
  offsets: readonly TopicPartitionOffset[],
): Promise<void> {
  const member = c.membership();
  if (member === undefined) {
    throw new DirigoError(
      'commit offsets: the consumer is not a member of its group right now (re-joining)',
      {
        retriable: true,
      },
    );
  }
  const topics = offsetsByTopic(offsets);
  try {
    const [api, coordinator] = await Promise.all([commitApiOf(c.client), c.coordinator()]);
    const connection = await coordinatorConnection(c.client, c.pool, coordinator, 'commit offsets', false);
    await api.async(connection, c.groupId, member.generationId, member.memberId, null, topics);
  } catch (error) {
    // A refusal for the generation (a rebalance) came from the right coordinator: only other failures forget it.
    if (!isRebalanceError(error)) c.forgetCoordinator();
    throw error;
  }
}
