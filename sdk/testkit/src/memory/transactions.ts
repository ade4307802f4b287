// The transaction coordinator of the in-memory Kafka: producer epochs per transactional id (a newer producer
// fences older ones and aborts their open transaction), open transactions with their partitions and pending
// group offsets, commit/abort markers, and the broker-side transaction timeout.
import type { TopicPartitionOffset } from '@dirigo/core';
import type { PartitionLog, TxnState } from './partition-log.ts';

/** An open transaction as the coordinator tracks it. */
export interface OpenTransaction {
  readonly transactionalId: string;
  readonly epoch: number;
  readonly state: TxnState;
  readonly logs: Set<PartitionLog>;
  /** Pending offsets per group, applied on commit. */
  readonly offsets: Map<string, TopicPartitionOffset[]>;
  /** Set when the broker aborted it after the transaction timeout. */
  timedOut: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface CoordinatorHooks {
  commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void;
  /** Wakes readers of these topics (markers moved the last stable offset). */
  notify(topics: Iterable<string>): void;
}

export class TransactionCoordinator {
  private readonly epochs = new Map<string, number>();
  private readonly open = new Map<string, OpenTransaction>();
  private readonly hooks: CoordinatorHooks;

  constructor(hooks: CoordinatorHooks) {
    this.hooks = hooks;
  }

  /** Registers a producer (Kafka's InitProducerId): returns its epoch, fencing and aborting older ones. */
  initProducer(transactionalId: string): number {
    const epoch = (this.epochs.get(transactionalId) ?? -1) + 1;
    this.epochs.set(transactionalId, epoch);
    const previous = this.open.get(transactionalId);
    if (previous !== undefined) this.end(previous, false);
    return epoch;
  }

  isCurrent(transactionalId: string, epoch: number): boolean {
    return this.epochs.get(transactionalId) === epoch;
  }

  begin(transactionalId: string, epoch: number, timeoutMs: number): OpenTransaction {
    const txn: OpenTransaction = {
      transactionalId,
      epoch,
      state: { status: 'open' },
      logs: new Set(),
      offsets: new Map(),
      timedOut: false,
      timer: null,
    };
    txn.timer = setTimeout(() => {
      txn.timedOut = true;
      this.end(txn, false);
    }, timeoutMs);
    txn.timer.unref();
    this.open.set(transactionalId, txn);
    return txn;
  }

  /** Commits or aborts: marks the records, writes a marker to every partition written, applies offsets. */
  end(txn: OpenTransaction, commit: boolean): void {
    if (txn.state.status !== 'open') return;
    if (txn.timer !== null) clearTimeout(txn.timer);
    txn.timer = null;
    txn.state.status = commit ? 'committed' : 'aborted';
    if (this.open.get(txn.transactionalId) === txn) this.open.delete(txn.transactionalId);
    const topics = new Set<string>();
    for (const log of txn.logs) {
      log.appendMarker(txn.state);
      topics.add(log.topic);
    }
    if (commit) for (const [groupId, offsets] of txn.offsets) this.hooks.commitOffsets(groupId, offsets);
    this.hooks.notify(topics);
  }

  /** Aborts every open transaction (cluster shutdown). */
  abortAll(): void {
    for (const txn of [...this.open.values()]) this.end(txn, false);
  }
}
