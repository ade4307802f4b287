// Committed offsets of a consumer group, read by the transport itself: OffsetFetch sent to the group's coordinator,
// looked up again after every failed attempt. The client's `Admin.listConsumerGroupOffsets` looks the coordinator
// up once and then retries OffsetFetch against that node only, so when the coordinator's broker dies every retry
// fails against the dead node while the group already has a new coordinator: about `retries` x 2 s (53 s with 30
// retries in the three-node failover test, where a consumer re-delivering a batch waited that long for its
// committed position).
import { DirigoError } from '@dirigo/core';
import { type Base, type ConnectionPool, offsetFetchV8, offsetFetchV9 } from '@platformatic/kafka';
import { newestApi } from './apis.ts';
import { coordinatorConnection } from './commit.ts';
import { errorTree, mapError } from './errors.ts';

type OffsetFetchApi = typeof offsetFetchV9.api;
const OFFSET_FETCH_KEY = 9;
/** OffsetFetch versions with the multi-group layout, newest first (v8: Kafka 3.0+; v9 adds KIP-848's member fields). */
const FETCH_APIS: readonly [number, OffsetFetchApi][] = [
  [9, offsetFetchV9.api],
  [8, offsetFetchV8.api as unknown as OffsetFetchApi],
];

/** Answers after which another attempt may succeed; the first three also mean "ask for the coordinator again". */
const MOVED = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE']);
const TRY_AGAIN = new Set([...MOVED, 'COORDINATOR_LOAD_IN_PROGRESS', 'UNSTABLE_OFFSET_COMMIT']);

/** Default of how long `fetchCommitted` keeps trying. */
export const COMMITTED_DEADLINE_MS = 30_000;
/** Pause after a failed attempt: doubled each time from the first to the second. */
const BACKOFF_MS = [100, 1_000] as const;

export interface CommittedDeps {
  readonly client: Pick<Base, 'metadata' | 'listApis'>;
  readonly pool: ConnectionPool;
  /** The group's coordinator (node id), possibly cached. */
  coordinator(groupId: string): Promise<number>;
  /** Forgets a cached coordinator (it failed or moved). */
  forgetCoordinator(groupId: string): void;
  /** How long to keep trying (default COMMITTED_DEADLINE_MS). */
  readonly deadlineMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What a failed attempt means: give up, or try again (after looking the coordinator up again when `moved`). */
export function classifyFailure(error: unknown): { retry: boolean; moved: boolean } {
  const tree = errorTree(error);
  if (tree.some((e) => e.code === 'PLT_KFK_NETWORK')) return { retry: true, moved: true };
  const ids = tree.flatMap((e) => (e.apiId === undefined ? [] : [e.apiId]));
  if (ids.length === 0) {
    // Neither a network failure nor a broker answer: a coordinator missing from the metadata (it just died) is
    // the one other failure worth another look.
    const retriable = error instanceof DirigoError && error.retriable;
    return { retry: retriable, moved: retriable };
  }
  return {
    retry: ids.every((id) => TRY_AGAIN.has(id)),
    moved: ids.some((id) => MOVED.has(id)),
  };
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/**
 * The committed offsets of `groupId` for `partitions` of `topic` (-1n where none is committed). With
 * `requireStable`, offsets a transaction still holds are waited for (UNSTABLE_OFFSET_COMMIT is tried again), as the
 * Java consumer does since KIP-447. Rejects with a `TransportError` once an answer cannot change by trying again,
 * or when `deadlineMs` has passed.
 */
export async function fetchCommitted(
  deps: CommittedDeps,
  groupId: string,
  topic: string,
  partitions: readonly number[],
  requireStable: boolean,
): Promise<Map<number, bigint>> {
  const deadline = Date.now() + (deps.deadlineMs ?? COMMITTED_DEADLINE_MS);
  const sleep = deps.sleep ?? defaultSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      const [api, coordinator] = await Promise.all([
        newestApi(
          deps.client,
          OFFSET_FETCH_KEY,
          FETCH_APIS,
          'the brokers do not speak OffsetFetch v8 or newer',
        ),
        deps.coordinator(groupId),
      ]);
      const connection = await coordinatorConnection(
        deps.client,
        deps.pool,
        coordinator,
        'fetch committed offsets',
        true,
      );
      const response = await api.async(
        connection,
        [
          {
            groupId,
            memberId: null,
            memberEpoch: -1,
            topics: [{ name: topic, partitionIndexes: [...partitions] }],
          },
        ],
        requireStable,
      );
      const answered = new Map<number, bigint>();
      for (const p of response.groups[0]?.topics.find((t) => t.name === topic)?.partitions ?? []) {
        answered.set(p.partitionIndex, p.committedOffset);
      }
      const out = new Map<number, bigint>();
      for (const p of partitions) out.set(p, answered.get(p) ?? -1n);
      return out;
    } catch (error) {
      const { retry, moved } = classifyFailure(error);
      if (moved) deps.forgetCoordinator(groupId);
      const pause = Math.min(BACKOFF_MS[1], BACKOFF_MS[0] * 2 ** attempt);
      if (!retry || Date.now() + pause > deadline) {
        throw mapError(error, {
          operation: `fetch committed offsets of group ${groupId}`,
          topic,
          group: groupId,
        });
      }
      await sleep(pause);
    }
  }
}
