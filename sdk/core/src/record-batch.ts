// What both Kafka transports need to know about the record batches they produce: a partition's share of one
// produce call becomes one record batch, which the broker rejects above the topic's max.message.bytes (1 MiB by
// default), so sends are cut into chunks that keep every partition's share below a limit; the topics the broker
// keeps for itself, which topic listings leave out; and which DeleteRecords requests to send.
import { TransportError } from './errors.ts';
import type { OutgoingRecord, PartitionOffset, PartitionOffsets } from './transport.ts';

/** Limit of one partition's share of one produce call (one record batch), in bytes. */
export const MAX_PARTITION_BATCH_BYTES = 768 * 1024;

/** The bytes a record takes in a record batch, roughly (a little more than the real size). */
export function recordBytes(r: OutgoingRecord): number {
  let n = 24 + (r.key === null ? 0 : r.key.length) + (r.value === null ? 0 : r.value.length);
  const headers = r.headers;
  if (headers !== undefined) {
    for (const k in headers) n += 8 + k.length + headers[k]!.length;
  }
  return n;
}

/** Topics the broker keeps for itself; `listTopics` leaves them out, as the Java admin does by default. */
export const INTERNAL_TOPICS: ReadonlySet<string> = new Set([
  '__consumer_offsets',
  '__transaction_state',
  '__share_group_state',
  '__cluster_metadata',
]);

/**
 * The partitions of `Admin.deleteRecords(topic, offsets)` whose low watermark (`marks`) moves, checked before
 * anything is sent: an offset above the high watermark or a partition the topic lacks is a non-retriable
 * TransportError naming it (the clients retry the broker's OFFSET_OUT_OF_RANGE for seconds before giving up);
 * offsets at or below the low watermark are left out (they delete nothing).
 */
export function recordsToDelete(
  topic: string,
  offsets: readonly PartitionOffset[],
  marks: readonly PartitionOffsets[],
): PartitionOffset[] {
  const moving: PartitionOffset[] = [];
  for (const o of offsets) {
    const m = marks.find((x) => x.partition === o.partition);
    if (m === undefined) {
      throw new TransportError(`delete records: ${topic} has no partition ${o.partition}`, {
        retriable: false,
      });
    }
    if (!Number.isSafeInteger(o.offset) || o.offset > m.high) {
      throw new TransportError(
        `delete records: offset ${o.offset} of ${topic}/${o.partition} is above its high watermark ${m.high}`,
        { retriable: false },
      );
    }
    if (o.offset > m.low) moving.push(o);
  }
  return moving;
}
