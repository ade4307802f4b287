// Consumer lag measured in records, exact under transactions: a group's committed offset can stay below the
// high watermark for good because commit markers take offsets, so "committed == high" is the wrong test.
// Partitions behind the high watermark are read (read_committed) from the committed offset to count real
// records.
import type { Transport } from '@dirigo/core';

/** Records of `topic` that group `group` has not committed yet (0 when it is caught up). */
export async function pendingRecords(transport: Transport, group: string, topic: string): Promise<number> {
  const admin = await transport.admin();
  const [high, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchCommittedOffsets(group, topic),
  ]);
  const behind = high
    .map((h) => ({
      partition: h.partition,
      from: Math.max(0, committed.find((c) => c.partition === h.partition)?.offset ?? 0),
      high: h.high,
    }))
    .filter((p) => p.from < p.high);
  if (behind.length === 0) return 0;
  let pending = 0;
  await transport.readToEnd(
    behind.map((p) => ({ topic, partition: p.partition, fromOffset: p.from })),
    (records) => {
      pending += records.length;
    },
  );
  return pending;
}
