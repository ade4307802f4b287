// Consumer lag per (app, function, partition) on this worker: the partition's high watermark minus the
// position of the task that owns it here (the next offset it will process). Sampled on demand (a scrape, the
// live view; concurrent requests share one sample), with one offsets request per input topic: nothing runs
// while nobody looks. In offsets: under transactions each commit marker takes an offset, so a caught-up partition
// written by exactly-once producers can show a lag of 1 (or a few); `pendingRecords` counts real records.
import type { Logger, Transport } from '@dirigo/core';

/** The partitions of one function (or router, or lease-slot group) that this worker owns now. */
export interface LagTarget {
  readonly app: string;
  readonly fn: string;
  readonly topic: string;
  /** The owned partitions and the next offset each will process. */
  positions(): readonly { partition: number; position: number }[];
}

/** Lag of one owned partition. */
export interface LagSample {
  readonly app: string;
  readonly fn: string;
  readonly partition: number;
  /** Offsets between the position and the high watermark (>= 0). */
  readonly lag: number;
}

export class LagSampler {
  private readonly transport: Transport;
  private readonly targets: () => readonly LagTarget[];
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private last: readonly LagSample[] = [];
  private pending: Promise<void> | undefined;

  constructor(
    transport: Transport,
    targets: () => readonly LagTarget[],
    logger: Logger,
    options: { timeoutMs?: number } = {},
  ) {
    this.transport = transport;
    this.targets = targets;
    this.logger = logger;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** The last sample (empty before the first refresh). */
  current(): readonly LagSample[] {
    return this.last;
  }

  /**
   * A fresh sample (or the one being taken); never waits longer than `timeoutMs` (default 2000: the previous
   * sample is answered then, and on errors).
   */
  async refresh(): Promise<readonly LagSample[]> {
    if (this.pending === undefined) {
      this.pending = this.sample()
        .catch((e: unknown) => this.logger.debug({ err: e }, 'lag sample failed; keeping the last one'))
        .finally(() => {
          this.pending = undefined;
        });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.pending,
      new Promise<void>((r) => {
        timer = setTimeout(r, this.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.last;
  }

  private async sample(): Promise<void> {
    const targets = this.targets()
      .map((t) => ({ t, positions: t.positions() }))
      .filter((x) => x.positions.length > 0);
    const topics = [...new Set(targets.map((x) => x.t.topic))];
    const admin = await this.transport.admin();
    const highs = new Map<string, Map<number, number>>();
    await Promise.all(
      topics.map(async (topic) => {
        const offsets = await admin.fetchTopicOffsets(topic);
        highs.set(topic, new Map(offsets.map((o) => [o.partition, o.high])));
      }),
    );
    const out: LagSample[] = [];
    for (const { t, positions } of targets) {
      const high = highs.get(t.topic);
      for (const p of positions) {
        const h = high?.get(p.partition);
        if (h === undefined) continue;
        out.push({ app: t.app, fn: t.fn, partition: p.partition, lag: Math.max(0, h - p.position) });
      }
    }
    out.sort((a, b) =>
      a.app < b.app ? -1 : a.app > b.app ? 1 : a.fn < b.fn ? -1 : a.fn > b.fn ? 1 : a.partition - b.partition,
    );
    this.last = out;
  }
}
