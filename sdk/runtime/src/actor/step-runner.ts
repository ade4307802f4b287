// Runs the handlers for one step (the records of one fetched batch of one partition): decode, call the
// handler with a MessageContext, collect outputs into the step's buckets. Messages of one key run one at a time
// and in order; different keys overlap only when handlers are async, up to `maxConcurrentKeys`. A failing record
// follows the app's error policy: dead-letter (its writes and outputs are rolled back, the record goes to the
// DLQ topic) or stop (AppStoppedError).
import type { IncomingRecord } from '@dirigo/core';
import { AppStoppedError } from '../errors.ts';
import {
  H_APP,
  H_DEADLINE,
  H_ERROR,
  H_ERROR_CLASS,
  H_ERROR_STAGE,
  H_FUNCTION,
  H_INGEST,
  H_ORIGIN_OFFSET,
  H_ORIGIN_PARTITION,
  H_ORIGIN_TOPIC,
  headerNumber,
} from '../headers.ts';
import type { ScheduledMessage } from '../scheduler/types.ts';
import type { StateLayer } from '../state/state-layer.ts';
import type { Timers } from '../state/timers.ts';
import type { StepOutput } from '../task/step-output.ts';
import type { FunctionEnv } from './function-env.ts';
import { MessageContext, metaHeaders } from './message-context.ts';

const isThenable = (v: unknown): v is PromiseLike<void> =>
  v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';

export class StepRunner {
  private readonly env: FunctionEnv;
  private readonly state: StateLayer | undefined;
  private readonly timers: Timers | undefined;

  constructor(env: FunctionEnv, state: StateLayer | undefined, timers: Timers | undefined) {
    this.env = env;
    this.state = state;
    this.timers = timers;
  }

  /**
   * Runs every record; resolves when all handlers finished. Rejects only with AppStoppedError or a bug. With a
   * dispatcher, the records become messages of this partition's queue and the worker's scheduling policy
   * decides when each runs, interleaved with the queues of every other app on the worker.
   */
  run(records: readonly IncomingRecord[], out: StepOutput, queue: string): Promise<void> {
    const dispatcher = this.env.dispatcher;
    if (dispatcher === undefined) return this.runInOrder(records, out);
    const env = this.env;
    const app = env.app;
    const target = app.options.latencyTargetMs;
    const now = env.clock.now();
    const keys: string[] = new Array(records.length);
    const messages: ScheduledMessage[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const key = r.key === null ? '' : r.key.toString('utf8');
      keys[i] = key;
      const ingest = headerNumber(r.headers, H_INGEST) ?? r.timestamp;
      messages[i] = {
        app: app.name,
        fn: env.fn.name,
        key,
        queue,
        priority: app.options.priority,
        ingest,
        deadline: headerNumber(r.headers, H_DEADLINE) ?? ingest + target,
        enqueuedAt: now,
      };
    }
    return dispatcher.submit(
      messages,
      { run: (i) => this.execute(records[i]!, keys[i]!, out, messages[i]) },
      { maxConcurrentKeys: app.options.maxConcurrentKeys },
    );
  }

  private async runInOrder(records: readonly IncomingRecord[], out: StepOutput): Promise<void> {
    const max = this.env.app.options.maxConcurrentKeys;
    let tails: Map<string, Promise<void>> | undefined;
    let inflight: Set<Promise<void>> | undefined;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const key = record.key === null ? '' : record.key.toString('utf8');
      const tail = tails?.get(key);
      let p: void | Promise<void>;
      if (tail === undefined) {
        p = this.execute(record, key, out);
        if (p === undefined) continue;
      } else {
        p = tail.then(() => this.execute(record, key, out));
      }
      tails ??= new Map();
      inflight ??= new Set();
      const tracked: Promise<void> = p.finally(() => {
        inflight!.delete(tracked);
        if (tails!.get(key) === tracked) tails!.delete(key);
      });
      tracked.catch(() => {}); // observed by Promise.race/all below; never an unhandled rejection
      tails.set(key, tracked);
      inflight.add(tracked);
      while (inflight.size >= max) await Promise.race(inflight);
    }
    if (inflight !== undefined && inflight.size > 0) await Promise.all(inflight);
  }

  private execute(
    record: IncomingRecord,
    key: string,
    out: StepOutput,
    scheduled?: ScheduledMessage,
  ): void | Promise<void> {
    let message: unknown;
    try {
      if (record.value === null) throw new Error('record has no value (null); functions expect a message');
      message = this.env.fn.serde.deserialize(record.value);
    } catch (e) {
      return this.fail(record, e, 'decode', out);
    }
    const ctx = new MessageContext(this.env, this.state, this.timers, record, key, scheduled);
    let result: unknown;
    try {
      result = this.env.fn.definition.handler(ctx as never, message as never);
    } catch (e) {
      this.rollback(ctx);
      return this.fail(record, e, 'handler', out);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        () => this.finish(ctx, out),
        (e: unknown) => {
          this.rollback(ctx);
          this.fail(record, e, 'handler', out);
        },
      );
    }
    this.finish(ctx, out);
  }

  private finish(ctx: MessageContext, out: StepOutput): void {
    out.processed++;
    const o = ctx.outputs;
    if (o !== undefined) for (let i = 0; i < o.length; i++) out.outputs.push(o[i]!);
  }

  private rollback(ctx: MessageContext): void {
    if (ctx.undo !== undefined) this.state?.rollback(ctx.undo);
  }

  private fail(record: IncomingRecord, error: unknown, stage: 'decode' | 'handler', out: StepOutput): void {
    const err = error instanceof Error ? error : new Error(String(error));
    const where = `${record.topic}/${record.partition}@${record.offset}`;
    const app = this.env.app;
    if (app.options.onError === 'stop') {
      throw new AppStoppedError(
        app.name,
        `app '${app.name}' stopped (onError: 'stop'): function '${this.env.fn.name}' failed to ${stage === 'decode' ? 'decode' : 'handle'} record ${where}: ${err.message}. Fix the record or the handler, or set options.onError to 'dead-letter'`,
        { cause: err },
      );
    }
    out.deadLettered++;
    this.env.logger.warn(
      {
        err,
        stage,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        dlq: app.options.deadLetterTopic,
      },
      'record dead-lettered',
    );
    out.deadLetters.push({
      topic: app.options.deadLetterTopic,
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        ...metaHeaders(this.env, record),
        [H_ERROR]: Buffer.from(err.message.slice(0, 4000)),
        [H_ERROR_CLASS]: Buffer.from(err.name),
        [H_ERROR_STAGE]: Buffer.from(stage),
        [H_ORIGIN_TOPIC]: Buffer.from(record.topic),
        [H_ORIGIN_PARTITION]: Buffer.from(String(record.partition)),
        [H_ORIGIN_OFFSET]: Buffer.from(String(record.offset)),
        [H_APP]: Buffer.from(app.name),
        [H_FUNCTION]: Buffer.from(this.env.fn.name),
      },
    });
  }
}
