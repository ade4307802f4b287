// Internal: calls a SchedulingPolicy's hooks for the dispatcher so that a misbehaving policy cannot break the
// worker: exceptions and invalid answers are caught, counted, logged at most once per hook per minute, and
// replaced by the FIFO / default decision.
import type { Logger } from '@dirigo/core';
import type { Clock } from '../clock.ts';
import type { SchedulerMetrics } from './metrics.ts';
import { pickOldest } from './policies/shared.ts';
import type {
  ArrivalDecision,
  QueueView,
  ScheduledMessage,
  SchedulingPolicy,
  SendDecision,
  SendTarget,
  WorkerView,
} from './types.ts';

type Hook = 'init' | 'onArrival' | 'pickNext' | 'onSend' | 'onComplete' | 'onTick' | 'close';

const LOG_EVERY_MS = 60_000;

/** Guarded hook calls of one policy. */
export class PolicyGuard {
  readonly policy: SchedulingPolicy;
  /** Hook failures (exceptions and invalid answers). */
  errors = 0;
  private readonly logger: Logger;
  private readonly metrics: SchedulerMetrics;
  private readonly clock: Clock;
  private readonly logged = new Map<Hook, { at: number; suppressed: number }>();
  private readonly info = { costMs: 0, latencyMs: 0, queueingMs: 0, metDeadline: false };

  constructor(policy: SchedulingPolicy, logger: Logger, metrics: SchedulerMetrics, clock: Clock) {
    this.policy = policy;
    this.logger = logger;
    this.metrics = metrics;
    this.clock = clock;
  }

  get hasArrival(): boolean {
    return this.policy.onArrival !== undefined;
  }

  /** Counts a failure; logs it unless this hook was logged less than a minute ago (then counts it as suppressed). */
  failed(hook: Hook, err: unknown): void {
    this.errors++;
    this.metrics.policyError(this.policy.name, hook);
    const now = this.clock.now();
    const last = this.logged.get(hook);
    if (last !== undefined && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    this.logger.warn(
      { err, policy: this.policy.name, hook, suppressed: last?.suppressed ?? 0 },
      'scheduling policy hook failed; using the FIFO decision instead',
    );
    this.logged.set(hook, { at: now, suppressed: 0 });
  }

  init(view: WorkerView): void {
    if (this.policy.init === undefined) return;
    try {
      this.policy.init(view);
    } catch (e) {
      this.failed('init', e);
    }
  }

  /** The arrival decision; 'admit' when the hook is missing, throws or answers something invalid. */
  arrival(msg: ScheduledMessage, view: WorkerView): ArrivalDecision {
    let d: ArrivalDecision;
    try {
      d = this.policy.onArrival!(msg, view);
    } catch (e) {
      this.failed('onArrival', e);
      return 'admit';
    }
    if (d === 'admit' || d === 'defer' || d === 'deprioritise') return d;
    if (typeof d === 'object' && d !== null && typeof d.forward === 'string') return d;
    this.failed('onArrival', new Error(`invalid arrival decision: ${String(d)}`));
    return 'admit';
  }

  /**
   * The queue to run next: the policy's answer when `valid` accepts it, else the oldest eligible head (the
   * dispatcher is work-conserving). An answer of undefined while heads exist is not counted as a failure.
   */
  pick(view: WorkerView, valid: (q: unknown) => boolean): QueueView | undefined {
    let q: unknown;
    try {
      q = this.policy.pickNext(view);
    } catch (e) {
      this.failed('pickNext', e);
      return pickOldest(view);
    }
    if (valid(q)) return q as QueueView;
    const fallback = pickOldest(view);
    if (q !== undefined && fallback !== undefined) {
      this.failed('pickNext', new Error('pickNext answered a queue without an eligible head'));
    }
    return fallback;
  }

  send(msg: ScheduledMessage, target: SendTarget, view: WorkerView): SendDecision {
    if (this.policy.onSend === undefined) return 'pass';
    try {
      return this.policy.onSend(msg, target, view) === 'hold' ? 'hold' : 'pass';
    } catch (e) {
      this.failed('onSend', e);
      return 'pass';
    }
  }

  complete(
    msg: ScheduledMessage,
    costMs: number,
    latencyMs: number,
    queueingMs: number,
    metDeadline: boolean,
    view: WorkerView,
  ): void {
    if (this.policy.onComplete === undefined) return;
    const info = this.info;
    info.costMs = costMs;
    info.latencyMs = latencyMs;
    info.queueingMs = queueingMs;
    info.metDeadline = metDeadline;
    try {
      this.policy.onComplete(msg, info, view);
    } catch (e) {
      this.failed('onComplete', e);
    }
  }

  tick(view: WorkerView): void {
    if (this.policy.onTick === undefined) return;
    try {
      this.policy.onTick(view);
    } catch (e) {
      this.failed('onTick', e);
    }
  }

  close(): void {
    if (this.policy.close === undefined) return;
    try {
      this.policy.close();
    } catch (e) {
      this.failed('close', e);
    }
  }
}
