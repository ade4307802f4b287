// Replaying recorded records into a topic: the exact key, value and header bytes, on the same partition numbers
// (or placed by key), with the recorded timestamps or stamped now, as fast as possible, at a fixed rate, or at a
// multiple of the recorded pace.
import { ConfigError, type OutgoingRecord, type TopicDescription, type Transport } from '@dirigo/core';
import { retentionText, timeRetentionMs } from '../topic-retention.ts';
import type { RecordedRecord } from './record-file.ts';

export interface ReplayOptions {
  /** The target topic. Default: each record's own topic. */
  readonly topic?: string;
  /**
   * `original` (default): each record to its recorded partition number (the target needs at least as many
   * partitions); `key`: placed by key like any producer (records without a key spread by the client).
   */
  readonly partitions?: 'original' | 'key';
  /** `original` (default): the recorded timestamps; `now`: stamped when sent. */
  readonly timestamps?: 'original' | 'now';
  /** At most this many records per second. */
  readonly rate?: number;
  /** At this multiple of the recorded pace (by timestamps): 1 is real time, 10 ten times faster. */
  readonly speed?: number;
  /** Records per produce request (default 500). */
  readonly batchSize?: number;
  /** After each batch. */
  readonly onProgress?: (sent: number, total: number) => void;
  /** Injected time (tests). Default: wall-clock time and setTimeout. */
  readonly time?: { now(): number; sleep(ms: number): Promise<void> };
}

const wallTime = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
};

/** Checks the pacing options: positive finite numbers. */
function checkPace(o: ReplayOptions): void {
  for (const f of ['rate', 'speed', 'batchSize'] as const) {
    const v = o[f];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new ConfigError(f, `expected a positive number, got ${String(v)}`);
    }
  }
}

/**
 * Refuses records the target's time retention would delete before anyone reads them: records keep their recorded
 * timestamps, and the broker deletes those older than `retention.ms` at its next retention check.
 */
function checkRetention(
  records: readonly RecordedRecord[],
  topic: string | undefined,
  described: readonly TopicDescription[],
  now: number,
): void {
  for (const d of described) {
    const retention = timeRetentionMs(d.config);
    if (retention === undefined) continue;
    let count = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const r of records) {
      if ((topic ?? r.topic) !== d.name || r.timestamp >= now - retention) continue;
      count++;
      if (r.timestamp < oldest) oldest = r.timestamp;
    }
    if (count === 0) continue;
    throw new ConfigError(
      'timestamps',
      `${count} of the records for topic '${d.name}' are older than its retention.ms, ${retentionText(retention)} (the oldest is from ${new Date(oldest).toISOString()}): the broker would delete them at its next retention check, consumed or not. Replay with --timestamps now (timestamps: 'now'), or give the topic a longer retention.ms (-1 keeps records until they are deleted)`,
    );
  }
}

/** Produces the records; resolves with how many were sent. */
export async function replayRecords(
  transport: Transport,
  records: readonly RecordedRecord[],
  options: ReplayOptions = {},
): Promise<number> {
  checkPace(options);
  if (records.length === 0) return 0;
  const byPartition = (options.partitions ?? 'original') === 'original';
  const restamp = options.timestamps === 'now';
  const time = options.time ?? wallTime;
  // One description of the targets serves both checks.
  const described =
    byPartition || !restamp
      ? await (await transport.admin()).describeTopics([
          ...new Set(records.map((r) => options.topic ?? r.topic)),
        ])
      : [];
  if (byPartition) {
    const counts = new Map(described.map((d) => [d.name, d.partitions]));
    for (const r of records) {
      const t = options.topic ?? r.topic;
      const n = counts.get(t);
      if (n === undefined)
        throw new ConfigError('topic', `topic '${t}' does not exist; create it first (dirigo topics)`);
      if (r.partition >= n) {
        throw new ConfigError(
          'partitions',
          `topic '${t}' has ${n} partitions but a record was recorded on partition ${r.partition}; replay with --partitions key (placed by key) or give the topic more partitions`,
        );
      }
    }
  }
  if (!restamp) checkRetention(records, options.topic, described, time.now());
  const batchSize = options.batchSize ?? 500;
  const start = time.now();
  const firstTs = records[0]!.timestamp;
  let maxTs = firstTs;
  const producer = transport.producer({ clientId: 'dirigo-replay' });
  await producer.connect();
  try {
    let sent = 0;
    while (sent < records.length) {
      // The batch: up to batchSize records that are due now (by rate and by recorded pace).
      const batch: OutgoingRecord[] = [];
      let dueAt = start;
      for (let i = sent; i < records.length && batch.length < batchSize; i++) {
        const r = records[i]!;
        let due = start;
        if (options.rate !== undefined) due = Math.max(due, start + (i / options.rate) * 1000);
        if (options.speed !== undefined)
          due = Math.max(due, start + (Math.max(maxTs, r.timestamp) - firstTs) / options.speed);
        if (batch.length > 0 && due > time.now() + 5) break;
        if (batch.length === 0) dueAt = due;
        maxTs = Math.max(maxTs, r.timestamp);
        batch.push({
          topic: options.topic ?? r.topic,
          ...(byPartition ? { partition: r.partition } : {}),
          key: r.key,
          value: r.value,
          headers: r.headers,
          ...(restamp ? {} : { timestamp: r.timestamp }),
        });
      }
      const wait = dueAt - time.now();
      if (wait > 0) await time.sleep(wait);
      await producer.send(batch);
      sent += batch.length;
      options.onProgress?.(sent, records.length);
    }
    return sent;
  } finally {
    await producer.disconnect();
  }
}
