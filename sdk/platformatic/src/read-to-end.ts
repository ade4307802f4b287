// readToEnd on @platformatic/kafka: reads partitions from given offsets up to the high watermark each had when
// the call began, read_committed, without joining a group.
//
// Termination. The target of a partition is its high watermark at the start (read_uncommitted ListOffsets), so
// the records of a transaction committed before the call are read even while its markers are being written, and a
// transaction still open at the start delays the call until it ends (commit, abort, or the broker's abort at its
// timeout): under exactly-once v1 restore runs after registering the task's transactional producer, which aborts
// a zombie's open transaction at once; under v2 it waits for the zombie (whose offsets the group coordinator now
// refuses) to abort, or for the broker to abort the transaction at its timeout (10 s for the runtime's units). The position moves past every batch of an answer (markers, aborted data and batches
// emptied by compaction included: the client keeps their headers), so a partition whose last records are markers
// or compacted away still finishes. A partition whose log start moved past the position while it was read
// (retention, DeleteRecords) goes on from the new log start: the broker's OFFSET_OUT_OF_RANGE answer carries no
// log start, so it is asked for. A watchdog fails the call when nothing moves for `stallTimeoutMs`.
import {
  type IncomingRecord,
  type Logger,
  type PartitionOffsets,
  type ReadFrom,
  type TopicPartitionOffset,
  TransportError,
} from '@dirigo/core';
import { ConnectionPool, Admin as PAdmin } from '@platformatic/kafka';
import { watermarks } from './admin.ts';
import { mapError } from './errors.ts';
import { type FetchTarget, fetchRound } from './fetch.ts';
import type { BaseClientOptions } from './producer.ts';

export interface ReadToEndOptions {
  /** Fail when no partition moves for this long. Default 120000. */
  readonly stallTimeoutMs?: number;
  /** Bytes per partition per fetch (grows by itself when a batch is larger). Default 4 MiB. */
  readonly maxBytesPerPartition?: number;
}

export interface ReadToEndContext {
  readonly logger: Logger;
  readonly client: BaseClientOptions;
  readonly clientId: string;
  sharedAdmin(): PAdmin;
}

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly from: number;
  readonly target: number;
  pos: number;
  maxBytes: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MAX_PARTITION_BYTES = 64 * 1024 * 1024;

export async function readToEnd(
  context: ReadToEndContext,
  partitions: readonly ReadFrom[],
  onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>,
  options: ReadToEndOptions = {},
): Promise<TopicPartitionOffset[]> {
  if (partitions.length === 0) return [];
  const admin = context.sharedAdmin();
  const states: PartitionState[] = [];
  try {
    const ends = new Map<string, PartitionOffsets[]>();
    for (const topic of new Set(partitions.map((p) => p.topic))) {
      const offsets = await watermarks(admin, topic);
      ends.set(topic, offsets);
    }
    for (const p of partitions) {
      const o = ends.get(p.topic)!.find((x) => x.partition === p.partition);
      if (o === undefined) {
        throw new TransportError(`readToEnd: ${p.topic} has no partition ${p.partition}`, {
          retriable: false,
        });
      }
      const start = p.fromOffset <= 0 ? o.low : Math.max(p.fromOffset, o.low);
      states.push({
        topic: p.topic,
        partition: p.partition,
        from: p.fromOffset,
        target: o.high,
        pos: start,
        maxBytes: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      });
    }
  } catch (error) {
    throw mapError(error, { operation: 'readToEnd: watermarks', topic: partitions[0]!.topic });
  }
  const pending = () => states.filter((s) => s.pos < s.target);
  if (pending().length > 0) await fetchUntilEnd(context, pending, onRecords, options);
  return states.map((s) => ({ topic: s.topic, partition: s.partition, offset: Math.max(s.target, s.from) }));
}

async function fetchUntilEnd(
  context: ReadToEndContext,
  pending: () => PartitionState[],
  onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>,
  options: ReadToEndOptions,
): Promise<void> {
  const stallTimeoutMs = options.stallTimeoutMs ?? 120_000;
  // A client and connections of its own (for metadata; fetches go through fetch.ts): concurrent calls do not
  // queue behind each other's long polls.
  const clientId = `${context.clientId}-restore`;
  const client = new PAdmin({ ...context.client, clientId });
  const { bootstrapBrokers: _b, ...connectionOptions } = context.client;
  const pool = new ConnectionPool(clientId, connectionOptions);
  let lastMove = Date.now();
  let failures = 0;
  try {
    for (let left = pending(); left.length > 0; left = pending()) {
      const targets: FetchTarget[] = left.map((s) => ({
        topic: s.topic,
        partition: s.partition,
        offset: s.pos,
        maxBytes: s.maxBytes,
      }));
      const answers = await fetchRound(client, pool, targets, {
        isolation: 'read_committed',
        maxWaitMs: 100,
        maxBytes: MAX_PARTITION_BYTES,
      });
      let moved = false;
      let failed: unknown;
      /** Out of range with no log start in the answer: the broker sends -1 with OFFSET_OUT_OF_RANGE. */
      const lost: PartitionState[] = [];
      for (const a of answers) {
        const s = left.find((x) => x.topic === a.topic && x.partition === a.partition)!;
        if (a.error !== undefined) {
          failed = a.error;
          continue;
        }
        if (a.outOfRange) {
          // Deleted under our feet (retention, DeleteRecords): go on from the log start.
          if (a.logStartOffset > s.pos) {
            s.pos = a.logStartOffset;
            moved = true;
          } else lost.push(s);
          continue;
        }
        if (a.truncated) s.maxBytes = Math.min(MAX_PARTITION_BYTES, s.maxBytes * 2);
        const records = a.records.filter((r) => r.offset < s.target);
        if (records.length > 0) await onRecords(records);
        if (a.next !== undefined && a.next > s.pos) {
          s.pos = a.next;
          moved = true;
        }
      }
      if (lost.length > 0) {
        try {
          for (const topic of new Set(lost.map((s) => s.topic))) {
            const marks = await watermarks(client, topic);
            for (const s of lost) {
              const low = s.topic === topic ? marks.find((m) => m.partition === s.partition)?.low : undefined;
              if (low !== undefined && low > s.pos) {
                s.pos = low;
                moved = true;
              }
            }
          }
        } catch (error) {
          failed ??= error;
        }
      }
      if (moved) {
        lastMove = Date.now();
        failures = 0;
      } else if (Date.now() - lastMove > stallTimeoutMs) {
        throw new TransportError(
          `readToEnd: no progress for ${stallTimeoutMs} ms at ${left.map((s) => `${s.topic}[${s.partition}]@${s.pos}/${s.target}`).join(', ')}`,
          { retriable: true, ...(failed === undefined ? {} : { cause: failed }) },
        );
      } else if (failed !== undefined) {
        failures++;
        context.logger.debug({ err: failed, failures }, 'readToEnd: fetch failed; retrying');
        await sleep(Math.min(2_000, 50 * 2 ** failures));
      }
    }
  } finally {
    await client.close().catch(() => {});
    await pool.close().catch(() => {});
  }
}
