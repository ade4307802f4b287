// The worker's side of the control topic: it publishes its load every report period (100 ms by default) and reads
// the other workers' reports, which the scheduler's policies see as `peers` (e.g. laxity offloads toward a short queue)
// and leasing reads for the lease slots each worker owns.
//
// The control topic is untrusted input: anyone who can write to it can send anything. So:
// - a report expires 5 report periods (at least 1 s) after it was RECEIVED (the `at` it carries is the writer's
//   claim; a report from the future never outlives its period either, and peers see `at` no later than its receipt);
// - the peer table holds at most `maxPeers` (1024) workers, so a flood of made-up worker ids costs a bounded
//   amount of memory; beyond the bound the least recently heard worker that has sent a single report is evicted
//   (a flood of one-off ids only displaces its own kind), and only when every peer has reported more than once,
//   the least recently heard of all;
// - a report for worker W counts only when the record's key is W, and, while W's last accepted report is
//   fresh, only when it carries the same `incarnation` (a random nonce each worker draws at start and sends
//   with every report; absent in reports of older workers, which then count as incarnation ''). A restarted W
//   is heard once its previous incarnation's reports have expired (5 periods, at least 1 s).
// Unknown, malformed and rejected messages are counted (`stats.unknown`) and logged once per reason, never
// fatal.
//
// Reports also carry the exactly-once protocol of each exactly-once app the worker runs. A peer that runs one of
// this worker's apps under the other protocol is logged (warning, once per peer and app) and counted
// (`stats.mixedExactlyOnce`), so that a mix left behind by accident is seen: a mix is fenced in both directions (a
// v2 owner registers the v1 transactional id of each partition it opens, `TransactionUnit.fenceV1`; a v1 owner
// reads positions stable), unless v2 workers run with `exactlyOnceFenceV1: false`. This stops accidents (two processes with one worker id, a stale process, a producer writing the wrong
// topic) and blind forgery; it is not authentication: a writer who can also read the topic can copy a
// worker's key and incarnation. Restrict who may write the control topic with Kafka ACLs.
import { randomBytes } from 'node:crypto';
import type { Consumer, IncomingRecord, Logger, Producer, Transport } from '@dirigo/core';
import type { Clock } from '../clock.ts';
import type { Dispatcher } from '../scheduler/dispatcher.ts';
import type { PeerLoad } from '../scheduler/types.ts';
import { decodeControl, encodeControl, type LoadReport } from './codec.ts';

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
  /** The exactly-once protocol of each exactly-once app this worker runs (published with its load, and checked). */
  readonly exactlyOnce?: Readonly<Record<string, 'v1' | 'v2'>>;
  /** Most peers kept (the least recently heard one is evicted first). Default 1024. */
  readonly maxPeers?: number;
  /** This worker's incarnation nonce. Default: 16 random hex digits, drawn once per channel. */
  readonly incarnation?: string;
}

export interface ControlStats {
  published: number;
  /** Load reports accepted. */
  received: number;
  /** Messages skipped: not understood, malformed, or load reports rejected (wrong key, other incarnation). */
  unknown: number;
  /** Peers seen running an app of this worker under the other exactly-once protocol (distinct peer and app). */
  mixedExactlyOnce: number;
}

/** Reports expire this many periods after their receipt... */
const EXPIRY_PERIODS = 5;
/** ...and never sooner than this (ms): a peer busy for half a second (a long step, a GC) is still a peer. */
const MIN_EXPIRY_MS = 1_000;
/** Distinct skip reasons logged; beyond that, skips are only counted. */
const MAX_WARNED = 64;
/** The longest incarnation accepted. */
const MAX_INCARNATION = 64;

interface Peer {
  readonly load: PeerLoad;
  readonly incarnation: string;
  /** Receipt time, ms (the channel's clock). */
  readonly receivedAt: number;
  /** Reports accepted from this incarnation. */
  readonly reports: number;
}

export class ControlChannel {
  private readonly o: ControlChannelOptions;
  /** Peers by worker id, least recently heard first (re-inserted on every accepted report). */
  private readonly peerLoads = new Map<string, Peer>();
  private readonly warned = new Set<string>();
  private readonly maxPeers: number;
  private readonly ttlMs: number;
  /** This worker's incarnation nonce, sent with every report. */
  readonly incarnation: string;
  private consumer: Consumer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  readonly stats: ControlStats = { published: 0, received: 0, unknown: 0, mixedExactlyOnce: 0 };
  /** Peer and app pairs already reported as running the other exactly-once protocol (bounded). */
  private readonly mixed = new Set<string>();
  /** The reports' `exactlyOnce` field (the apps are fixed for the channel's life): made once. */
  private readonly exactlyOnceField: { exactlyOnce?: Readonly<Record<string, 'v1' | 'v2'>> };

  constructor(options: ControlChannelOptions) {
    this.o = options;
    const eos = options.exactlyOnce;
    this.exactlyOnceField = eos === undefined || Object.keys(eos).length === 0 ? {} : { exactlyOnce: eos };
    this.maxPeers = options.maxPeers ?? 1024;
    this.ttlMs = Math.max(EXPIRY_PERIODS * options.intervalMs, MIN_EXPIRY_MS);
    this.incarnation = options.incarnation ?? randomBytes(8).toString('hex');
  }

  /** Other workers' latest reports, received less than 5 periods (at least 1 s) ago. */
  peers(): PeerLoad[] {
    const now = this.o.clock.now();
    const out: PeerLoad[] = [];
    for (const p of this.peerLoads.values()) if (now - p.receivedAt <= this.ttlMs) out.push(p.load);
    return out;
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
        for (const r of batch.records) this.receive(r);
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

  /** Takes one control record: a load report from a peer, or something to count and skip. */
  private receive(record: Pick<IncomingRecord, 'key' | 'value'>): void {
    const d = decodeControl(record.value);
    if (d.kind === 'unknown') {
      this.skip(d.reason, 'ignoring a control message this worker does not understand');
      return;
    }
    const m = d.message;
    const key = record.key?.toString('utf8');
    if (key !== m.worker) {
      this.skip(
        'load report whose record key is not its worker id',
        'ignoring a load report: its record key is not its worker id',
      );
      return;
    }
    const raw: unknown = (m as LoadReport).incarnation;
    if (raw !== undefined && (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_INCARNATION)) {
      this.skip(
        `load v1: 'incarnation' must be a string of 1-${MAX_INCARNATION} characters when present`,
        'ignoring a control message this worker does not understand',
      );
      return;
    }
    const incarnation = raw ?? '';
    if (m.worker === this.o.workerId) {
      // Our own report (read back), or someone else's under our id: never a peer.
      if (incarnation !== this.incarnation) {
        this.skip(
          'load report under this worker id from another incarnation',
          'ignoring a load report under this worker id from another process: two workers may share one id',
        );
      }
      return;
    }
    const now = this.o.clock.now();
    const known = this.peerLoads.get(m.worker);
    if (known !== undefined && known.incarnation !== incarnation && now - known.receivedAt <= this.ttlMs) {
      this.skip(
        'load report from another incarnation of a worker whose reports are fresh',
        'ignoring a load report from another incarnation of a live worker (forged, or a second process with the same worker id)',
      );
      return;
    }
    this.stats.received++;
    if (m.exactlyOnce !== undefined) this.checkExactlyOnce(m.worker, m.exactlyOnce);
    this.peerLoads.delete(m.worker);
    const fresh =
      known !== undefined && known.incarnation === incarnation && now - known.receivedAt <= this.ttlMs;
    this.peerLoads.set(m.worker, {
      incarnation,
      receivedAt: now,
      reports: fresh ? known.reports + 1 : 1,
      load: {
        id: m.worker,
        queued: m.queued,
        ...(m.backlog === undefined ? {} : { backlog: m.backlog }),
        utilisation: m.utilisation,
        at: Math.min(m.at, now),
        ...(m.slots === undefined ? {} : { slots: m.slots }),
      },
    });
    this.evict(now);
  }

  /**
   * Drops expired peers, then, beyond `maxPeers`, the least recently heard peer that has sent one report only
   * (else the least recently heard of all). The table is in order of receipt, oldest first.
   */
  private evict(now: number): void {
    for (const [id, p] of this.peerLoads) {
      if (now - p.receivedAt <= this.ttlMs) break;
      this.peerLoads.delete(id);
    }
    while (this.peerLoads.size > this.maxPeers) {
      let victim: string | undefined;
      for (const [id, p] of this.peerLoads) {
        if (p.reports < 2) {
          victim = id;
          break;
        }
      }
      this.peerLoads.delete(victim ?? this.peerLoads.keys().next().value!);
    }
  }

  /** Logs and counts each app this worker runs that `peer` runs under the other exactly-once protocol. */
  private checkExactlyOnce(peer: string, theirs: Readonly<Record<string, 'v1' | 'v2'>>): void {
    const ours = this.o.exactlyOnce;
    if (ours === undefined) return;
    for (const app in theirs) {
      if (!Object.hasOwn(theirs, app)) continue;
      const mine = ours[app];
      if (mine === undefined || mine === theirs[app]) continue;
      const key = `${peer}\u0000${app}`;
      if (this.mixed.has(key) || this.mixed.size >= MAX_WARNED) continue;
      this.mixed.add(key);
      this.stats.mixedExactlyOnce++;
      this.o.logger.warn(
        { peer, app, peerExactlyOnce: theirs[app], exactlyOnce: mine },
        `worker ${peer} runs app '${app}' under exactly-once ${theirs[app]}, this worker under ${mine}: fenced both ways while v2 workers fence v1 producers (exactlyOnceFenceV1, the default); finish the change by running every worker of the app under one protocol (--exactly-once, DIRIGO_EXACTLY_ONCE)`,
      );
    }
  }

  private skip(reason: string, message: string): void {
    this.stats.unknown++;
    if (this.warned.has(reason) || this.warned.size >= MAX_WARNED) return;
    this.warned.add(reason);
    this.o.logger.warn(
      {
        reason,
        topic: this.o.topic,
        ...(this.warned.size === MAX_WARNED ? { note: 'further reasons are counted, not logged' } : {}),
      },
      message,
    );
  }

  private async publish(): Promise<void> {
    const now = this.o.clock.now();
    const s = this.o.dispatcher.stats();
    const report: LoadReport = {
      v: 1,
      type: 'load',
      worker: this.o.workerId,
      at: now,
      queued: s.queued,
      backlog: s.backlog,
      inFlight: s.inFlight,
      utilisation: s.utilisation,
      ...this.slotsField(),
      ...this.exactlyOnceField,
      incarnation: this.incarnation,
    };
    try {
      await this.o.producer.send([
        { topic: this.o.topic, key: Buffer.from(this.o.workerId), value: encodeControl(report) },
      ]);
      this.stats.published++;
    } catch (e) {
      this.o.logger.warn({ err: e }, 'publishing the load report failed');
    }
    this.evict(this.o.clock.now());
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
