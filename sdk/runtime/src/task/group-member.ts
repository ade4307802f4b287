// A member of one consumer group over one input topic on this worker (a function's group `<ns>.<app>.<fn>`, an
// ingress router's, later a lease topic's). Partitions assigned to it become InputTasks around a body made for
// each partition (fence, restore, then process); revoked ones are closed after their in-flight step. A record
// failing under the `stop` policy stops the app.
import {
  type Consumer,
  isFenced,
  isRetriable,
  type Logger,
  PartitionsRevokedError,
  type RecordBatch,
  type TopicPartition,
} from '@dirigo/core';
import { AppStoppedError } from '../errors.ts';
import { DispatcherClosedError } from '../scheduler/dispatcher-options.ts';
import { InputTask, type InputTaskDeps, type TaskBody } from './input-task.ts';

/** A step failing this many times in a row with a non-retriable error stops the app. */
const MAX_PERMANENT_FAILURES = 3;

export interface GroupMemberOptions {
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Partitions processed at the same time by this member. */
  readonly concurrency: number;
  readonly onAppStopped: (error: AppStoppedError) => void;
  /** A step of function `fn` failed and its batch will be delivered again (metrics). */
  readonly onStepRetried?: (fn: string) => void;
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
  /** Makes the body of a newly assigned partition's task. */
  readonly body: (partition: number) => TaskBody;
}

export class GroupMember {
  readonly spec: GroupSpec;
  private readonly deps: Omit<InputTaskDeps, 'consumer'>;
  private readonly options: GroupMemberOptions;
  private readonly logger: Logger;
  private consumer: Consumer | undefined;
  private readonly tasks = new Map<number, Promise<InputTask>>();
  /** Consecutive failed steps per partition. */
  private readonly failures = new Map<number, number>();
  /** The group gave this member an assignment (maybe empty) and every partition of it opened (restored). */
  private assignedOnce = false;
  private readonly opened = new Map<number, InputTask>();

  constructor(spec: GroupSpec, deps: Omit<InputTaskDeps, 'consumer'>, options: GroupMemberOptions) {
    this.spec = spec;
    this.deps = deps;
    this.options = options;
    this.logger = deps.logger;
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
      if (this.tasks.has(tp.partition)) continue;
      const task = this.newTask(tp.partition);
      const opened = task.open().then(() => this.remember(task));
      opened.catch(() => {}); // observed in onBatch / below
      this.tasks.set(tp.partition, opened);
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
    const task = new InputTask({ group, topic, partition, exactlyOnce }, this.spec.body(partition), {
      ...this.deps,
      consumer: this.consumer!,
    });
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
    let t = this.tasks.get(partition);
    if (t !== undefined) {
      try {
        return await t;
      } catch (e) {
        this.logger.warn({ err: e, partition }, 'reopening partition after a failed open');
      }
    }
    const task = this.newTask(partition);
    t = task.open().then(() => this.remember(task));
    t.catch(() => {});
    this.tasks.set(partition, t);
    return t;
  }

  private async onBatch(batch: RecordBatch): Promise<void> {
    const task = await this.taskFor(batch.partition);
    try {
      await task.process(batch.records);
      this.failures.delete(batch.partition);
    } catch (e) {
      if (e instanceof AppStoppedError) {
        this.logger.error({ err: e }, e.message);
        this.options.onAppStopped(e);
        // Never resolve into a commit: the app is stopping; the transport re-delivers to whoever runs next.
        throw e;
      }
      this.tasks.delete(batch.partition);
      this.opened.delete(batch.partition);
      await task.close().catch(() => {});
      const failures = (this.failures.get(batch.partition) ?? 0) + 1;
      this.failures.set(batch.partition, failures);
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
          `app '${this.spec.app}' stopped: '${this.spec.name}' failed ${failures} times in a row on ${batch.topic}/${batch.partition} from offset ${batch.records[0]?.offset ?? '?'} with a non-retriable error: ${(e as Error).message}`,
          { cause: e },
        );
        this.logger.error({ err: stop }, stop.message);
        this.options.onAppStopped(stop);
        throw stop;
      }
      this.options.onStepRetried?.(this.spec.name);
      // Expected during rebalances and failovers (fenced, revoked, retriable): debug, unless it keeps failing.
      if (transient && failures < MAX_PERMANENT_FAILURES) {
        this.logger.debug(
          { err: e, partition: batch.partition, failures },
          'step failed; the batch will be retried',
        );
      } else {
        this.logger.warn(
          { err: e, partition: batch.partition, failures },
          'step failed; the batch will be retried',
        );
      }
      throw e;
    }
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

  /** Fires due timers on every open partition. */
  async tick(): Promise<void> {
    for (const t of this.tasks.values()) {
      const task = await t.catch(() => undefined);
      if (task) await task.tick().catch((e: unknown) => this.logger.warn({ err: e }, 'timer step failed'));
    }
  }

  /** Leaves the group: in-flight steps finish and commit, then partitions close. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    await this.onRevoked([...this.tasks.keys()].map((partition) => ({ topic: this.spec.topic, partition })));
    this.consumer = undefined;
  }
}
