// The worker's side of the control topic: it publishes its load about twice a second and reads the other
// workers' reports, which the scheduler's policies see as `peers` (e.g. laxity offloads toward a short queue).
// Unknown or malformed control messages are counted and logged, never fatal.
import type { Consumer, Logger, Producer, Transport } from '@dirigo/core';
import type { Clock } from '../clock.ts';
import type { Dispatcher } from '../scheduler/dispatcher.ts';
import type { PeerLoad } from '../scheduler/types.ts';
import { decodeControl, encodeControl } from './codec.ts';

export interface ControlChannelOptions {
  readonly transport: Transport;
  readonly producer: Producer;
  readonly topic: string;
  readonly workerId: string;
  readonly dispatcher: Dispatcher;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Report period in ms. */
  readonly intervalMs: number;
  /** The lease slots this worker owns, per app (published with its load). */
  readonly slots?: () => Record<string, number[]>;
}

export interface ControlStats {
  published: number;
  received: number;
  unknown: number;
}

export class ControlChannel {
  private readonly o: ControlChannelOptions;
  private readonly peerLoads = new Map<string, PeerLoad>();
  private readonly warned = new Set<string>();
  private consumer: Consumer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  readonly stats: ControlStats = { published: 0, received: 0, unknown: 0 };

  constructor(options: ControlChannelOptions) {
    this.o = options;
  }

  /** Other workers' latest reports (younger than 5 periods). */
  peers(): PeerLoad[] {
    return [...this.peerLoads.values()];
  }

  async start(): Promise<void> {
    const { transport, topic, workerId } = this.o;
    const admin = await transport.admin();
    await admin.createTopics([{ name: topic, partitions: 1, config: { 'retention.ms': '3600000' } }]);
    const consumer = transport.consumer({
      groupId: `${topic}.${workerId}`,
      clientId: `${workerId}.control`,
      autoOffsetReset: 'latest',
      isolation: 'read_uncommitted',
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe([topic]);
    await consumer.run({
      eachBatch: async (batch) => {
        for (const r of batch.records) this.receive(r.value);
      },
    });
    this.timer = setInterval(() => {
      if (this.publishing === undefined) {
        this.publishing = this.publish().finally(() => {
          this.publishing = undefined;
        });
      }
    }, this.o.intervalMs);
    this.timer.unref();
  }

  private receive(value: Buffer | null): void {
    const d = decodeControl(value);
    if (d.kind === 'unknown') {
      this.stats.unknown++;
      if (!this.warned.has(d.reason)) {
        this.warned.add(d.reason);
        this.o.logger.warn(
          { reason: d.reason, topic: this.o.topic },
          'ignoring a control message this worker does not understand',
        );
      }
      return;
    }
    this.stats.received++;
    const m = d.message;
    if (m.worker === this.o.workerId) return;
    this.peerLoads.set(m.worker, {
      id: m.worker,
      queued: m.queued,
      utilisation: m.utilisation,
      at: m.at,
      ...(m.slots === undefined ? {} : { slots: m.slots }),
    });
  }

  private async publish(): Promise<void> {
    const now = this.o.clock.now();
    const s = this.o.dispatcher.stats();
    try {
      await this.o.producer.send([
        {
          topic: this.o.topic,
          key: Buffer.from(this.o.workerId),
          value: encodeControl({
            v: 1,
            type: 'load',
            worker: this.o.workerId,
            at: now,
            queued: s.queued,
            inFlight: s.inFlight,
            utilisation: s.utilisation,
            ...this.slotsField(),
          }),
        },
      ]);
      this.stats.published++;
    } catch (e) {
      this.o.logger.warn({ err: e }, 'publishing the load report failed');
    }
    for (const [id, p] of this.peerLoads) if (now - p.at > 5 * this.o.intervalMs) this.peerLoads.delete(id);
    this.o.dispatcher.setPeers(this.peers());
  }

  private slotsField(): { slots?: Record<string, number[]> } {
    const slots = this.o.slots?.();
    return slots === undefined || Object.keys(slots).length === 0 ? {} : { slots };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.publishing;
    await this.consumer?.disconnect();
  }
}
