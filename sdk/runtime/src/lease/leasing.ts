// A worker's part in leasing: the lease slots it owns (as a member of each leasing app's lessee group, the
// consumer group over the app's lease topic), the choice of a lessee for its own hot keys (SlotDirectory: a
// slot of another worker, by that worker's reported load), the lease topics to create, and its counters.
import type { ResolvedApp, TopicSpec } from '@dirigo/core';
import type { LeasingDeps } from '../actor/function-body.ts';
import type { FunctionEnv } from '../actor/function-env.ts';
import type { ModeObserver } from '../metrics/function-metrics.ts';
import { twoChoices } from '../scheduler/policies/shared.ts';
import type { PeerLoad } from '../scheduler/types.ts';
import { GroupMember, type GroupMemberOptions } from '../task/group-member.ts';
import type { InputTaskDeps } from '../task/input-task.ts';
import { type LeaseCounters, newLeaseCounters, type SlotDirectory } from './lease-metrics.ts';
import type { LeaseFaults } from './lessor.ts';
import { LeaseSlotBody, type SlotFaults } from './slot-body.ts';
import { PURGED_TOPIC_CONFIG } from '../topic-retention.ts';

/**
 * Faults a test can inject into leasing and watermarks (never set them in production): `watermarkMax` takes a
 * partition's highest input watermark instead of its lowest.
 */
export type LeasingFaults = LeaseFaults & SlotFaults & { readonly watermarkMax?: boolean };

export class WorkerLeasing implements SlotDirectory {
  readonly counters: LeaseCounters = newLeaseCounters();
  private readonly workerId: string;
  private readonly faults: LeasingFaults | undefined;
  private readonly members = new Map<string, GroupMember>();
  private readonly slotCounts = new Map<string, number>();
  private peers: () => readonly PeerLoad[] = () => [];
  private rr = 0;
  private readonly modes: ((app: string, fn: string) => ModeObserver) | undefined;

  /** `modes` gives the observer of each leasable function's actor modes (metrics). */
  constructor(workerId: string, faults?: LeasingFaults, modes?: (app: string, fn: string) => ModeObserver) {
    this.workerId = workerId;
    this.faults = faults;
    this.modes = modes;
  }

  /** What lessors of this worker use. */
  get deps(): LeasingDeps {
    return {
      directory: this,
      counters: this.counters,
      ...(this.faults === undefined ? {} : { faults: this.faults }),
      ...(this.modes === undefined ? {} : { modes: this.modes }),
    };
  }

  /** Where the load reports of other workers come from. */
  setPeers(peers: () => readonly PeerLoad[]): void {
    this.peers = peers;
  }

  /** The lease topic and its changelog of an app with leasable functions. */
  topics(app: ResolvedApp, replicationFactor: number | undefined): TopicSpec[] {
    const lease = app.lease;
    if (lease === undefined) return [];
    const rf = replicationFactor === undefined ? {} : { replicationFactor };
    return [
      { name: lease.topic, partitions: lease.slots, config: PURGED_TOPIC_CONFIG, ...rf },
      { name: lease.changelogTopic, partitions: lease.slots, compacted: true, ...rf },
    ];
  }

  /**
   * The member of `app`'s lessee group (undefined without leasable functions): each assigned lease slot is an
   * input task around a LeaseSlotBody. `envs` are the lessor-side envs of the app's functions.
   */
  member(
    app: ResolvedApp,
    envs: readonly FunctionEnv[],
    deps: Omit<InputTaskDeps, 'consumer'>,
    options: GroupMemberOptions,
  ): GroupMember | undefined {
    const lease = app.lease;
    if (lease === undefined) return undefined;
    const leasable = new Map(envs.filter((e) => e.fn.leasable).map((e) => [e.fn.name, e]));
    const member = new GroupMember(
      {
        app: app.name,
        name: '__lease',
        group: lease.group,
        topic: lease.topic,
        exactlyOnce: true,
        purge: true,
        body: (slot) =>
          new LeaseSlotBody({
            app,
            slot,
            envs: leasable,
            counters: this.counters,
            logger: deps.logger.child({ slot }),
            ...(this.faults === undefined ? {} : { faults: this.faults }),
          }),
      },
      deps,
      options,
    );
    this.members.set(app.name, member);
    this.slotCounts.set(app.name, lease.slots);
    return member;
  }

  /** The app is stopping: its slots are no longer this worker's. */
  forget(app: string): void {
    this.members.delete(app);
  }

  /** The lease slots this worker owns now, per app (published in its load reports). */
  ownSlots(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [app, m] of this.members) out[app] = m.partitions().sort((a, b) => a - b);
    return out;
  }

  ownedBy(app: string, to: string, slots: readonly number[]): number | undefined {
    if (to === '' || to === this.workerId) return undefined;
    const peers = this.peers();
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      if (p.id !== to) continue;
      const own = p.slots?.[app];
      return own === undefined ? undefined : slots.find((s) => own.includes(s));
    }
    return undefined;
  }

  pick(app: string, to: string, taken: readonly number[]): number | undefined {
    const slots = this.slotCounts.get(app);
    if (slots === undefined) return undefined;
    const mine = new Set(this.members.get(app)?.partitions() ?? []);
    const reports = this.peers().filter((p) => p.id !== this.workerId && (p.slots?.[app]?.length ?? 0) > 0);
    if (reports.length > 0) {
      // A lessee on a worker that serves this lease already adds nothing: skip those workers.
      const serving = new Set(
        reports.filter((p) => p.slots![app]!.some((s) => taken.includes(s))).map((p) => p.id),
      );
      const free = (p: PeerLoad) => p.slots![app]!.find((s) => !taken.includes(s) && !mine.has(s));
      const candidates = reports.filter((p) => !serving.has(p.id) && free(p) !== undefined);
      if (candidates.length === 0) return undefined;
      const named = to === '' ? undefined : candidates.find((p) => p.id === to);
      if (named !== undefined) return free(named);
      // Power of two choices: the less loaded of two candidates.
      const [i, j] = twoChoices(candidates.length, this.rr++);
      const a = candidates[i]!;
      const b = candidates[j]!;
      return free(a.queued <= b.queued ? a : b);
    }
    // No load reports (a single process, or reports disabled): any slot this worker does not own, for the
    // first lessee only (without reports a second one may well be on the same worker).
    if (taken.length > 0) return undefined;
    const free: number[] = [];
    for (let s = 0; s < slots; s++) if (!mine.has(s)) free.push(s);
    return free.length === 0 ? undefined : free[this.rr++ % free.length];
  }
}
