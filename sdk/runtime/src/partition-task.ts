// One assigned input partition of one function on this worker: its state (restored from the changelog), its
// transactional producer (exactly-once: transactional id `<group>.<partition>`, so a new owner fences any
// zombie), and the read-process-write step. Steps of a partition run one at a time.
//
// Step, exactly-once: run handlers in memory -> begin -> send outputs + dead letters + changelog diff ->
// sendOffsets -> commit -> apply the pending state. Any failure aborts and discards the pending state, so the
// local store always equals what the changelog holds as committed.
// Step, at-least-once: run handlers -> send everything with the shared producer -> commit offsets.
//
// A persistent store also keeps its changelog position (`restoredFrom`) on disk: advanced while restoring, and
// checkpointed (exactly-once) every CHECKPOINT_EVERY changelog records and on a clean close, so a restart
// reads only the changelog written after the checkpoint.
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

/** Changelog records written between two checkpoints of a persistent store (Kafka Streams uses 10,000 too). */
export const CHECKPOINT_EVERY = 10_000;

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
  private tickQueued = false;
  /** A step failed: its transaction may have committed without the store applying it; never checkpoint. */
  private stepFailed = false;
  /** Changelog records this task wrote since the store's last checkpoint. */
  private sinceCheckpoint = 0;

  constructor(env: FunctionEnv, partition: number, deps: PartitionTaskDeps) {
    this.env = env;
    this.partition = partition;
    this.deps = deps;
    this.logger = env.logger.child({ partition });
    this.exactlyOnce = env.app.options.guarantee === 'exactly_once';
  }

  /** The scheduler queue of this partition. */
  get queueId(): string {
    return `${this.env.fn.group}/${this.partition}`;
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
      try {
        restored = await this.restore(store);
      } catch (e) {
        // Release the store (a persistent one holds its directory lock): a retry opens a new task.
        this.state = undefined;
        await store.close().catch(() => {});
        throw e;
      }
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
    if (store.restoredFrom > high) {
      // A store ahead of its changelog followed another one (the topic was recreated, e.g. a reset cluster).
      this.logger.warn(
        { restoredFrom: store.restoredFrom, high },
        'local state is ahead of its changelog; dropping it',
      );
      store.clear();
    }
    const from = Math.max(store.restoredFrom, po?.low ?? 0);
    let applied = 0;
    if (high > from) {
      const ps = this.state!;
      await this.deps.transport.readToEnd(
        [{ topic: fn.changelogTopic, partition: this.partition, fromOffset: from }],
        (records) => {
          if (records.length === 0) return;
          store.batch(() => {
            for (const r of records) ps.applyChangelog(r.key, r.value);
            store.setRestoredFrom(records[records.length - 1]!.offset + 1);
          });
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

  /**
   * Fires due timers as a step of their own (no input records). Cheap when none is due; at most one timer step
   * waits behind a running step.
   */
  tick(): Promise<void> {
    const state = this.state;
    if (this.closed || this.tickQueued || state === undefined || !state.timersDue(this.env.clock.now())) {
      return Promise.resolve();
    }
    this.tickQueued = true;
    return this.serial(() => {
      this.tickQueued = false;
      return this.closed ? Promise.resolve() : this.step([]);
    });
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
      if (records.length > 0) await runner.run(records, out, this.queueId);
      runner.fireTimers(out);
      if (out.records.length === 0 && records.length === 0 && !state?.dirty) return;
      const outputs = out.records.length;
      state?.changelogRecords(out.records);
      this.sinceCheckpoint += out.records.length - outputs;
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
      this.stepFailed = true;
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
    if (this.sinceCheckpoint >= CHECKPOINT_EVERY) {
      await this.checkpoint().catch((e: unknown) => this.logger.warn({ err: e }, 'state checkpoint failed'));
    }
  }

  /**
   * Moves the store's position past what it holds (persisted for a persistent store; kept in memory for a
   * memory store kept across a rebalance), so the next open reads only the changelog's tail (exactly-once
   * only). Every changelog record below the high watermark read here is one this store applied,
   * unless a newer owner wrote since this task opened; a newer owner fences this producer before writing, so
   * a transaction that commits after the read proves there was none.
   */
  private async checkpoint(): Promise<void> {
    const store = this.state?.store;
    if (store === undefined || !this.exactlyOnce || this.stepFailed) return;
    const fn = this.env.fn;
    const admin = await this.deps.transport.admin();
    const offsets = await admin.fetchTopicOffsets(fn.changelogTopic);
    const high = offsets.find((o) => o.partition === this.partition)?.high ?? 0;
    if (high <= store.restoredFrom) return;
    const txn = await this.producer!.beginTransaction();
    try {
      await txn.sendOffsets(fn.group, [
        { topic: fn.topic, partition: this.partition, offset: this.nextOffset },
      ]);
      await txn.commit();
    } catch (e) {
      await txn.abort().catch(() => {});
      throw e;
    }
    store.batch(() => store.setRestoredFrom(high));
    this.sinceCheckpoint = 0;
  }

  /**
   * Stops the partition after in-flight steps. A cleanly closed store is kept for a later assignment, or, when
   * persistent, checkpointed and closed (reopening it is cheap and frees its directory for the next owner).
   */
  async close(): Promise<void> {
    const wasClosed = this.closed;
    this.closed = true;
    await this.chain;
    const store = this.state?.store;
    if (store !== undefined) {
      if (!wasClosed) {
        await this.checkpoint().catch((e: unknown) => {
          // Fenced here means the next owner already took over: expected during a rebalance, and harmless (the
          // store keeps its older, safe position).
          const level = isFenced(e) ? 'info' : 'warn';
          this.logger[level](
            { err: e },
            'state checkpoint skipped; the next open reads more of the changelog',
          );
        });
      }
      if (wasClosed || store.persistent) {
        await store.close().catch((e: unknown) => this.logger.warn({ err: e }, 'closing the store failed'));
      } else this.deps.keepStore(this.env.fn.changelogTopic, this.partition, store);
    }
    await this.producer
      ?.disconnect()
      .catch((e: unknown) => this.logger.warn({ err: e }, 'producer disconnect failed'));
    this.producer = undefined;
  }
}
