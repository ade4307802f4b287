// What the purges of a worker's purged topics did (see task/purge.ts), per topic: purges that deleted records and
// purges that failed (a principal without DELETE on the topic fails every one, and the topic, kept with
// `retention.ms=-1`, then grows without bound: alert on the failures), and per partition the offset below which the
// last successful purge deleted. Labels are bounded: internal topic names and their partitions.

/** One purged topic's counters on this worker. */
export class PurgeStats {
  readonly topic: string;
  /** Purges whose DeleteRecords succeeded, and those that failed (tried again at the next interval). */
  succeeded = 0;
  failed = 0;
  /** Per partition, the offset below which the last successful purge deleted the records. */
  readonly purgedTo = new Map<number, number>();

  constructor(topic: string) {
    this.topic = topic;
  }
}

/** The purge counters of a worker, made on first use per topic. */
export class PurgeMetricsTable {
  private readonly byTopic = new Map<string, PurgeStats>();

  /** The counters of `topic` (shared by every group member purging it on this worker). */
  get(topic: string): PurgeStats {
    let s = this.byTopic.get(topic);
    if (s === undefined) {
      s = new PurgeStats(topic);
      this.byTopic.set(topic, s);
    }
    return s;
  }

  /** Every topic's counters, in creation order. */
  all(): IterableIterator<PurgeStats> {
    return this.byTopic.values();
  }
}
