// The internal topics a worker consumes from its own sends (the input topic of a function fed by `send`, the
// lease topic) keep their records until their group has committed them, whatever the records' timestamps, and
// are purged by the worker after that, as Kafka Streams does with its repartition topics.
//
// Why not the broker's time retention: a record's timestamp is its event time in an event-time app (sends are
// stamped with it) and a forwarded record keeps its input's timestamp. Replayed, back-filled or late input can
// be older than `retention.ms` (7 days by default), and the broker deletes a segment whose newest timestamp is
// that old at its next retention check (every 5 minutes by default), consumed or not: the next hop then finds
// its position out of range and skips to the log start, and those records are lost. So these topics are
// created with `retention.ms=-1`, and each group member deletes, every `purgeIntervalMs`, the records below the
// positions its partitions have committed (Kafka's DeleteRecords).
import type { Logger, PartitionOffset, Transport } from '@dirigo/core';
import { PurgeStats } from '../metrics/purge-metrics.ts';

/** Deletes, at most once per interval, the records of a group member's partitions below their committed positions. */
export class Purger {
  private readonly transport: Transport;
  private readonly topic: string;
  private readonly intervalMs: number;
  private readonly logger: Logger;
  private readonly stats: PurgeStats;
  private nextAt = 0;
  private running = false;
  /** Per partition, the offset the last successful purge deleted up to. */
  private readonly done = new Map<number, number>();

  /** `stats`: the worker's counters of this topic (metrics), or counters of its own. */
  constructor(
    transport: Transport,
    topic: string,
    intervalMs: number,
    logger: Logger,
    stats: PurgeStats = new PurgeStats(topic),
  ) {
    this.transport = transport;
    this.topic = topic;
    this.intervalMs = intervalMs;
    this.logger = logger;
    this.stats = stats;
  }

  /**
   * Starts a purge when the interval has passed: `committed` gives each owned partition's committed position
   * (every record below it is committed by this group). Never waits for it, never throws: a failed purge is
   * logged and tried again at the next interval.
   */
  maybePurge(now: number, committed: () => readonly PartitionOffset[]): Promise<void> | undefined {
    if (this.intervalMs <= 0 || this.running || now < this.nextAt) return undefined;
    this.nextAt = now + this.intervalMs;
    const offsets = committed().filter((o) => o.offset > (this.done.get(o.partition) ?? 0));
    if (offsets.length === 0) return undefined;
    this.running = true;
    return this.transport
      .admin()
      .then((admin) => admin.deleteRecords(this.topic, offsets))
      .then(
        () => {
          for (const o of offsets) {
            this.done.set(o.partition, o.offset);
            this.stats.purgedTo.set(o.partition, o.offset);
          }
          this.stats.succeeded++;
          this.logger.debug({ topic: this.topic, offsets }, 'purged committed records');
        },
        (e: unknown) => {
          this.stats.failed++;
          this.logger.warn(
            { err: e, topic: this.topic },
            'purging committed records failed; trying again later',
          );
        },
      )
      .finally(() => {
        this.running = false;
      });
  }
}
