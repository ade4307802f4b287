// Exactly-once v2 (KIP-447), as Kafka Streams' `exactly_once_v2`: one transactional producer per group member on
// this worker (transactional id `<group>.<worker id>`) commits the steps of every input partition the member
// owns, several steps per transaction. A step hands its records and position to the unit and waits; the unit
// commits what is queued as one transaction (produce every record, the positions as one TxnOffsetCommit carrying
// the member's generation and id, commit) and, while that transaction commits, queues the steps that finish
// meanwhile for the next one (group commit: one transaction per commit round-trip, however many partitions are
// busy).
//
// Fencing without a transactional id per partition: the group coordinator refuses the offsets of a member whose
// generation has moved on (a rebalance gave its partitions to someone else), so a zombie's transaction aborts, and
// a new owner reads its position with `requireStable` and its changelog up to the last stable offset, i.e. only
// after a zombie's open transaction has ended. A step is never committed for a partition the consumer no longer
// owns (its position would be committed in the new owner's generation).
//
// A failed transaction fails every step in it (each task discards the step and re-runs it from its committed
// position); one refused only because the generation moved on while this member kept all the partitions is
// tried once more in the new generation.
import {
  AuthorizationError,
  type Consumer,
  DirigoError,
  type GroupMetadata,
  isFenced,
  type Logger,
  type OutgoingRecord,
  PartitionsRevokedError,
  ProducerStateError,
  type Producer,
  type TopicPartitionOffset,
  type Transport,
} from '@dirigo/core';

/** Transaction timeout of the unit's producer: a crashed worker's open transaction is aborted after this. */
export const UNIT_TRANSACTION_TIMEOUT_MS = 10_000;
/** Tries of a transaction refused for a generation that moved on while the partitions stayed this member's. */
const GENERATION_RETRIES = 3;

interface Entry {
  readonly records: readonly OutgoingRecord[];
  readonly offset: TopicPartitionOffset;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export interface TransactionUnitDeps {
  readonly transport: Transport;
  readonly consumer: Consumer;
  readonly group: string;
  readonly topic: string;
  readonly transactionalId: string;
  readonly logger: Logger;
  /** Observes each transaction committed (metrics). */
  readonly onTransaction?: () => void;
  /**
   * Fence the exactly-once v1 producer of each partition this member opens (`fenceV1`). Default true; see
   * `WorkerOptions.exactlyOnceFenceV1`.
   */
  readonly fenceV1?: boolean;
}

/** Counters of a unit (metrics, benches). */
export interface TransactionUnitStats {
  /** Transactions committed. */
  readonly transactions: number;
  /** Steps committed (a transaction holds one or more). */
  readonly steps: number;
  /** Transactions that failed (every step in them failed). */
  readonly failed: number;
}

export class TransactionUnit {
  private readonly deps: TransactionUnitDeps;
  private producer: Producer | undefined;
  private queue: Entry[] = [];
  private draining = false;
  /** The running drain (close waits for it). */
  private drained: Promise<void> = Promise.resolve();
  private closed = false;
  private transactions = 0;
  private steps = 0;
  private failed = 0;
  private fenceDeniedLogged = false;

  constructor(deps: TransactionUnitDeps) {
    this.deps = deps;
  }

  /**
   * Registers the transactional id (aborting what an earlier process with the same worker id left open). A failure
   * here is not fatal: the first commit registers it again.
   */
  async open(): Promise<void> {
    const producer = this.newProducer();
    try {
      await producer.connect();
      this.producer = producer;
    } catch (e) {
      await producer.disconnect().catch(() => {});
      this.deps.logger.warn(
        { err: e },
        'registering the transactional id failed; the first commit tries again',
      );
    }
  }

  /**
   * Registers the transactional id an exactly-once v1 worker uses for `partition` (`<group>.<partition>`) and lets
   * it go: a v1 worker of the same group, frozen or cut off with that partition, is fenced (its open transaction
   * aborted, its next call refused). Under v2 alone nothing else stops it: the offsets of a v1 transaction carry no
   * generation for the coordinator to refuse, and a transaction that has not sent its offsets yet holds nothing a
   * stable read waits for. Called when a partition opens, before its position is read. Costs one producer
   * registration per opened partition, as every open under v1 does; off with `fenceV1: false`.
   */
  async fenceV1(partition: number): Promise<void> {
    if (this.deps.fenceV1 === false) return;
    const id = `${this.deps.group}.${partition}`;
    const producer = this.deps.transport.producer({ transactionalId: id, clientId: id });
    try {
      await producer.connect();
    } catch (e) {
      // Not allowed to use the id (ACLs): no v1 worker under the same principal can have used it either.
      if (!deniedTransactionalId(e)) throw e;
      if (!this.fenceDeniedLogged) {
        this.fenceDeniedLogged = true;
        this.deps.logger.warn(
          { err: e, transactionalId: id },
          'not authorized to fence the exactly-once v1 producers of this group (<group>.<partition>); going on without (no v1 worker with these credentials can run either). Set exactlyOnceFenceV1: false to skip the attempt',
        );
      }
    } finally {
      await producer.disconnect().catch(() => {});
    }
  }

  get stats(): TransactionUnitStats {
    return { transactions: this.transactions, steps: this.steps, failed: this.failed };
  }

  /**
   * Commits a step: its records and its input position (the next offset to read), in the unit's next
   * transaction. Resolves once that transaction committed; rejects when it did not, or when its outcome is
   * unknown (the caller then treats its local state as unproven).
   */
  commit(records: readonly OutgoingRecord[], offset: TopicPartitionOffset): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new DirigoError(`transactions of group ${this.deps.group}: the unit is closed`, { retriable: true }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, offset, resolve, reject });
      if (!this.draining) this.drained = this.drain();
    });
  }

  /** Closes the producer once the queued steps are committed. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drained;
    const producer = this.producer;
    this.producer = undefined;
    await producer
      ?.disconnect()
      .catch((e: unknown) => this.deps.logger.warn({ err: e }, 'producer disconnect failed'));
  }

  private newProducer(): Producer {
    const { transport, transactionalId } = this.deps;
    return transport.producer({
      transactionalId,
      clientId: transactionalId,
      transactionTimeoutMs: UNIT_TRANSACTION_TIMEOUT_MS,
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      // Steps finishing in this turn of the event loop join the first transaction.
      await new Promise((r) => setImmediate(r));
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.commitBatch(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  private async commitBatch(entries: Entry[]): Promise<void> {
    let live = entries;
    for (let attempt = 1; ; attempt++) {
      const member = this.deps.consumer.groupMetadata?.();
      live = this.owned(live, member);
      if (live.length === 0 || member === undefined) return;
      try {
        await this.commitOnce(live, member);
        this.transactions++;
        this.steps += live.length;
        this.deps.onTransaction?.();
        for (const e of live) e.resolve();
        return;
      } catch (e) {
        const now = this.deps.consumer.groupMetadata?.();
        if (
          e instanceof PartitionsRevokedError &&
          attempt < GENERATION_RETRIES &&
          now !== undefined &&
          now.generationId !== member.generationId
        ) {
          this.deps.logger.debug(
            { from: member.generationId, to: now.generationId, steps: live.length },
            'transaction refused for a past generation; trying again in the new one',
          );
          continue;
        }
        this.failed++;
        // Any failure but a refusal for the generation leaves the producer suspect (fenced; sequences out of step;
        // or the client's own state, e.g. a transaction coordinator it keeps asking after a failover): the next
        // transaction starts with a new one, whose registration also ends whatever this one left open.
        if (!(e instanceof PartitionsRevokedError)) await this.renewProducer(e);
        for (const x of live) x.reject(e);
        return;
      }
    }
  }

  /** The entries whose partition the consumer still owns; the others are rejected (revoked). */
  private owned(entries: Entry[], member: GroupMetadata | undefined): Entry[] {
    const owned = new Set<number>();
    if (member !== undefined) {
      for (const tp of member.partitions ?? this.deps.consumer.assignment()) {
        if (tp.topic === this.deps.topic) owned.add(tp.partition);
      }
    }
    let all = true;
    for (const e of entries) if (!owned.has(e.offset.partition)) all = false;
    if (all) return entries;
    const kept: Entry[] = [];
    for (const e of entries) {
      if (owned.has(e.offset.partition)) kept.push(e);
      else {
        e.reject(
          new PartitionsRevokedError(
            member === undefined
              ? `commit: the consumer of group ${this.deps.group} is re-joining; nothing is committed until it is a member again`
              : `commit: partition ${e.offset.topic}/${e.offset.partition} is no longer assigned to this member`,
          ),
        );
      }
    }
    return kept;
  }

  private async commitOnce(entries: readonly Entry[], member: GroupMetadata): Promise<void> {
    if (this.producer === undefined) {
      // Renewing a fenced producer failed earlier: try again now.
      const next = this.newProducer();
      try {
        await next.connect();
      } catch (e) {
        await next.disconnect().catch(() => {});
        throw e;
      }
      this.producer = next;
    }
    const txn = await this.producer.beginTransaction();
    try {
      let records = entries[0]!.records;
      if (entries.length > 1) {
        const all: OutgoingRecord[] = [];
        for (const e of entries) for (let i = 0; i < e.records.length; i++) all.push(e.records[i]!);
        records = all;
      }
      if (records.length > 0) await txn.send(records);
      const offsets: TopicPartitionOffset[] = [];
      for (const e of entries) offsets.push(e.offset);
      await txn.sendOffsets(this.deps.group, offsets, member);
      await txn.commit();
    } catch (e) {
      await txn.abort().catch(() => {});
      throw e;
    }
  }

  /**
   * The producer failed a transaction: it was fenced (its transaction timed out on the broker while this worker
   * was frozen or cut off, or a process with the same worker id registered the transactional id), its sequence
   * state fell out of step with a partition's new leader (`ProducerStateError`), or anything else went wrong
   * (a broker failover: the client may keep asking a transaction coordinator that moved). Steps in flight fail;
   * later ones use a new producer (which fences the other process in the first case: two workers must not share
   * a worker id).
   */
  private async renewProducer(cause: unknown): Promise<void> {
    this.deps.logger.warn(
      { err: cause, transactionalId: this.deps.transactionalId },
      isFenced(cause)
        ? 'transactional producer fenced (a transaction timed out, or another worker uses this worker id); renewing it'
        : cause instanceof ProducerStateError
          ? 'transactional producer out of step with the broker after a failover; renewing it'
          : 'a transaction failed; renewing the transactional producer',
    );
    const old = this.producer;
    this.producer = undefined;
    await old?.disconnect().catch(() => {});
    // The next transaction registers the id again with a new producer (commitOnce).
  }
}

/** Whether the broker refused a transactional id to these credentials (both transports map it to `AuthorizationError`). */
export function deniedTransactionalId(error: unknown): boolean {
  return error instanceof AuthorizationError && error.resource === 'transactionalId';
}
