// A member of one consumer group over one input topic on this worker (a function's group `<ns>.<app>.<fn>`, an
// ingress router's, later a lease topic's). Partitions assigned to it become InputTasks around a body made for
// each partition (fence, restore, then process); revoked ones are closed after their in-flight step. A record
// failing under the `stop` policy stops the app, and so does a partition failing to open with an InternalError
// (a bug retrying cannot fix); other failures to open are retried with the next batch.
//
// A partition whose task failed (its open, or a step: then the task is closed, since a commit that failed may
// still have been written and only the changelog knows) is opened again by the next batch, or, when no batch
// comes (an idle partition: the transport re-delivers from the committed position, which may be past everything
// there is), by the timer tick after a backoff, so that its due timers still fire.
import {
  type Consumer,
  isFenced,
  isRetriable,
  type Logger,
  PartitionsRevokedError,
  type RecordBatch,
  type TopicPartition,
} from '@dirigo/core';
import { AppStoppedError, InternalError } from '../errors.ts';
import { DispatcherClosedError } from '../scheduler/dispatcher-options.ts';
import { InputTask, type InputTaskDeps, type TaskBody } from './input-task.ts';
import type { PurgeMetricsTable } from '../metrics/purge-metrics.ts';
import { Purger } from './purge.ts';
import { TransactionUnit } from './transaction-unit.ts';

/** A step failing this many times in a row with a non-retriable error stops the app. */
const MAX_PERMANENT_FAILURES = 3;
/** A detached batch whose step failed is delivered again after this long (as a rejected batch would be). */
const DETACHED_RETRY_MS = 1_000;
/** An assigned partition left without a task is opened again by the tick after this long, doubling per failure. */
const REOPEN_MIN_MS = 1_000;
const REOPEN_MAX_MS = 10_000;

export interface GroupMemberOptions {
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Partitions processed at the same time by this member. */
  readonly concurrency: number;
  /**
   * Exactly-once v2: one transactional producer for the member (transactional id `<group>.<worker id>`) commits
   * the steps of all its partitions, several per transaction; false: one producer per input partition. Needs a
   * transport with `exactlyOnceV2`.
   */
  readonly exactlyOnceV2?: boolean;
  /** Under v2, fence the v1 producer of each partition opened (`TransactionUnit.fenceV1`). Default true. */
  readonly exactlyOnceFenceV1?: boolean;
  /**
   * A batch still running after this long is detached so the member's other partitions keep fetching (see
   * `onBatch`); undefined: never (every batch holds the fetch until it ends).
   */
  readonly detachAfterMs?: number;
  readonly onAppStopped: (error: AppStoppedError) => void;
  /** A step of function `fn` failed and its batch will be delivered again (metrics). */
  readonly onStepRetried?: (fn: string) => void;
  /** How often a purged topic's committed records are deleted (see purge.ts), ms; 0 or absent: never. */
  readonly purgeIntervalMs?: number;
  /** The worker's purge counters per topic (metrics); absent: counters of the member's own. */
  readonly purgeMetrics?: PurgeMetricsTable;
}

/** What the member consumes and how its tasks are made. */
export interface GroupSpec {
  /** The app whose work this is (an app stops as a whole). */
  readonly app: string;
  /** What the member runs, for logs and errors: a function name, `ingress-<topic>`, `lease`. */
  readonly name: string;
  readonly group: string;
  readonly topic: string;
  readonly exactlyOnce: boolean;
  /**
   * The topic is internal and fed only by this app (a function's input fed by sends, the lease topic): its
   * committed records are deleted every `purgeIntervalMs` (see purge.ts).
   */
  readonly purge?: boolean;
  /** Makes the body of a newly assigned partition's task. */
  readonly body: (partition: number) => TaskBody;
}

export class GroupMember {
  readonly spec: GroupSpec;
  private readonly deps: Omit<InputTaskDeps, 'consumer'>;
  private readonly options: GroupMemberOptions;
  private readonly logger: Logger;
  private consumer: Consumer | undefined;
  /** Exactly-once v2: the member's transaction unit. */
  private unit: TransactionUnit | undefined;
  private readonly tasks = new Map<number, Promise<InputTask>>();
  /** Consecutive failed steps per partition. */
  private readonly failures = new Map<number, number>();
  /** Per partition: batches being delivered (from the consumer's call until their steps ran or failed). */
  private readonly delivering = new Map<number, number>();
  /** The group gave this member an assignment (maybe empty) and every partition of it opened (restored). */
  private assignedOnce = false;
  private readonly opened = new Map<number, InputTask>();
  /** Partitions the group assigned to this member and has not revoked (a task may be missing after a failure). */
  private readonly assigned = new Set<number>();
  /** Assigned partitions left without a task by a failure, with when the tick may open them again. */
  private readonly reopenAt = new Map<number, number>();
  /** Tasks closing after a failure, per partition: a new task of the partition opens once they are closed. */
  private readonly closing = new Map<number, Promise<void>>();
  /** Partitions whose running batch was detached (paused until its step ends), with that detachment's token. */
  private readonly detached = new Map<number, object>();
  /** The app was stopped by this member (reported once). */
  private stopped: AppStoppedError | undefined;
  /** Deletes the committed records of a purged topic. */
  private readonly purger: Purger | undefined;

  constructor(spec: GroupSpec, deps: Omit<InputTaskDeps, 'consumer'>, options: GroupMemberOptions) {
    this.spec = spec;
    this.deps = deps;
    this.options = options;
    this.logger = deps.logger;
    if (spec.purge === true && (options.purgeIntervalMs ?? 0) > 0)
      this.purger = new Purger(
        deps.transport,
        spec.topic,
        options.purgeIntervalMs!,
        deps.logger,
        options.purgeMetrics?.get(spec.topic),
      );
  }

  /** Joins the group and starts consuming. */
  async start(workerId: string): Promise<void> {
    const { group, topic } = this.spec;
    const consumer = this.deps.transport.consumer({
      groupId: group,
      clientId: `${workerId}.${group}`,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      isolation: 'read_committed',
      autoOffsetReset: 'earliest',
      concurrency: this.options.concurrency,
    });
    this.consumer = consumer;
    if (this.spec.exactlyOnce && this.options.exactlyOnceV2 === true) {
      const transactionalId = `${group}.${workerId}`;
      const unit = new TransactionUnit({
        transport: this.deps.transport,
        consumer,
        group,
        topic,
        transactionalId,
        logger: this.logger.child({ transactionalId }),
        ...(this.options.exactlyOnceFenceV1 === false ? { fenceV1: false } : {}),
        ...(this.deps.onTransaction === undefined ? {} : { onTransaction: this.deps.onTransaction }),
      });
      await unit.open();
      this.unit = unit;
    }
    await consumer.connect();
    await consumer.subscribe([topic]);
    await consumer.run({
      eachBatch: (batch) => this.onBatch(batch),
      onAssigned: (tps) => this.onAssigned(tps),
      onRevoked: (tps) => this.onRevoked(tps),
    });
  }

  private onAssigned(tps: readonly TopicPartition[]): Promise<void> {
    const mine = tps.filter((tp) => tp.topic === this.spec.topic);
    this.logger.info({ partitions: mine.map((tp) => tp.partition) }, 'partitions assigned');
    const opening: Promise<InputTask>[] = [];
    for (const tp of mine) {
      this.assigned.add(tp.partition);
      if (this.tasks.has(tp.partition)) continue;
      const opened = this.openTask(tp.partition);
      opened.catch((e: unknown) => void this.openFailed(e, tp.partition)); // also observed in onBatch / below
      opening.push(opened);
    }
    return Promise.all(opening).then(
      () => {
        this.assignedOnce = true;
      },
      (e: unknown) => {
        this.logger.error({ err: e }, 'opening partitions failed; batches will retry');
      },
    );
  }

  private async onRevoked(tps: readonly TopicPartition[]): Promise<void> {
    const mine = tps.filter((tp) => tp.topic === this.spec.topic);
    this.logger.info({ partitions: mine.map((tp) => tp.partition) }, 'partitions revoked');
    for (const tp of mine) {
      this.assigned.delete(tp.partition);
      this.reopenAt.delete(tp.partition);
    }
    // A detached partition is no longer ours to pause: whoever gets it next starts it unpaused.
    const undetach = mine.filter((tp) => this.detached.delete(tp.partition)).map((tp) => tp.partition);
    if (undetach.length > 0) this.consumer?.resume([{ topic: this.spec.topic, partitions: undetach }]);
    await Promise.all(
      mine.map(async (tp) => {
        const t = this.tasks.get(tp.partition);
        this.tasks.delete(tp.partition);
        this.opened.delete(tp.partition);
        if (t === undefined) return;
        try {
          await (await t).close();
        } catch (e) {
          this.logger.warn({ err: e, partition: tp.partition }, 'closing a partition failed');
        }
      }),
    );
  }

  private newTask(partition: number): InputTask {
    const { group, topic, exactlyOnce } = this.spec;
    const task: InputTask = new InputTask(
      { group, topic, partition, exactlyOnce },
      this.spec.body(partition),
      {
        ...this.deps,
        consumer: this.consumer!,
        ...(this.unit === undefined ? {} : { transactions: this.unit }),
        onCommitted: () => this.failures.delete(partition),
        onCommitFailed: (e: unknown) => this.commitFailed(task, e),
      },
    );
    this.opened.delete(partition);
    return task;
  }

  /** Tasks whose open succeeded and that are still assigned (synchronous view, for health and leases). */
  openTasks(): InputTask[] {
    return [...this.opened.values()];
  }

  /** The partitions currently assigned to this member (opened or opening). */
  partitions(): number[] {
    return [...this.tasks.keys()];
  }

  private async taskFor(partition: number): Promise<InputTask> {
    const t = this.tasks.get(partition);
    if (t !== undefined) {
      try {
        return await t;
      } catch (e) {
        // Another caller (a batch, the tick) may have opened it again meanwhile.
        const now = this.tasks.get(partition);
        if (now !== undefined && now !== t) return now;
        this.logger.warn({ err: e, partition }, 'reopening partition after a failed open');
      }
    }
    return this.openTask(partition);
  }

  /** Opens a new task for `partition` (once a task of it closing after a failure is closed). */
  private openTask(partition: number): Promise<InputTask> {
    const task = this.newTask(partition);
    const closing = this.closing.get(partition) ?? Promise.resolve();
    const t = closing.then(() => task.open()).then(() => this.remember(task));
    this.tasks.set(partition, t);
    this.reopenAt.delete(partition);
    t.catch((e: unknown) => {
      if (this.tasks.get(partition) === t) this.scheduleReopen(partition, e);
    });
    return t;
  }

  /**
   * Closes a task that failed (a step: its commit may have been written all the same, so only a task restored
   * from the changelog knows the state), and lets the tick open the partition again when no batch does.
   */
  private async retire(task: InputTask, e: unknown): Promise<void> {
    const partition = task.input.partition;
    if (this.opened.get(partition) === task) {
      this.tasks.delete(partition);
      this.opened.delete(partition);
    }
    const closed = task.close().catch(() => {});
    this.closing.set(partition, closed);
    await closed;
    if (this.closing.get(partition) === closed) this.closing.delete(partition);
    if (!this.tasks.has(partition)) this.scheduleReopen(partition, e);
  }

  /**
   * A retired task with pipelined steps: the consumer may be past records whose steps did not commit (the batch
   * that failed is not always the one they came in), so the partition's next batch starts at the task's committed
   * position (the reopened task skips whatever was committed after all).
   */
  private rewind(task: InputTask): void {
    const partition = task.input.partition;
    if (!task.pipelined || !this.assigned.has(partition) || this.stopped !== undefined) return;
    try {
      this.consumer?.seek({ topic: this.spec.topic, partition, offset: task.position });
    } catch (e) {
      // Revoked meanwhile: the next owner starts from the committed position anyway.
      this.logger.debug({ err: e, partition }, 'moving the consumer back failed');
    }
  }

  /**
   * An assigned partition without a live task: the tick opens it again after a backoff (longer when fenced: a
   * newer owner exists, and this member, if it is the zombie, learns of its eviction meanwhile).
   */
  private scheduleReopen(partition: number, e: unknown): void {
    if (!this.assigned.has(partition) || this.stopped !== undefined) return;
    const failures = this.failures.get(partition) ?? 1;
    const backoff = isFenced(e)
      ? this.options.sessionTimeoutMs
      : Math.min(REOPEN_MAX_MS, REOPEN_MIN_MS * 2 ** Math.max(0, failures - 1));
    this.reopenAt.set(partition, Date.now() + backoff);
  }

  /**
   * A partition failed to open. An InternalError (a bug: retrying cannot help) stops the app, loudly, and is
   * returned as the AppStoppedError; any other error is returned as it is (the next batch retries the open).
   */
  private openFailed(e: unknown, partition: number): unknown {
    if (!(e instanceof InternalError)) return e;
    if (this.stopped !== undefined) return this.stopped;
    const stop = new AppStoppedError(
      this.spec.app,
      `app '${this.spec.app}' stopped: '${this.spec.name}' could not open partition ${this.spec.topic}/${partition}: ${e.message}`,
      { cause: e },
    );
    this.stopped = stop;
    this.logger.error({ err: stop }, stop.message);
    this.options.onAppStopped(stop);
    return stop;
  }

  /**
   * Delivers a batch to its partition's task. A batch still running after `detachAfterMs` (a slow or hung
   * handler) is detached: its partition is paused and the consumer goes on fetching the others (kafkajs fetches
   * again only once every batch of the last fetch returned, so one stuck partition would stall all of them);
   * when the step ends the partition resumes, or, if it failed, is sought back to the batch and resumes after a
   * backoff, as a rejected batch would be re-delivered.
   */
  private async onBatch(batch: RecordBatch): Promise<void> {
    const partition = batch.partition;
    this.delivering.set(partition, (this.delivering.get(partition) ?? 0) + 1);
    const delivered = () => {
      const n = (this.delivering.get(partition) ?? 1) - 1;
      if (n > 0) this.delivering.set(partition, n);
      else this.delivering.delete(partition);
    };
    let task: InputTask;
    try {
      task = await this.taskFor(batch.partition);
    } catch (e) {
      delivered();
      throw this.openFailed(e, batch.partition);
    }
    const run = this.runBatch(task, batch).finally(delivered);
    const after = this.options.detachAfterMs;
    if (after === undefined) return run;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const detach = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), after);
    });
    try {
      if (!(await Promise.race([run.then(() => false), detach]))) return;
    } finally {
      clearTimeout(timer);
    }
    const consumer = this.consumer!;
    const tp = [{ topic: this.spec.topic, partitions: [batch.partition] }];
    const token = {};
    this.detached.set(batch.partition, token);
    consumer.pause(tp);
    this.logger.info(
      { partition: batch.partition, offset: batch.records[0]?.offset, afterMs: after },
      'a step is running long: its partition is detached so the others keep fetching',
    );
    run.then(
      () => {
        if (this.detached.get(batch.partition) !== token) return; // revoked meanwhile
        this.detached.delete(batch.partition);
        consumer.resume(tp);
      },
      (e: unknown) => {
        if (this.detached.get(batch.partition) !== token || e instanceof AppStoppedError) return;
        const first = batch.records[0];
        setTimeout(() => {
          if (this.detached.get(batch.partition) !== token) return;
          this.detached.delete(batch.partition);
          // Records below the committed position are skipped by the reopened task. Pipelined, the steps of earlier
          // batches may not have committed either: from the committed position.
          const from = task.pipelined
            ? Math.min(task.position, first?.offset ?? task.position)
            : first?.offset;
          if (from !== undefined)
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: from });
          consumer.resume(tp);
        }, DETACHED_RETRY_MS).unref?.();
      },
    );
  }

  private async runBatch(task: InputTask, batch: RecordBatch): Promise<void> {
    try {
      await task.process(batch.records, batch.highWatermark);
      // Pipelined, a batch that ran is not yet committed: the count restarts when a commit succeeds.
      if (!task.pipelined) this.failures.delete(batch.partition);
    } catch (e) {
      const first = batch.records[0]?.offset;
      throw await this.stepFailed(task, e, task.pipelined ? task.position : first);
    }
  }

  /**
   * A pipelined commit failed after its batch was delivered. When a batch of the partition is being delivered now,
   * its step fails with the same error and runBatch takes care; otherwise nothing would come to retry it: the task
   * is retired here, and the consumer moved back to the committed position first, before a batch fetched beyond it
   * can reach a new task.
   */
  private commitFailed(task: InputTask, e: unknown): void {
    if ((this.delivering.get(task.input.partition) ?? 0) > 0) return;
    this.stepFailed(task, e, task.position).catch(() => {});
  }

  /**
   * A step (or a pipelined commit) of `task` failed: counts the failure, retires the task (a new one opens
   * later), moves the consumer back for a pipelined task, and stops the app when the error is permanent and
   * keeps coming. Returns the error the batch rejects with.
   */
  private async stepFailed(task: InputTask, e: unknown, offset: number | undefined): Promise<unknown> {
    const partition = task.input.partition;
    if (e instanceof AppStoppedError) {
      this.logger.error({ err: e }, e.message);
      this.options.onAppStopped(e);
      // Never resolve into a commit: the app is stopping; the transport re-delivers to whoever runs next.
      return e;
    }
    const failures = (this.failures.get(partition) ?? 0) + 1;
    this.failures.set(partition, failures);
    this.rewind(task);
    await this.retire(task, e);
    const transient =
      isRetriable(e) ||
      isFenced(e) ||
      e instanceof PartitionsRevokedError ||
      e instanceof DispatcherClosedError;
    if (!transient && failures >= MAX_PERMANENT_FAILURES) {
      // Retrying cannot help (a record larger than the broker accepts, or an error nobody classified as
      // transient): stop the app, loudly, instead of looping forever on the same batch.
      const stop = new AppStoppedError(
        this.spec.app,
        `app '${this.spec.app}' stopped: '${this.spec.name}' failed ${failures} times in a row on ${this.spec.topic}/${partition} from offset ${offset ?? '?'} with a non-retriable error: ${(e as Error).message}`,
        { cause: e },
      );
      this.logger.error({ err: stop }, stop.message);
      this.options.onAppStopped(stop);
      return stop;
    }
    this.options.onStepRetried?.(this.spec.name);
    // Expected during rebalances and failovers (fenced, revoked, retriable): debug, unless it keeps failing.
    if (transient && failures < MAX_PERMANENT_FAILURES) {
      this.logger.debug({ err: e, partition, failures }, 'step failed; the batch will be retried');
    } else {
      this.logger.warn({ err: e, partition, failures }, 'step failed; the batch will be retried');
    }
    return e;
  }

  /**
   * Joined: the group has given this member its first assignment (possibly empty, when there are more members
   * than partitions) and every partition of it opened, i.e. state restored and position known.
   */
  get joined(): boolean {
    return this.assignedOnce;
  }

  private remember(task: InputTask): InputTask {
    if (this.tasks.has(task.input.partition)) this.opened.set(task.input.partition, task);
    return task;
  }

  /** The open task of a partition, if this member owns it and has opened it. */
  async task(partition: number): Promise<InputTask | undefined> {
    const t = this.tasks.get(partition);
    return t === undefined ? undefined : t.catch(() => undefined);
  }

  /**
   * Fires due timers on every open partition (each on its own: a long step of one partition does not hold the
   * others' timers), opens again the assigned partitions a failure left without a task, and starts a purge of a
   * purged topic when one is due (not waited for).
   */
  async tick(): Promise<void> {
    this.purgeCommitted();
    const work: Promise<void>[] = [];
    for (const task of this.opened.values()) {
      work.push(
        task.tick().catch(async (e: unknown) => {
          this.logger.warn(
            { err: e, partition: task.input.partition },
            'timer step failed; reopening the partition',
          );
          this.rewind(task);
          await this.retire(task, e);
        }),
      );
    }
    // An entry exists only for an assigned partition with no task open or opening, whose failed task is closed
    // (scheduleReopen; revocations, stop and any new open remove it).
    const now = Date.now();
    for (const [partition, at] of this.reopenAt) {
      if (at > now) continue;
      this.reopenAt.delete(partition);
      this.logger.info({ partition }, 'opening a partition left without a task by a failure');
      work.push(
        this.taskFor(partition).then(
          () => {},
          (e: unknown) => {
            if (this.openFailed(e, partition) === e)
              this.logger.warn({ err: e, partition }, 'opening the partition failed; retrying later');
          },
        ),
      );
    }
    await Promise.all(work);
  }

  /**
   * Starts deleting the records below the committed positions of the open partitions when a purge is due
   * (resolves when it ends; undefined when none started). A task's position moves only once its step committed.
   */
  purgeCommitted(): Promise<void> | undefined {
    return this.purger?.maybePurge(this.deps.clock.now(), () =>
      [...this.opened.values()].map((t) => ({ partition: t.input.partition, offset: t.position })),
    );
  }

  /** Leaves the group: in-flight steps finish and commit, then partitions close. */
  async stop(): Promise<void> {
    // Nothing is opened again from here on.
    this.assigned.clear();
    this.reopenAt.clear();
    await this.consumer?.disconnect();
    await this.onRevoked([...this.tasks.keys()].map((partition) => ({ topic: this.spec.topic, partition })));
    this.consumer = undefined;
    await this.unit?.close();
    this.unit = undefined;
  }
}
