// A consumer group of the in-memory Kafka: committed offsets, members, generations and eager rebalancing
// (revoke everything from everyone, then assign), serialized so that only one rebalance runs at a time.
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type { TopicPartition } from '@dirigo/core';
import { type AssignmentStrategy, assign } from './assignors.ts';

/** What the group needs from a member (implemented by the memory consumer). */
export interface GroupMember {
  /** Join order; also the member's rank for the assignors. */
  readonly seq: number;
  subscription(): readonly string[];
  /** Stops delivery, waits for in-flight batches, calls onRevoked. Idempotent while running. */
  revoke(): Promise<void>;
  /** Installs the new assignment, calls onAssigned, resumes delivery. */
  assign(partitions: TopicPartition[], generation: number): Promise<void>;
  /** A committed offset changed (by anyone: consumer commit or transaction). */
  committed(topic: string, partition: number, offset: number): void;
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class Group {
  readonly id: string;
  generation = 0;
  private readonly offsets = new Map<string, number>();
  private readonly members = new Map<number, GroupMember>();
  private running: Promise<void> | null = null;
  private again = false;
  private readonly strategy: AssignmentStrategy;
  private readonly partitionsOf: (topic: string) => number | undefined;
  private readonly onError: (err: unknown) => void;

  constructor(
    id: string,
    strategy: AssignmentStrategy,
    partitionsOf: (topic: string) => number | undefined,
    onError: (err: unknown) => void,
  ) {
    this.id = id;
    this.strategy = strategy;
    this.partitionsOf = partitionsOf;
    this.onError = onError;
  }

  get size(): number {
    return this.members.size;
  }

  has(member: GroupMember): boolean {
    return this.members.get(member.seq) === member;
  }

  subscribesTo(topic: string): boolean {
    for (const m of this.members.values()) if (m.subscription().includes(topic)) return true;
    return false;
  }

  join(member: GroupMember): void {
    this.members.set(member.seq, member);
    this.requestRebalance();
  }

  leave(member: GroupMember): void {
    if (this.members.delete(member.seq)) this.requestRebalance();
  }

  committedOffset(topic: string, partition: number): number | undefined {
    return this.offsets.get(tpKey(topic, partition));
  }

  commit(topic: string, partition: number, offset: number): void {
    this.offsets.set(tpKey(topic, partition), offset);
    for (const m of this.members.values()) m.committed(topic, partition, offset);
  }

  /** Forgets the offsets of a deleted topic. */
  forgetTopic(topic: string): void {
    for (const key of [...this.offsets.keys()])
      if (key.startsWith(`${topic}\u0000`)) this.offsets.delete(key);
  }

  /** Schedules a rebalance (on a later macrotask, so that joins of the same tick share one). */
  requestRebalance(): void {
    this.again = true;
    if (this.running !== null) return;
    this.running = (async () => {
      await nextMacrotask();
      while (this.again) {
        this.again = false;
        try {
          await this.rebalanceOnce();
        } catch (err) {
          this.onError(err);
        }
      }
    })().finally(() => {
      this.running = null;
    });
  }

  /** Resolves when no rebalance is pending. */
  async settled(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private async rebalanceOnce(): Promise<void> {
    const generation = ++this.generation;
    await Promise.all([...this.members.values()].map((m) => m.revoke()));
    if (this.again) return; // membership changed while revoking: start over
    const members = [...this.members.values()];
    const assignment = assign(
      this.strategy,
      members.map((m) => ({ seq: m.seq, topics: m.subscription() })),
      this.partitionsOf,
    );
    await Promise.all(members.map((m) => m.assign(assignment.get(m.seq) ?? [], generation)));
  }
}
