// One assigned input partition on this worker, around a body (a function, a router, later a lease slot): the
// task owns the partition's position, its transactional producer (exactly-once v1: transactional id
// `<group>.<partition>`, so a new owner fences any zombie; v2: the group member's transaction unit instead, whose
// offsets carry the member's generation), its state (restored from the changelog) and its timers, and commits
// every step with `commitStep`. The body decides what the step's records do. Steps of a
// task run one at a time.
//
// Pipelined steps (`pipelineSteps`): a step hands its output to `commitStep` and returns without waiting for the
// commit, so the next step (the rest of the batch, or the next batch) runs while it commits; that step waits for
// the commit before starting its own (one commit in flight, in order). Its state writes stay in the state layer's
// sealed layer until the commit; the position (`position`) moves only then. A failed commit fails the task: the
// next step, tick or close sees it, every uncommitted write is discarded, and the owner (group-member.ts) retires
// the task and moves the consumer back to `position`, from where the records of the failed steps come again.
//
// Lifecycle: created -> opening -> open -> closing -> closed; opening -> failed (a retry opens a new task);
// open -> fenced (a newer owner took the partition: local state dropped, nothing commits any more).
//
// A persistent store also keeps its changelog position (`restoredFrom`) on disk: advanced while restoring, and
// checkpointed (exactly-once) every CHECKPOINT_EVERY changelog records and on a clean close, so a restart
// reads only the changelog written after the checkpoint.
import {
  type Consumer,
  DirigoError,
  FencedError,
  type IncomingRecord,
  isFenced,
  PartitionsRevokedError,
  type Logger,
  type Producer,
  type RecordHeaders,
  type TopicPartition,
  type Transport,
} from '@dirigo/core';
import type { Clock } from '../clock.ts';
import { Lifecycle } from '../lifecycle.ts';
import type { StateCatalog } from '../state/catalog.ts';
import type { CellSpace } from '../state/cell-key.ts';
import { StateLayer } from '../state/state-layer.ts';
import type { KeyValueStore } from '../state/store.ts';
import { type TimerEntry, Timers } from '../state/timers.ts';
import { type CommitTarget, commitStep } from './commit.ts';
import { StepOutput } from './step-output.ts';
import type { TransactionUnit } from './transaction-unit.ts';

/** Changelog records written between two checkpoints of a persistent store (Kafka Streams uses 10,000 too). */
export const CHECKPOINT_EVERY = 10_000;

export type TaskState = 'created' | 'opening' | 'open' | 'closing' | 'closed' | 'failed' | 'fenced';
const TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  created: ['opening'],
  opening: ['open', 'failed', 'closing'],
  open: ['closing', 'fenced'],
  closing: ['closed'],
  closed: [],
  failed: ['closing'],
  fenced: ['closing'],
};

/** The state a body keeps, if any. */
export interface BodyState {
  readonly catalog: StateCatalog;
  readonly changelogTopic: string;
  /** The space of the task's own cells (its timers; legacy changelog keys). */
  readonly space: CellSpace;
}

/** What a body sees of its task once it is open. */
export interface TaskContext {
  readonly partition: number;
  readonly state: StateLayer | undefined;
  readonly timers: Timers | undefined;
}

/** The part of a task that gives its records a meaning. */
export interface TaskBody {
  /** 'function', 'router', 'lease-slot': for logs. */
  readonly kind: string;
  /** The state this body keeps; undefined for a stateless body (no store, no changelog, no timers). */
  readonly state: BodyState | undefined;
  /** Called once the task is open, before its first step. */
  attach(task: TaskContext): void;
  /**
   * Runs the records of one step, filling `out` (outputs, dead letters, forwards...; the task adds timers,
   * changelog and position). Rejects only when the step must not commit (AppStoppedError, a bug).
   */
  run(records: readonly IncomingRecord[], out: StepOutput, backlog?: number): Promise<void>;
  /** Metadata headers of the record a fired timer sends. */
  timerHeaders(entry: TimerEntry): RecordHeaders;
  /** True when the body has periodic work due (e.g. an idle lease to revoke): the next tick runs a step. */
  wantsStep?(now: number): boolean;
  /** Periodic work, in every step after the records ran (e.g. revoking idle leases, sending watermarks on). */
  maintain?(now: number, out: StepOutput): void;
  /** The input partition's event-time watermark (event-time timers fire up to it); absent: none. */
  watermark?(now: number): number;
  /**
   * How many of `records`, from index `from`, the next step may take now (a fetched batch is then run as several
   * steps, each committed on its own); called right before that step runs. Absent or undefined: the rest of the
   * batch is one step. `commitMs`: the task's recent commit time (EWMA).
   */
  stepCut?(records: readonly IncomingRecord[], from: number, commitMs: number): number | undefined;
}

/** The input partition of a task and how its steps commit. */
export interface TaskInput {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly exactlyOnce: boolean;
}

export interface InputTaskDeps {
  readonly transport: Transport;
  readonly consumer: Consumer;
  /** Non-transactional producer shared by the worker (at-least-once). */
  readonly sharedProducer: Producer;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Takes a store kept from an earlier assignment of this partition, or undefined. */
  readonly takeStore: (changelogTopic: string, partition: number) => KeyValueStore | undefined;
  /** Keeps a cleanly closed store for a later assignment. */
  readonly keepStore: (changelogTopic: string, partition: number, store: KeyValueStore) => void;
  readonly newStore: (changelogTopic: string, partition: number) => Promise<KeyValueStore>;
  /** Observes each committed step (metrics). */
  readonly onStep?: (out: StepOutput) => void;
  /** Exactly-once v2: the group member's transaction unit (no producer per partition). */
  readonly transactions?: TransactionUnit;
  /** Observes each transaction committed (metrics); under v2 the unit reports them. */
  readonly onTransaction?: () => void;
  /** Pipelined steps (see the top of this file). Default false. */
  readonly pipelineSteps?: boolean;
  /** Pipelined steps: a step's commit succeeded. */
  readonly onCommitted?: () => void;
  /** Pipelined steps: a step's commit failed (the task runs no more steps; the owner retires it). */
  readonly onCommitFailed?: (error: unknown) => void;
}

export class InputTask {
  readonly input: TaskInput;
  readonly body: TaskBody;
  private readonly deps: InputTaskDeps;
  private readonly logger: Logger;
  private readonly lifecycle: Lifecycle<TaskState>;
  private producer: Producer | undefined;
  private state: StateLayer | undefined;
  private timers: Timers | undefined;
  private target: CommitTarget | undefined;
  /** Next input offset to process; records below it were committed already. */
  private nextOffset = 0;
  /** Pipelined steps: the next offset to run (past the step whose commit is in flight); else `nextOffset`. */
  private runOffset = 0;
  /** Pipelined steps: the commit in flight (settles once its outcome is applied), if any. */
  private inflight: Promise<void> | undefined;
  /** Pipelined steps: a commit failed; the task runs no more steps (the owner retires it). */
  private commitError: unknown;

  private chain: Promise<unknown> = Promise.resolve();
  private tickQueued = false;
  /** Recent commit time of a step, ms (EWMA). */
  private commitMs = 0;
  /** A step failed: its transaction may have committed without the store applying it; never checkpoint. */
  private stepFailed = false;
  /** A step was fenced: a newer owner exists, and the store was cleared. */
  private fenced = false;
  /** Changelog records this task wrote since the store's last checkpoint. */
  private sinceCheckpoint = 0;

  constructor(input: TaskInput, body: TaskBody, deps: InputTaskDeps) {
    this.input = input;
    this.body = body;
    this.deps = deps;
    this.logger = deps.logger.child({ partition: input.partition });
    this.lifecycle = new Lifecycle(`${body.kind} task`, 'created', TRANSITIONS, this.logger, 'debug');
  }

  get topicPartition(): TopicPartition {
    return { topic: this.input.topic, partition: this.input.partition };
  }

  /** The next input offset this task will process, committed (metrics: consumer lag; purge; re-delivery). */
  get position(): number {
    return this.nextOffset;
  }

  /** Whether the steps of this task are pipelined (see the top of this file). */
  get pipelined(): boolean {
    return this.deps.pipelineSteps === true;
  }

  /** Committed state, for tests and inspection. */
  get stateLayer(): StateLayer | undefined {
    return this.state;
  }

  /**
   * Fences older owners (exactly-once v1; under v2, the v1 producer of the partition: `TransactionUnit.fenceV1`), finds the committed position (exactly-once: once no transaction holds
   * offsets of the group any more) and restores state.
   */
  async open(): Promise<void> {
    const started = Date.now();
    const { group, topic, partition, exactlyOnce } = this.input;
    const unit = exactlyOnce ? this.deps.transactions : undefined;
    this.lifecycle.to('opening');
    let restored = 0;
    try {
      if (exactlyOnce && unit === undefined) {
        this.producer = this.deps.transport.producer({
          transactionalId: `${group}.${partition}`,
          clientId: `${group}.${partition}`,
        });
        await this.producer.connect();
      } else if (unit !== undefined) {
        await unit.fenceV1(partition);
      }
      // Position first: under v2 a zombie's transaction is not aborted by this open, so the position is read once
      // stable, and the changelog (below) up to its last stable offset, i.e. both after that transaction ended.
      const admin = await this.deps.transport.admin();
      const committed = await admin.fetchCommittedOffsets(group, topic, { requireStable: exactlyOnce });
      const mine = committed.find((c) => c.partition === partition);
      this.nextOffset = mine === undefined || mine.offset < 0 ? 0 : mine.offset;
      this.runOffset = this.nextOffset;
      const bs = this.body.state;
      if (bs !== undefined) {
        const store =
          this.deps.takeStore(bs.changelogTopic, partition) ??
          (await this.deps.newStore(bs.changelogTopic, partition));
        this.state = new StateLayer(bs.changelogTopic, partition, bs.catalog, store, bs.space);
        restored = await this.restore(store, bs.changelogTopic);
        this.timers = new Timers(this.state, bs.space);
      }
    } catch (e) {
      this.lifecycle.to('failed', { err: e });
      // Release what was opened (a persistent store holds its directory lock): a retry opens a new task.
      const store = this.state?.store;
      this.state = undefined;
      await store?.close().catch(() => {});
      await this.producer?.disconnect().catch(() => {});
      this.producer = undefined;
      throw e;
    }
    this.target = {
      exactlyOnce,
      producer: this.producer,
      unit,
      ...(this.deps.onTransaction === undefined ? {} : { onTransaction: this.deps.onTransaction }),
      sharedProducer: this.deps.sharedProducer,
      consumer: this.deps.consumer,
      group,
      topic,
      partition,
    };
    this.body.attach({ partition, state: this.state, timers: this.timers });
    this.lifecycle.to('open');
    this.logger.info({ restored, nextOffset: this.nextOffset, ms: Date.now() - started }, 'partition opened');
  }

  private async restore(store: KeyValueStore, changelogTopic: string): Promise<number> {
    const partition = this.input.partition;
    const admin = await this.deps.transport.admin();
    const offsets = await admin.fetchTopicOffsets(changelogTopic);
    const po = offsets.find((o) => o.partition === partition);
    if (po === undefined) {
      // Never take a missing answer for an empty changelog: that would run the partition on empty state.
      throw new DirigoError(
        `restore: the watermarks of changelog ${changelogTopic} have no partition ${partition}`,
        { retriable: true },
      );
    }
    const high = po.high;
    if (store.restoredFrom > high) {
      // A store ahead of its changelog followed another one (the topic was recreated, e.g. a reset cluster).
      this.logger.warn(
        { restoredFrom: store.restoredFrom, high },
        'local state is ahead of its changelog; dropping it',
      );
      store.clear();
    }
    const from = Math.max(store.restoredFrom, po.low);
    let applied = 0;
    if (high > from) {
      const layer = this.state!;
      await this.deps.transport.readToEnd(
        [{ topic: changelogTopic, partition, fromOffset: from }],
        (records) => {
          if (records.length === 0) return;
          store.batch(() => {
            for (const r of records) layer.applyChangelog(r.key, r.value);
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
   * Processes a fetched batch as one step, or as several in order when the body limits a step's records
   * (a failed step ends the batch: the records from it on are fetched again).
   */
  process(records: readonly IncomingRecord[], highWatermark?: number): Promise<void> {
    // What the partition held beyond the batch when fetched: the scheduler sees it as the queue's backlog.
    const last = records[records.length - 1];
    const lag =
      highWatermark === undefined || last === undefined ? 0 : Math.max(0, highWatermark - last.offset - 1);
    const body = this.body;
    if (body.stepCut === undefined || records.length === 0) return this.serial(() => this.step(records, lag));
    // Each cut is made when its step is about to run (inside the chain): it reads the lessor's current leases.
    return this.serial(async () => {
      for (let i = 0; i < records.length; ) {
        const n = Math.max(1, body.stepCut!(records, i, this.commitMs) ?? records.length - i);
        const whole = i === 0 && n >= records.length;
        await this.step(whole ? records : records.slice(i, i + n), lag + Math.max(0, records.length - i - n));
        i += n;
      }
    });
  }

  /**
   * Fires due timers (and the body's periodic work) as a step of their own (no input records). Cheap when nothing
   * is due; at most one such step waits behind a running step.
   */
  tick(): Promise<void> {
    const now = this.deps.clock.now();
    if (
      !this.lifecycle.is('open') ||
      this.tickQueued ||
      !(this.timers?.due(now, this.body.watermark?.(now)) === true || this.body.wantsStep?.(now) === true)
    ) {
      return Promise.resolve();
    }
    this.tickQueued = true;
    return this.serial(() => {
      this.tickQueued = false;
      return this.lifecycle.is('open') ? this.step([]) : Promise.resolve();
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async step(all: readonly IncomingRecord[], backlog = 0): Promise<void> {
    if (!this.lifecycle.is('open')) {
      // A rebalance is moving the partition: transient, the batch comes again to whoever owns it next.
      throw new DirigoError(
        `partition ${this.input.topic}/${this.input.partition} is ${this.lifecycle.state}`,
        {
          retriable: true,
        },
      );
    }
    if (this.commitError !== undefined) throw this.commitError;
    let records = all;
    if (records.length > 0 && records[0]!.offset < this.runOffset) {
      records = records.filter((r) => r.offset >= this.runOffset);
    }
    const out = new StepOutput();
    if (records.length > 0) out.position = records[records.length - 1]!.offset + 1;
    const state = this.state;
    try {
      if (records.length > 0) await this.body.run(records, out, backlog);
      const now = this.deps.clock.now();
      this.body.maintain?.(now, out);
      const wm = this.body.watermark?.(now) ?? Number.NEGATIVE_INFINITY;
      this.timers?.fire(now, wm, out.timers, (t) => this.body.timerHeaders(t));
      if (out.size === 0 && records.length === 0 && !state?.dirty) return;
      state?.changelogRecords(out.changelog);
      if (this.pipelined) {
        await this.launch(out);
        return;
      }
      const commitStart = this.deps.clock.now();
      await commitStep(out, out.position ?? this.nextOffset, this.target!);
      this.commitMs += (this.deps.clock.now() - commitStart - this.commitMs) * 0.2;
      if (out.position !== undefined) this.nextOffset = this.runOffset = out.position;
      state?.commit();
      this.sinceCheckpoint += out.changelog.length;
      this.deps.onStep?.(out);
    } catch (e) {
      // Pipelined: the previous step's commit settles first (its success applies its writes), then everything
      // not committed is dropped.
      await this.inflight?.catch(() => {});
      throw this.failed(e);
    }
    if (this.sinceCheckpoint >= CHECKPOINT_EVERY) {
      await this.checkpoint().catch((e: unknown) => this.logger.warn({ err: e }, 'state checkpoint failed'));
    }
  }

  /**
   * Pipelined steps: waits for the commit in flight (a failure of it fails this step too), then starts this step's
   * commit and returns: the next step runs while it commits.
   */
  private async launch(out: StepOutput): Promise<void> {
    if (this.inflight !== undefined) await this.inflight;
    if (this.commitError !== undefined) throw this.commitError;
    const state = this.state;
    state?.seal();
    if (out.position !== undefined) this.runOffset = out.position;
    const commitStart = this.deps.clock.now();
    const commit: Promise<void> = commitStep(out, out.position ?? this.nextOffset, this.target!).then(
      () => {
        this.commitMs += (this.deps.clock.now() - commitStart - this.commitMs) * 0.2;
        if (out.position !== undefined) this.nextOffset = out.position;
        state?.applySealed();
        this.sinceCheckpoint += out.changelog.length;
        if (this.inflight === commit) this.inflight = undefined;
        this.deps.onStep?.(out);
        this.deps.onCommitted?.();
      },
      (e: unknown) => {
        if (this.inflight === commit) this.inflight = undefined;
        this.commitError = this.failed(e);
        this.deps.onCommitFailed?.(this.commitError);
        throw this.commitError;
      },
    );
    this.inflight = commit;
    // Seen by the next step, tick or close; never an unhandled rejection.
    commit.catch(() => {});
  }

  /**
   * A step or its commit failed: its transaction may have committed without the store applying it, so the task
   * never checkpoints again; uncommitted writes are dropped. Returns the error to throw (a `FencedError` when a
   * newer owner fenced this one: the store is cleared).
   */
  private failed(e: unknown): unknown {
    const state = this.state;
    this.stepFailed = true;
    state?.discard();
    this.timers?.rescan();
    this.runOffset = this.nextOffset;
    if (e instanceof FencedError && this.fenced) return e;
    if (isFenced(e)) {
      this.logger.warn(
        { err: e },
        'fenced: another worker owns this partition now; dropping its local state',
      );
      state?.store.clear();
      this.fenced = true;
      // A step of a task already closing (a tick behind its last batch) leaves the lifecycle to close().
      if (this.lifecycle.is('open')) this.lifecycle.to('fenced');
      return new FencedError(`partition ${this.input.topic}/${this.input.partition} was fenced`, {
        cause: e,
      });
    }
    return e;
  }

  /**
   * Moves the store's position past what it holds (persisted for a persistent store; kept in memory for a
   * memory store kept across a rebalance), so the next open reads only the changelog's tail (exactly-once
   * only). Every changelog record below the high watermark read here is one this store applied, unless a newer
   * owner wrote since this task opened; a newer owner fences this producer before writing, so a step that
   * commits after the read (a position-only one) proves there was none.
   */
  private async checkpoint(): Promise<void> {
    const store = this.state?.store;
    if (store === undefined || !this.input.exactlyOnce || this.stepFailed) return;
    // Pipelined: after the commit in flight, unless it failed (the task then never checkpoints).
    await this.inflight?.catch(() => {});
    if (this.stepFailed) return;
    const changelogTopic = this.state!.changelogTopic;
    const admin = await this.deps.transport.admin();
    const offsets = await admin.fetchTopicOffsets(changelogTopic);
    const high = offsets.find((o) => o.partition === this.input.partition)?.high ?? 0;
    if (high <= store.restoredFrom) return;
    await commitStep(new StepOutput(), this.nextOffset, this.target!);
    store.batch(() => store.setRestoredFrom(high));
    this.sinceCheckpoint = 0;
  }

  /**
   * Stops the partition after in-flight steps. A cleanly closed store is kept for a later assignment, or, when
   * persistent, checkpointed and closed (reopening it is cheap and frees its directory for the next owner).
   */
  async close(): Promise<void> {
    if (this.lifecycle.is('closing', 'closed')) {
      await this.chain;
      return;
    }
    const clean = this.lifecycle.is('open');
    if (!this.lifecycle.is('created')) this.lifecycle.to('closing');
    await this.chain;
    await this.inflight?.catch(() => {});
    // Fenced before or while closing (a step still in the chain): its store was cleared; never keep it.
    const fenced = this.fenced;
    const store = this.state?.store;
    if (store !== undefined) {
      if (clean && !fenced) {
        await this.checkpoint().catch((e: unknown) => {
          // Fenced (v1) or revoked (v2: the partition is no longer this member's when it closes after a rebalance)
          // means the next owner already took over: expected, and harmless (the store keeps its older, safe
          // position).
          const level = isFenced(e) || e instanceof PartitionsRevokedError ? 'info' : 'warn';
          this.logger[level](
            { err: e },
            'state checkpoint skipped; the next open reads more of the changelog',
          );
        });
      }
      if (fenced || store.persistent) {
        await store.close().catch((e: unknown) => this.logger.warn({ err: e }, 'closing the store failed'));
      } else this.deps.keepStore(this.state!.changelogTopic, this.input.partition, store);
    }
    await this.producer
      ?.disconnect()
      .catch((e: unknown) => this.logger.warn({ err: e }, 'producer disconnect failed'));
    this.producer = undefined;
    if (this.lifecycle.is('closing')) this.lifecycle.to('closed');
  }
}
