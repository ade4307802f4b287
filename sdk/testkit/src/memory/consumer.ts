// The in-memory group consumer. One delivery loop per consumer: it wakes on writes to its topics (never inside
// `send`: at least one macrotask later), hands out batches of up to `maxBatchRecords` records, round-robin over
// its assigned partitions, at most `concurrency` partitions at a time and one batch per partition at a time.
// A rejected batch is re-delivered from the partition's last committed or sought position after
// `retryBackoffMs`. Do not await `disconnect()` inside `eachBatch`: it waits for that very batch.
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  type Consumer,
  type ConsumerHandlers,
  type ConsumerOptions,
  type Isolation,
  PartitionsRevokedError,
  type TopicPartition,
  type TopicPartitionOffset,
  TransportError,
} from '@dirigo/core';
import type { Group, GroupMember } from './group.ts';
import type { MemoryKafka } from './kafka.ts';
import type { Fetched } from './partition-log.ts';

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  /** Next offset to fetch. */
  position: number;
  /** Last committed or sought position: where a failed batch restarts. */
  anchor: number;
  /** Bumped by seeks and failures, so a finishing batch does not overwrite the new position. */
  version: number;
  backoffUntil: number;
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const byTopicPartition = (a: TopicPartition, b: TopicPartition): number =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;

export class MemoryConsumer implements Consumer, GroupMember {
  readonly seq: number;
  private readonly kafka: MemoryKafka;
  private readonly options: ConsumerOptions;
  private readonly group: Group;
  private readonly isolation: Isolation;
  private readonly concurrency: number;
  private readonly topics: string[] = [];
  private handlers: ConsumerHandlers | null = null;
  private connected = false;
  private stopped = false;
  private states = new Map<string, PartitionState>();
  private order: PartitionState[] = [];
  private cursor = 0;
  /** No deliveries while rebalancing (from revocation until onAssigned returned). */
  private suspended = true;
  private readonly inFlight = new Map<string, Promise<void>>();
  private revoking: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private readonly pausedTopics = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  private readonly pendingSeeks = new Map<string, number>();
  private readonly unwatch: (() => void)[] = [];
  private loopDone: Promise<void> = Promise.resolve();
  private woken = false;
  private waiter: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly unregister: () => void;

  constructor(kafka: MemoryKafka, options: ConsumerOptions) {
    this.kafka = kafka;
    this.options = options;
    this.seq = kafka.nextMemberSeq();
    this.group = kafka.group(options.groupId);
    this.isolation = options.isolation ?? 'read_committed';
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.unregister = kafka.register(this);
  }

  async connect(): Promise<void> {
    this.kafka.ensureOpen();
    this.connected = true;
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    this.kafka.ensureOpen();
    for (const t of topics) this.kafka.topic(t);
    const added = topics.filter((t) => !this.topics.includes(t));
    this.topics.push(...added);
    if (this.handlers !== null && added.length > 0) {
      this.watch(added);
      this.group.requestRebalance();
    }
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    this.ensureConnected();
    if (this.stopped) throw new TransportError('the consumer is disconnected');
    if (this.handlers !== null) throw new TransportError('the consumer is already running');
    this.handlers = handlers;
    this.watch(this.topics);
    this.group.join(this);
    this.loopDone = this.loop();
  }

  async commitOffsets(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.ensureConnected();
    for (const o of offsets) this.kafka.topic(o.topic);
    if (this.handlers !== null) {
      const lost = offsets.filter((o) => !this.states.has(tpKey(o.topic, o.partition)));
      if (lost.length > 0) {
        const names = lost.map((o) => `${o.topic}[${o.partition}]`).join(', ');
        throw new PartitionsRevokedError(`commit rejected: ${names} not assigned to this member`);
      }
    } else if (this.group.size > 0) {
      throw new PartitionsRevokedError(`commit rejected: not a member of group '${this.options.groupId}'`);
    }
    this.kafka.commitOffsets(this.options.groupId, offsets);
  }

  pause(topics: readonly { topic: string; partitions?: readonly number[] }[]): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) this.pausedTopics.add(topic);
      else for (const p of partitions) this.pausedPartitions.add(tpKey(topic, p));
    }
  }

  resume(topics: readonly { topic: string; partitions?: readonly number[] }[]): void {
    for (const { topic, partitions } of topics) {
      if (partitions === undefined) {
        this.pausedTopics.delete(topic);
        for (const k of [...this.pausedPartitions])
          if (k.startsWith(`${topic}\u0000`)) this.pausedPartitions.delete(k);
        continue;
      }
      if (this.pausedTopics.delete(topic)) {
        // Narrow a topic-wide pause to the partitions not resumed.
        const n = this.kafka.hasTopic(topic) ? this.kafka.topic(topic).logs.length : 0;
        for (let p = 0; p < n; p++) this.pausedPartitions.add(tpKey(topic, p));
      }
      for (const p of partitions) this.pausedPartitions.delete(tpKey(topic, p));
    }
    this.wake();
  }

  seek(position: TopicPartitionOffset): void {
    const key = tpKey(position.topic, position.partition);
    const st = this.states.get(key);
    if (st === undefined) {
      this.pendingSeeks.set(key, position.offset); // applied when the partition gets assigned
      return;
    }
    st.position = position.offset;
    st.anchor = position.offset;
    st.version++;
    st.backoffUntil = 0;
    this.wake();
  }

  assignment(): readonly TopicPartition[] {
    return this.order.map((st) => ({ topic: st.topic, partition: st.partition }));
  }

  async disconnect(): Promise<void> {
    this.closing ??= (async () => {
      this.stopped = true;
      if (this.handlers !== null) {
        await this.revoke();
        this.group.leave(this);
      }
      for (const stop of this.unwatch) stop();
      if (this.timer !== null) clearTimeout(this.timer);
      this.wake();
      await this.loopDone;
      this.connected = false;
      this.unregister();
    })();
    await this.closing;
  }

  /** @internal GroupMember */
  subscription(): readonly string[] {
    return this.topics;
  }

  /** @internal GroupMember: stop delivering, let in-flight batches finish, then onRevoked. */
  revoke(): Promise<void> {
    this.revoking ??= (async () => {
      this.suspended = true;
      await Promise.all(this.inFlight.values());
      const revoked = this.assignment();
      if (revoked.length > 0) await this.callback('onRevoked', () => this.handlers?.onRevoked?.(revoked));
      this.states = new Map();
      this.order = [];
    })().finally(() => {
      this.revoking = null;
    });
    return this.revoking;
  }

  /** @internal GroupMember: positions from pending seeks, else committed offsets, else `autoOffsetReset`. */
  async assign(partitions: TopicPartition[]): Promise<void> {
    if (this.stopped) return;
    const sorted = [...partitions].sort(byTopicPartition);
    this.states = new Map();
    for (const { topic, partition } of sorted) {
      const key = tpKey(topic, partition);
      const position =
        this.pendingSeeks.get(key) ??
        this.group.committedOffset(topic, partition) ??
        this.reset(topic, partition);
      if (position === undefined) continue; // topic deleted meanwhile
      this.pendingSeeks.delete(key);
      this.states.set(key, {
        topic,
        partition,
        key,
        position,
        anchor: position,
        version: 0,
        backoffUntil: 0,
      });
    }
    this.order = [...this.states.values()];
    this.cursor = 0;
    await this.callback('onAssigned', () => this.handlers?.onAssigned?.(sorted));
    if (!this.stopped && this.revoking === null) {
      this.suspended = false;
      this.wake();
    }
  }

  /** @internal GroupMember */
  committed(topic: string, partition: number, offset: number): void {
    const st = this.states.get(tpKey(topic, partition));
    if (st !== undefined) st.anchor = offset;
  }

  private reset(topic: string, partition: number): number | undefined {
    if (!this.kafka.hasTopic(topic)) return undefined;
    const log = this.kafka.log(topic, partition);
    if ((this.options.autoOffsetReset ?? 'earliest') === 'earliest') return log.low;
    return this.isolation === 'read_committed' ? log.lastStable() : log.high;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep();
      await nextMacrotask();
      this.dispatch();
    }
  }

  /** Starts batches for partitions that have data, round-robin from the cursor, up to `concurrency`. */
  private dispatch(): void {
    if (this.suspended || this.stopped || this.handlers === null) return;
    const n = this.order.length;
    const start = this.cursor;
    const now = Date.now();
    let wakeAt = Infinity;
    for (let k = 0; k < n && this.inFlight.size < this.concurrency; k++) {
      const idx = (start + k) % n;
      const st = this.order[idx]!;
      if (this.inFlight.has(st.key) || this.isPaused(st)) continue;
      if (st.backoffUntil > now) {
        wakeAt = Math.min(wakeAt, st.backoffUntil);
        continue;
      }
      let fetched: Fetched;
      let high: number;
      try {
        const log = this.kafka.log(st.topic, st.partition);
        const maxBytes = this.options.maxBytesPerPartition ?? 1024 * 1024;
        fetched = log.fetch(st.position, this.isolation, this.kafka.maxBatchRecords, maxBytes);
        high = log.high;
      } catch {
        continue; // topic deleted: the rebalance that follows drops the partition
      }
      if (fetched.records.length === 0) {
        st.position = fetched.next; // skipped transaction markers or aborted records
        continue;
      }
      this.cursor = (idx + 1) % n;
      this.deliver(st, fetched, high);
    }
    if (wakeAt < Infinity) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake();
      }, wakeAt - now);
      this.timer.unref();
    }
  }

  private deliver(st: PartitionState, fetched: Fetched, highWatermark: number): void {
    const version = st.version;
    const batch = { topic: st.topic, partition: st.partition, records: fetched.records, highWatermark };
    const done = (async () => {
      try {
        await this.handlers!.eachBatch(batch);
        if (st.version === version) st.position = fetched.next;
      } catch (err) {
        this.kafka.logger.warn(
          { err, topic: st.topic, partition: st.partition, groupId: this.options.groupId },
          'memory kafka: eachBatch rejected; re-delivering from the last committed or sought position',
        );
        st.position = st.anchor;
        st.version++;
        st.backoffUntil = Date.now() + this.kafka.retryBackoffMs;
      } finally {
        this.inFlight.delete(st.key);
        this.wake();
      }
    })();
    this.inFlight.set(st.key, done);
  }

  private isPaused(st: PartitionState): boolean {
    return this.pausedTopics.has(st.topic) || this.pausedPartitions.has(st.key);
  }

  private watch(topics: readonly string[]): void {
    for (const t of topics) this.unwatch.push(this.kafka.watch(t, () => this.wake()));
  }

  private wake(): void {
    this.woken = true;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  private async sleep(): Promise<void> {
    if (!this.woken) await new Promise<void>((resolve) => (this.waiter = resolve));
    this.woken = false;
  }

  private async callback(name: string, fn: () => Promise<void> | void | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.kafka.logger.error({ err, groupId: this.options.groupId }, `memory kafka: ${name} failed`);
    }
  }

  private ensureConnected(): void {
    this.kafka.ensureOpen();
    if (!this.connected) throw new TransportError('the consumer is not connected');
  }
}
