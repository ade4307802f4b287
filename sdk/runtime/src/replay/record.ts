// Recording a topic (or a range of it) as record-file lines: every committed record of every partition, read
// to the high watermark as it is when the recording starts, optionally bounded by offsets or timestamps.
import type { IncomingRecord, Transport } from '@dirigo/core';
import { encodeRecordLine } from './record-file.ts';

/** A bound of a recording: an offset (the same in every partition) or a time (ms since the epoch). */
export type RecordBound = { readonly offset: number } | { readonly time: number };

export interface RecordOptions {
  readonly topic: string;
  /** First record: from this offset (inclusive) or this time (inclusive). Default: the earliest. */
  readonly from?: RecordBound;
  /** Last record: before this offset (exclusive) or time (exclusive). Default: the end as it is now. */
  readonly to?: RecordBound;
  /** Only these partitions. Default: all. */
  readonly partitions?: readonly number[];
}

/** Parses a CLI bound: an integer is an offset; an ISO date or `<n>ms` (epoch ms) is a time. */
export function parseBound(text: string, flag: string): RecordBound {
  if (/^\d+$/.test(text)) return { offset: Number(text) };
  const ms = /^(\d+)ms$/.exec(text);
  if (ms) return { time: Number(ms[1]) };
  const t = Date.parse(text);
  if (Number.isNaN(t)) {
    throw new Error(
      `${flag}: '${text}' is neither an offset (e.g. 1200) nor a time (e.g. 2026-01-01T10:00:00Z or 1767225600000ms)`,
    );
  }
  return { time: t };
}

const inRange = (r: IncomingRecord, o: RecordOptions): boolean => {
  const f = o.from;
  const t = o.to;
  if (f !== undefined && ('offset' in f ? r.offset < f.offset : r.timestamp < f.time)) return false;
  if (t !== undefined && ('offset' in t ? r.offset >= t.offset : r.timestamp >= t.time)) return false;
  return true;
};

/**
 * Reads the topic's committed records (per partition in offset order, partitions one after the other) and
 * hands each as a record-file line to `write`. Resolves with the number of records written.
 */
export async function recordTopic(
  transport: Transport,
  options: RecordOptions,
  write: (line: string, record: IncomingRecord) => void | Promise<void>,
): Promise<number> {
  const admin = await transport.admin();
  const offsets = await admin.fetchTopicOffsets(options.topic);
  const wanted = options.partitions === undefined ? undefined : new Set(options.partitions);
  const from = options.from;
  let count = 0;
  for (const p of offsets) {
    if (wanted !== undefined && !wanted.has(p.partition)) continue;
    const start = from !== undefined && 'offset' in from ? Math.max(from.offset, p.low) : p.low;
    if (start >= p.high) continue;
    await transport.readToEnd(
      [{ topic: options.topic, partition: p.partition, fromOffset: start }],
      async (rs) => {
        for (const r of rs) {
          if (!inRange(r, options)) continue;
          count++;
          await write(encodeRecordLine(r), r);
        }
      },
    );
  }
  return count;
}
