// Offsets in a transaction committed as a group member's (exactly-once v2, KIP-447): one TxnOffsetCommit (v3+)
// carrying the member's generation (KIP-848: member epoch) and id and every partition of the transaction, sent by
// the transport itself.
// The client's `Transaction.addOffset` sends one request per partition and always with the generation the caller
// gives; here the whole commit unit is one request, and a refusal for the generation is reported to the caller
// as `PartitionsRevokedError` without fencing the producer (the next transaction, in the new generation, is fine).
import { type GroupMetadata, PartitionsRevokedError, type TopicPartitionOffset } from '@dirigo/core';
import { type Base, type ConnectionPool, txnOffsetCommitV3 } from '@platformatic/kafka';
import { newestApi } from './apis.ts';
import { coordinatorConnection, offsetsByTopic } from './commit.ts';
import { isPastGenerationError } from './errors.ts';

type TxnCommitApi = typeof txnOffsetCommitV3.api;
const TXN_OFFSET_COMMIT_KEY = 28;
const TXN_COMMIT_APIS: readonly [number, TxnCommitApi][] = [[3, txnOffsetCommitV3.api]];

/** What the request needs from the producer. */
export interface TxnOffsetsClient {
  readonly client: Pick<Base, 'metadata' | 'listApis'>;
  readonly pool: ConnectionPool;
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  coordinator(groupId: string): Promise<number>;
  forgetCoordinator(groupId: string): void;
}

/** The transaction's offsets of `member`'s group (AddOffsetsToTxn must have been sent for the group). */
export async function commitTxnOffsetsAsMember(
  c: TxnOffsetsClient,
  member: GroupMetadata,
  offsets: readonly TopicPartitionOffset[],
): Promise<void> {
  const topics = offsetsByTopic(offsets);
  try {
    const [api, coordinator] = await Promise.all([
      newestApi(
        c.client,
        TXN_OFFSET_COMMIT_KEY,
        TXN_COMMIT_APIS,
        'exactly-once v2 needs TxnOffsetCommit v3 (Kafka 2.5+)',
      ),
      c.coordinator(member.groupId),
    ]);
    const connection = await coordinatorConnection(
      c.client,
      c.pool,
      coordinator,
      'send offsets to transaction',
      true,
    );
    await api.async(
      connection,
      c.transactionalId,
      member.groupId,
      c.producerId,
      c.producerEpoch,
      member.generationId,
      member.memberId,
      null,
      topics,
    );
  } catch (error) {
    if (isPastGenerationError(error)) {
      // The coordinator answered for the group: the member's generation (KIP-848: its epoch) moved on, or the member
      // is gone. The transaction must abort; its partitions may belong to another member now.
      throw new PartitionsRevokedError(
        `send offsets to transaction: group ${member.groupId} moved past generation ${member.generationId} (a rebalance); the transaction must abort`,
        { cause: error },
      );
    }
    c.forgetCoordinator(member.groupId);
    throw error;
  }
}
