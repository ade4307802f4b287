// The in-memory producer and its transactions. `connect` of a transactional producer bumps the epoch of its
// transactional id (fencing older producers, whose open transaction is aborted); disconnecting with an open
// transaction aborts it at once (real Kafka aborts it on the next init or after the transaction timeout).
import {
  FencedError,
  type OutgoingRecord,
  type Producer,
  type ProducerOptions,
  type TopicPartitionOffset,
  type Transaction,
  TransportError,
} from '@dirigo/core';
import type { MemoryKafka } from './kafka.ts';
import type { OpenTransaction } from './transactions.ts';

export class MemoryProducer implements Producer {
  private readonly kafka: MemoryKafka;
  private readonly options: ProducerOptions;
  private connected = false;
  private epoch = -1;
  private current: OpenTransaction | null = null;
  private readonly counters = new Map<string, number>();
  private unregister: () => void = () => undefined;
  private readonly roundRobin = (topic: string, partitions: number): number => {
    const n = this.counters.get(topic) ?? 0;
    this.counters.set(topic, n + 1);
    return n % partitions;
  };

  constructor(kafka: MemoryKafka, options: ProducerOptions = {}) {
    this.kafka = kafka;
    this.options = options;
  }

  async connect(): Promise<void> {
    this.kafka.ensureOpen();
    if (this.connected) return;
    this.connected = true;
    this.unregister = this.kafka.register(this);
    const id = this.options.transactionalId;
    if (id !== undefined) this.epoch = this.kafka.transactions.initProducer(id);
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.ensureConnected();
    if (this.options.transactionalId !== undefined) {
      this.ensureCurrent();
      throw new TransportError('a transactional producer sends inside a transaction (beginTransaction)');
    }
    this.kafka.append(records, null, this.roundRobin);
  }

  async beginTransaction(): Promise<Transaction> {
    this.ensureConnected();
    const id = this.options.transactionalId;
    if (id === undefined)
      throw new TransportError('beginTransaction needs a producer with a transactionalId');
    this.ensureCurrent();
    if (this.current !== null && this.current.state.status === 'open' && !this.current.timedOut) {
      throw new TransportError('a transaction is already open on this producer');
    }
    const txn = this.kafka.transactions.begin(id, this.epoch, this.options.transactionTimeoutMs ?? 60_000);
    this.current = txn;
    return new MemoryTransaction(this, txn);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    if (this.current !== null && this.isCurrentEpoch()) this.kafka.transactions.end(this.current, false);
    this.current = null;
    this.unregister();
  }

  /** @internal Used by the transaction. */
  check(txn: OpenTransaction): void {
    this.ensureConnected();
    this.ensureCurrent();
    if (txn.timedOut) throw new TransportError('the transaction timed out and was aborted by the broker');
    if (txn.state.status !== 'open' || this.current !== txn) {
      throw new TransportError('the transaction is already committed or aborted');
    }
  }

  /** @internal */
  append(records: readonly OutgoingRecord[], txn: OpenTransaction): void {
    this.kafka.append(records, txn, this.roundRobin);
  }

  /** @internal */
  finish(txn: OpenTransaction, commit: boolean): void {
    this.kafka.transactions.end(txn, commit);
    this.current = null;
  }

  private isCurrentEpoch(): boolean {
    const id = this.options.transactionalId;
    return id !== undefined && this.kafka.transactions.isCurrent(id, this.epoch);
  }

  private ensureConnected(): void {
    this.kafka.ensureOpen();
    if (!this.connected) throw new TransportError('the producer is not connected');
  }

  private ensureCurrent(): void {
    if (this.options.transactionalId !== undefined && !this.isCurrentEpoch()) {
      throw new FencedError(
        `producer with transactional id '${this.options.transactionalId}' was fenced by a newer one`,
      );
    }
  }
}

class MemoryTransaction implements Transaction {
  private readonly producer: MemoryProducer;
  private readonly txn: OpenTransaction;

  constructor(producer: MemoryProducer, txn: OpenTransaction) {
    this.producer = producer;
    this.txn = txn;
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.producer.check(this.txn);
    this.producer.append(records, this.txn);
  }

  async sendOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.producer.check(this.txn);
    const pending = this.txn.offsets.get(groupId) ?? [];
    pending.push(...offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
    this.txn.offsets.set(groupId, pending);
  }

  async commit(): Promise<void> {
    this.producer.check(this.txn);
    this.producer.finish(this.txn, true);
  }

  async abort(): Promise<void> {
    this.producer.check(this.txn);
    this.producer.finish(this.txn, false);
  }
}
