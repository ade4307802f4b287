// One assigned input partition of one function on this worker: its state (restored from the changelog), its
// transactional producer (exactly-once: transactional id `<group>.<partition>`, so a new owner fences any
// zombie), and the read-process-write step. Steps of a partition run one at a time.
//
// Step, exactly-once: run handlers in memory -> begin -> send outputs + dead letters + changelog diff ->
// sendOffsets -> commit -> apply the pending state. Any failure aborts and discards the pending state, so the
// local store always equals what the changelog holds as committed.
// Step, at-least-once: run handlers -> send everything with the shared producer -> commit offsets.
import {
  type Consumer,
  FencedError,
  type IncomingRecord,
  isFenced,
  type Logger,
  type Producer,
  type TopicPartition,
  type Transport,
} from '@dirigo/core';
import { cellKey, PartitionState } from './state/partition-state.ts';
import type { KeyValueStore } from './state/store.ts';
import type { FunctionEnv } from './step/function-env.ts';
import { type StepOutput, StepRunner } from './step/step-runner.ts';

export interface PartitionTaskDeps {
  readonly transport: Transport;
  readonly consumer: Consumer;
  /** Non-transactional producer shared by the worker (at-least-once). */
  readonly sharedProducer: Producer;
  /** Takes a store kept from an earlier assignment of this partition, or undefined. */
  readonly takeStore: (changelogTopic: string, partition: number) => KeyValueStore | undefined;
  /** Keeps a cleanly closed store for a later assignment. */
  readonly keepStore: (changelogTopic: string, partition: number, store: KeyValueStore) => void;
  readonly newStore: (changelogTopic: string, partition: number) => Promise<KeyValueStore>;
  /** Observes each committed step (metrics). */
  readonly onStep?: (env: FunctionEnv, out: StepOutput, records: readonly IncomingRecord[]) => void;
}

export class PartitionTask {
  readonly env: FunctionEnv;
  readonly partition: number;
  private readonly deps: PartitionTaskDeps;
  private readonly logger: Logger;
  private readonly exactlyOnce: boolean;
  private producer: Producer | undefined;
  private state: PartitionState | undefined;
  private runner: StepRunner | undefined;
  /** Next input offset to process; records below it were committed already. */
  private nextOffset = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(env: FunctionEnv, partition: number, deps: PartitionTaskDeps) {
    this.env = env;
    this.partition = partition;
    this.deps = deps;
    this.logger = env.logger.child({ partition });
    this.exactlyOnce = env.app.options.guarantee === 'exactly_once';
  }

  get topicPartition(): TopicPartition {
    return { topic: this.env.fn.topic, partition: this.partition };
  }

  /** Fences older owners (exactly-once), restores state, and finds the committed position. */
  async open(): Promise<void> {
    const started = Date.now();
    const fn = this.env.fn;
    if (this.exactlyOnce) {
      this.producer = this.deps.transport.producer({
        transactionalId: `${fn.group}.${this.partition}`,
        clientId: `${fn.group}.${this.partition}`,
      });
      await this.producer.connect();
    }
    let restored = 0;
    if (this.env.hasChangelog) {
      const store =
        this.deps.takeStore(fn.changelogTopic, this.partition) ??
        (await this.deps.newStore(fn.changelogTopic, this.partition));
      this.state = new PartitionState(fn.changelogTopic, this.partition, fn.states, store);
      restored = await this.restore(store);
    }
    this.runner = new StepRunner(this.env, this.state);
    const admin = await this.deps.transport.admin();
    const committed = await admin.fetchCommittedOffsets(fn.group, fn.topic);
    const mine = committed.find((c) => c.partition === this.partition);
    this.nextOffset = mine === undefined || mine.offset < 0 ? 0 : mine.offset;
    this.logger.info({ restored, nextOffset: this.nextOffset, ms: Date.now() - started }, 'partition opened');
  }

  private async restore(store: KeyValueStore): Promise<number> {
    const fn = this.env.fn;
    const admin = await this.deps.transport.admin();
    const offsets = await admin.fetchTopicOffsets(fn.changelogTopic);
    const po = offsets.find((o) => o.partition === this.partition);
    const high = po?.high ?? 0;
    const from = Math.max(store.restoredFrom, po?.low ?? 0);
    let applied = 0;
    if (high > from) {
      const ps = this.state!;
      await this.deps.transport.readToEnd(
        [{ topic: fn.changelogTopic, partition: this.partition, fromOffset: from }],
        (records) => {
          for (const r of records) ps.applyChangelog(r.key, r.value);
          applied += records.length;
        },
      );
    }
    // Everything after `high` is written by this owner or later ones: a later catch-up reads from here.
    store.setRestoredFrom(high);
    return applied;
  }

  /**
   * Committed state of one actor: a value state's value, or a map state's entries as an object; undefined
   * when absent. For tests and inspection.
   */
  readState(key: string, stateName: string): unknown {
    const spec = this.env.fn.states.find((s) => s.name === stateName);
    if (spec === undefined || this.state === undefined) return undefined;
    const ck = cellKey(stateName, key);
    if (spec.kind === 'value') return this.state.store.getValue(ck);
    const entries = [...this.state.store.entries(ck)];
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }

  /** Processes a fetched batch as one step. */
  process(records: readonly IncomingRecord[]): Promise<void> {
    return this.serial(() => this.step(records));
  }

  /** Fires due timers as a step of their own (no input records). */
  tick(): Promise<void> {
    if (this.state === undefined) return Promise.resolve();
    return this.serial(() => this.step([]));
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async step(all: readonly IncomingRecord[]): Promise<void> {
    if (this.closed) throw new Error(`partition ${this.env.fn.topic}/${this.partition} is closed`);
    let records = all;
    if (records.length > 0 && records[0]!.offset < this.nextOffset) {
      records = records.filter((r) => r.offset >= this.nextOffset);
    }
    const out: StepOutput = { records: [], processed: 0, deadLettered: 0 };
    const runner = this.runner!;
    const state = this.state;
    try {
      if (records.length > 0) await runner.run(records, out);
      runner.fireTimers(out);
      if (out.records.length === 0 && records.length === 0 && !state?.dirty) return;
      state?.changelogRecords(out.records);
      const next = records.length > 0 ? records[records.length - 1]!.offset + 1 : this.nextOffset;
      const position = [{ topic: this.env.fn.topic, partition: this.partition, offset: next }];
      if (this.exactlyOnce) {
        const txn = await this.producer!.beginTransaction();
        try {
          if (out.records.length > 0) await txn.send(out.records);
          await txn.sendOffsets(this.env.fn.group, position);
          await txn.commit();
        } catch (e) {
          await txn.abort().catch(() => {});
          throw e;
        }
      } else {
        if (out.records.length > 0) await this.deps.sharedProducer.send(out.records);
        if (records.length > 0) await this.deps.consumer.commitOffsets(position);
      }
      this.nextOffset = next;
      state?.commit();
      this.deps.onStep?.(this.env, out, records);
    } catch (e) {
      state?.discard();
      if (isFenced(e)) {
        this.logger.warn(
          { err: e },
          'fenced: another worker owns this partition now; dropping its local state',
        );
        state?.store.clear();
        this.closed = true;
        throw new FencedError(`partition ${this.env.fn.topic}/${this.partition} was fenced`, { cause: e });
      }
      throw e;
    }
  }

  /** Stops the partition after in-flight steps; keeps the store for a later assignment when clean. */
  async close(): Promise<void> {
    const wasClosed = this.closed;
    this.closed = true;
    await this.chain;
    const store = this.state?.store;
    if (store !== undefined) {
      if (wasClosed) await store.close();
      else this.deps.keepStore(this.env.fn.changelogTopic, this.partition, store);
    }
    await this.producer
      ?.disconnect()
      .catch((e: unknown) => this.logger.warn({ err: e }, 'producer disconnect failed'));
    this.producer = undefined;
  }
}
