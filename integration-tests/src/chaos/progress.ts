// Waiting for a chaos run to settle, and finding what is stuck. A function group is caught up on a partition
// when no committed record (read_committed) lies at or after the group's committed offset. That is counted by
// reading from the committed offset with `transport.readToEnd`, never by comparing offsets with the high
// watermark, because transaction markers and aborted records take offsets too.
import type { Transport } from '@dirigo/core';
import type { GroupInput } from './checks/shape.ts';
import type { EventLog } from './events.ts';

/** A partition of a function's input that still has committed records beyond the group's committed offset. */
export interface Behind {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /** The group's committed offset (-1: never committed). */
  readonly committed: number;
  readonly high: number;
  /** Committed records at or after `committed`. */
  readonly remaining: number;
}

export const describeBehind = (b: Behind): string =>
  `${b.topic}/${b.partition} (group ${b.group}): committed offset ${b.committed}, high watermark ${b.high}, ${b.remaining} records remaining`;

/** The partitions of all groups that are behind, right now. */
export async function findBehind(transport: Transport, groups: readonly GroupInput[]): Promise<Behind[]> {
  const admin = await transport.admin();
  const byTopic = new Map<string, GroupInput>();
  for (const g of groups) {
    if (byTopic.has(g.topic)) throw new Error(`two groups read ${g.topic}; check them one by one`);
    byTopic.set(g.topic, g);
  }
  // Committed offsets first, then the records: whatever an upstream group committed before its offsets were
  // read is in its downstream topics before readToEnd fixes its targets.
  const candidates: Omit<Behind, 'remaining'>[] = [];
  for (const g of groups) {
    const committed = await admin.fetchCommittedOffsets(g.group, g.topic);
    const high = await admin.fetchTopicOffsets(g.topic);
    for (const h of high) {
      const c = committed.find((x) => x.partition === h.partition)?.offset ?? -1;
      // Nothing at all at or after the committed offset: caught up without reading.
      if (c >= h.high) continue;
      candidates.push({ group: g.group, topic: g.topic, partition: h.partition, committed: c, high: h.high });
    }
  }
  if (candidates.length === 0) return [];
  const remaining = new Map<string, number>();
  await transport.readToEnd(
    candidates.map((c) => ({ topic: c.topic, partition: c.partition, fromOffset: Math.max(0, c.committed) })),
    (records) => {
      for (const r of records) {
        const k = `${r.topic}/${r.partition}`;
        remaining.set(k, (remaining.get(k) ?? 0) + 1);
      }
    },
  );
  return candidates
    .map((c) => ({ ...c, remaining: remaining.get(`${c.topic}/${c.partition}`) ?? 0 }))
    .filter((b) => b.remaining > 0);
}

export interface Settled {
  readonly settled: boolean;
  readonly behind: readonly Behind[];
  readonly pendingTimers: readonly string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until every group is caught up and no timer is outstanding, twice in a row, or until `deadline`
 * (ms since the epoch). Returns what was still behind at the last poll.
 */
export async function waitSettled(
  transport: Transport,
  groups: readonly GroupInput[],
  pendingTimers: () => Promise<string[]>,
  deadline: number,
  events: EventLog,
): Promise<Settled> {
  let clean = 0;
  let lastLog = 0;
  for (;;) {
    let behind: Behind[];
    let timers: string[];
    try {
      behind = await findBehind(transport, groups);
      timers = await pendingTimers();
    } catch (e) {
      // e.g. a topic the workers have not created yet
      events.warn('progress check failed; retrying', { err: (e as Error).message });
      if (Date.now() >= deadline) return { settled: false, behind: [], pendingTimers: [] };
      clean = 0;
      await sleep(1_000);
      continue;
    }
    if (behind.length === 0 && timers.length === 0) {
      if (++clean >= 2) return { settled: true, behind, pendingTimers: timers };
    } else clean = 0;
    const total = behind.reduce((s, b) => s + b.remaining, 0);
    if (Date.now() >= deadline) {
      events.warn('timed out waiting for the groups to catch up', {
        behind: behind.length,
        remaining: total,
      });
      return { settled: false, behind, pendingTimers: timers };
    }
    if (Date.now() - lastLog >= 10_000) {
      lastLog = Date.now();
      events.info('catching up', {
        partitionsBehind: behind.length,
        remaining: total,
        pendingTimers: timers.length,
        ...(behind.length <= 10 ? { behind: behind.map(describeBehind) } : {}),
      });
    }
    await sleep(total > 20_000 ? 3_000 : 1_000);
  }
}
