// The body of a function's input task (the lessor of every actor of its partition): each step runs the user's
// handlers on the step's records through the StepRunner; for a leasable function, a Lessor routes the
// messages of leased keys (forwards, barriers, partial replies). A router (a re-keying ingress) is the same body
// over a synthetic function without state.
import { actorId, type IncomingRecord, type RecordHeaders } from '@dirigo/core';
import { SpanStatusCode } from '@opentelemetry/api';
import type { LeaseCounters, SlotDirectory } from '../lease/lease-metrics.ts';
import { LESSOR_STATES } from '../lease/lease-table.ts';
import { type LeaseFaults, type LeaseView, Lessor } from '../lease/lessor.ts';
import type { ModeObserver } from '../metrics/function-metrics.ts';
import { H_FIRED } from '../protocol/headers.ts';
import { internalMap, StateCatalog } from '../state/catalog.ts';
import { storeKey } from '../state/cell-key.ts';
import type { TimerEntry, Timers } from '../state/timers.ts';
import type { BodyState, TaskBody, TaskContext } from '../task/input-task.ts';
import type { StepOutput } from '../task/step-output.ts';
import { sourceId, timeTopology } from '../time/topology.ts';
import { WatermarkTracker } from '../time/watermarks.ts';
import { startStepSpan } from '../trace/tracing.ts';
import type { FunctionEnv } from './function-env.ts';
import { timerHeaders } from './message-context.ts';
import { needsPrepare, prepareStep } from './serde-hooks.ts';
import { StepRunner } from './step-runner.ts';

/** Estimated cost of forwarding one message at a lessor (building the record; its produce is batched), ms. */
const FORWARD_COST_MS = 0.02;
/** Fewest records in a step of a leasable function. */
const MIN_STEP_RECORDS = 32;

/** What a leasable function's lessor needs from the worker. */
export interface LeasingDeps {
  readonly directory: SlotDirectory;
  readonly counters: LeaseCounters;
  readonly faults?: LeaseFaults & { readonly watermarkMax?: boolean };
  /** The observer of a leasable function's actor modes (metrics). */
  readonly modes?: (app: string, fn: string) => ModeObserver;
}

/** Internal map of a partition's watermark marks (apps using event time). */
const WATERMARKS = '__watermarks';

export class FunctionBody implements TaskBody {
  readonly kind: string;
  readonly state: BodyState | undefined;
  private readonly env: FunctionEnv;
  private readonly leasing: LeasingDeps | undefined;
  private readonly faults: LeasingDeps['faults'];
  private runner: StepRunner | undefined;
  private lessor: Lessor | undefined;
  /** Share of the leased keys' messages recent steps forwarded (EWMA, see stepCut); 1 until measured. */
  private forwardShare = 1;
  /** Messages of leased keys in the last cut, not yet measured against its step's forwards. */
  private leasedInCut = 0;
  private tracker: WatermarkTracker | undefined;
  private timers: Timers | undefined;
  private partition = -1;
  private queue = '';
  private readonly firedHeaders = (t: TimerEntry): RecordHeaders => this.timerHeaders(t);
  /** The function's serdes fetch things before decoding (schema registry): each step waits for them first. */
  private readonly prepares: boolean;

  constructor(env: FunctionEnv, leasing?: LeasingDeps) {
    this.env = env;
    this.prepares = needsPrepare(env.fn.serde, env.fn.keySerde);
    this.leasing = env.fn.leasable ? leasing : undefined;
    this.faults = leasing?.faults;
    this.kind = env.hasChangelog ? 'function' : 'router';
    this.state = env.hasChangelog
      ? {
          catalog: new StateCatalog([
            {
              app: env.app.name,
              fn: env.fn.name,
              states: [
                ...env.fn.states,
                ...(env.fn.leasable ? LESSOR_STATES : []),
                ...(env.app.options.eventTime === undefined ? [] : [internalMap(WATERMARKS)]),
              ],
            },
          ]),
          changelogTopic: env.fn.changelogTopic,
          space: { app: env.app.name, fn: env.fn.name, slot: null },
        }
      : undefined;
  }

  attach(task: TaskContext): void {
    this.runner = new StepRunner(this.env, task.state, task.timers);
    this.timers = task.timers;
    this.partition = task.partition;
    this.queue = `${this.env.fn.group}/${task.partition}`;
    const eventTime = this.env.app.options.eventTime;
    if (eventTime !== undefined) {
      const env = this.env;
      const topology = timeTopology(env.app, env.partitions);
      this.tracker = new WatermarkTracker(
        {
          app: env.app.name,
          self: sourceId(env.fn.name, task.partition),
          sources: env.hasChangelog ? topology.sourcesOf(env.fn.name) : [],
          external: env.fn.external,
          options: eventTime,
          targets: topology.targetsOf(env.fn.name),
          ...(task.state === undefined
            ? {}
            : { store: { layer: task.state, ck: storeKey(env.cellPrefix, WATERMARKS, '') } }),
          ...(this.faults?.watermarkMax === true ? { faultMax: true } : {}),
        },
        env.clock.now(),
      );
      this.runner.tracker = this.tracker;
    }
    if (this.leasing !== undefined && task.state !== undefined) {
      this.lessor = new Lessor({
        env: this.env,
        layer: task.state,
        partition: task.partition,
        runner: this.runner,
        directory: this.leasing.directory,
        counters: this.leasing.counters,
        logger: this.env.logger.child({ partition: task.partition }),
        ...(this.leasing.faults === undefined ? {} : { faults: this.leasing.faults }),
        ...(this.leasing.modes === undefined
          ? {}
          : { modes: this.leasing.modes(this.env.app.name, this.env.fn.name) }),
      });
      this.runner.lessor = this.lessor;
    }
  }

  run(records: readonly IncomingRecord[], out: StepOutput, backlog = 0): Promise<void> {
    this.runner!.backlog = backlog;
    if (this.prepares) {
      const ready = prepareStep(records, this.env.fn.serde, this.env.fn.keySerde);
      if (ready !== undefined) return ready.then(() => this.runTraced(records, out));
    }
    return this.runTraced(records, out);
  }

  /** Runs the step, in a step span when tracing is on. */
  private runTraced(records: readonly IncomingRecord[], out: StepOutput): Promise<void> {
    const runner = this.runner!;
    const tracer = this.env.tracing?.tracer();
    runner.tracer = tracer;
    if (tracer === undefined) return runner.run(records, out, this.queue);
    const env = this.env;
    const where = { app: env.app.name, fn: env.fn.name, group: env.fn.group, worker: env.workerId };
    const span = startStepSpan(tracer, where, env.fn.topic, this.partition, records);
    runner.stepSpan = span;
    return runner.run(records, out, this.queue).then(
      () => {
        span.setAttributes({ 'dirigo.processed': out.processed, 'dirigo.dead_lettered': out.deadLettered });
        span.end();
      },
      (e: unknown) => {
        span.recordException(e instanceof Error ? e : new Error(String(e)));
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        throw e;
      },
    );
  }

  wantsStep(now: number): boolean {
    return (this.lessor?.wantsStep(now) ?? false) || (this.tracker?.wantsStep(now) ?? false);
  }

  maintain(now: number, out: StepOutput): void {
    if (this.leasedInCut > 0) {
      // The share of the leased keys' messages this step forwarded, for the next cuts (EWMA).
      const share = Math.min(1, out.forwarded / this.leasedInCut);
      this.forwardShare += (share - this.forwardShare) * 0.3;
      this.leasedInCut = 0;
    }
    this.lessor?.maintain(now, out);
    const tracker = this.tracker;
    if (tracker === undefined) return;
    tracker.stepEnded(now);
    // The due timers fire here, before the watermark is sent on (the task's own fire, right after, finds none
    // left), so that the self-timers among them hold the watermark sent in this very step (see timerHeaders).
    this.timers?.fire(now, tracker.watermark(now), out.timers, this.firedHeaders);
    tracker.broadcast(now, out.control);
  }

  /**
   * A leasable function's step holds at most `leasing.stepBudgetMs` of estimated local work: its forwards leave
   * with its commit, so a long step would delay the first lessee. But never less work than a commit takes (so
   * commits cost at most half the time when they are slow) and never fewer than 32 records. A message of a key
   * leased now costs what forwarding it costs, plus the handler's cost times the share of such messages the
   * policy kept here in recent steps (it may run some locally): at a busy lessor most of a step is forwards, and
   * counting them as local work cut its steps so small that its commits became the bottleneck.
   */
  stepCut(records: readonly IncomingRecord[], from: number, commitMs: number): number | undefined {
    const dispatcher = this.env.dispatcher;
    const lessor = this.lessor;
    if (lessor === undefined || dispatcher === undefined) return undefined;
    const cost = Math.max(dispatcher.costEstimate(this.env.app.name, this.env.fn.name), 0.001);
    const budget = Math.max(this.env.app.options.leasing.stepBudgetMs, commitMs);
    const leasedCost = FORWARD_COST_MS + cost * (1 - this.forwardShare);
    const anyLeased = !lessor.unleased;
    let work = 0;
    let leased = 0;
    let i = from;
    for (; i < records.length; i++) {
      if (work >= budget && i - from >= MIN_STEP_RECORDS) break;
      if (anyLeased && lessor.isLeased(actorId(records[i]!.key))) {
        work += leasedCost;
        leased++;
      } else work += cost;
    }
    this.leasedInCut = leased;
    return i - from;
  }

  watermark(now: number): number {
    return this.tracker?.watermark(now) ?? Number.NEGATIVE_INFINITY;
  }

  /** The leases this partition's lessor holds. */
  leases(): LeaseView[] {
    return this.lessor?.leases() ?? [];
  }

  /**
   * Metadata headers of the record a fired timer sends; called once per timer, in the step that fires it. An
   * event-time timer fired to this very partition is also marked (H_FIRED) and holds the watermark this
   * partition sends on below its due time until the record has run here (WatermarkTracker.hold): what it sends
   * is stamped with that time, and must not come after a watermark that passed it.
   */
  timerHeaders(t: TimerEntry): RecordHeaders {
    const h = timerHeaders(this.env, t);
    const tracker = this.tracker;
    if (
      tracker !== undefined &&
      t.event === true &&
      t.partition === this.partition &&
      t.topic === this.env.fn.topic
    ) {
      tracker.hold(t.due);
      h[H_FIRED] = Buffer.from(String(t.due));
    }
    return h;
  }
}
