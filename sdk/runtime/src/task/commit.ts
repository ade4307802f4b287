// The one commit function of a step: everything a step produced and the input position it consumed become
// visible together, or not at all.
// - exactly-once v1: one transaction of the task's own producer: produce every bucket, add the position to the
//   transaction (sendOffsets), commit; any failure aborts it.
// - exactly-once v2: the step joins the next transaction of its group member's unit (transaction-unit.ts), which
//   commits the steps of several partitions together, the positions as the member's (KIP-447).
// - at-least-once: the worker's shared producer produces every bucket, then the consumer commits the position
//   (only when the step consumed input).
// A position-only step (no records) is how a task checkpoints its store at a proven position.
import type { Consumer, Producer } from '@dirigo/core';
import type { StepOutput } from './step-output.ts';
import type { TransactionUnit } from './transaction-unit.ts';

/** Where a task's steps commit. */
export interface CommitTarget {
  readonly exactlyOnce: boolean;
  /** The task's transactional producer (exactly-once v1). */
  readonly producer: Producer | undefined;
  /** The group member's transaction unit (exactly-once v2). */
  readonly unit: TransactionUnit | undefined;
  /** Observes each transaction of the task's own producer committed (exactly-once v1; metrics). */
  readonly onTransaction?: () => void;
  /** The worker's shared idempotent producer (at-least-once). */
  readonly sharedProducer: Producer;
  /** The group member's consumer (at-least-once offset commits). */
  readonly consumer: Consumer;
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
}

/**
 * Commits `out`. `position` is the input position to commit with it (`out.position`, or the task's current
 * position for a step that consumed nothing). Rejects when nothing was committed or when it is unknown whether
 * it was (the caller must then treat its local state as unproven).
 */
export async function commitStep(out: StepOutput, position: number, t: CommitTarget): Promise<void> {
  const records = out.records();
  const offsets = [{ topic: t.topic, partition: t.partition, offset: position }];
  if (t.exactlyOnce && t.unit !== undefined) return t.unit.commit(records, offsets[0]!);
  if (t.exactlyOnce) {
    const txn = await t.producer!.beginTransaction();
    try {
      if (records.length > 0) await txn.send(records);
      await txn.sendOffsets(t.group, offsets);
      await txn.commit();
      t.onTransaction?.();
    } catch (e) {
      await txn.abort().catch(() => {});
      throw e;
    }
    return;
  }
  if (records.length > 0) await t.sharedProducer.send(records);
  if (out.position !== undefined) await t.consumer.commitOffsets(offsets);
}
