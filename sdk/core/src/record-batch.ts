// What both Kafka transports need to know about the record batches they produce: a partition's share of one
// produce call becomes one record batch, which the broker rejects above the topic's max.message.bytes (1 MiB by
// default), so sends are cut into chunks that keep every partition's share below a limit; and the topics the
// broker keeps for itself, which topic listings leave out.
import type { OutgoingRecord } from './transport.ts';

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
