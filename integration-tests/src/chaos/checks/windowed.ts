// Tracker and checks of the `windowed` shape: from the acknowledged events the tracker knows each partition's
// highest event time (its watermark: no out-of-orderness) and each (key, window)'s sum. Every window that ends at
// or before its partition's watermark must come out exactly once with the exact sum; a window result must never
// come out for a window the watermark has not passed, nor for a (key, window) that got no event. (The close
// timers travel in the ingress topic itself; the library tolerates a close scheduled twice, so the check is on
// the results.)
import { partitionFor, type Transport } from '@dirigo/core';
import { APP, groupOf, topics, WIN } from '../names.ts';
import { readTopic } from '../read.ts';
import type { WinEvent, WinResult } from '../shapes/windowed.ts';
import { type Draft, type ShapeHarness, VerdictBuilder } from './shape.ts';

export function windowedHarness(ns: string, partitions: number): ShapeHarness {
  const t = topics(ns);
  // Event time from now on (time-based retention must keep the records, which carry it as their timestamp),
  // aligned to a window.
  const t0 = Math.floor(Date.now() / WIN.sizeMs) * WIN.sizeMs;
  /** `${key}@${start}` -> the window and its expected sum. */
  const windows = new Map<string, { key: string; start: number; sum: number }>();
  /** Partition -> highest acknowledged event time. */
  const maxTs = new Map<number, number>();
  const partitionOfKey = new Map<string, number>();
  let sent = 0;
  const partitionOf = (key: string): number => {
    let p = partitionOfKey.get(key);
    if (p === undefined) {
      p = partitionFor(Buffer.from(key), partitions);
      partitionOfKey.set(key, p);
    }
    return p;
  };
  /** Windows that must have closed: those ending at or before their key's partition's watermark. */
  const due = (): string[] => {
    const out: string[] = [];
    for (const [id, w] of windows) {
      if (w.start + WIN.sizeMs <= (maxTs.get(partitionOf(w.key)) ?? Number.NEGATIVE_INFINITY)) out.push(id);
    }
    return out;
  };
  const resultsOf = async (transport: Transport) => {
    const got = new Map<string, number[]>();
    for (const r of await readTopic<WinResult>(transport, t.winResults)) {
      const id = `${r.value.key}@${r.value.start}`;
      const list = got.get(id) ?? [];
      list.push(r.value.sum);
      got.set(id, list);
    }
    return got;
  };
  return {
    name: 'windowed',
    ingressTopics: [t.winEvents],
    groups: [{ group: groupOf(ns, APP.windowed, 'sum'), topic: t.winEvents }],
    get sent() {
      return sent;
    },
    draw(seq: number, random: () => number): Draft {
      const key = `w${Math.floor(random() * WIN.keys)}`;
      const ts = t0 + seq * WIN.msPerSeq;
      const v = 1 + Math.floor(random() * 100);
      const event: WinEvent = { seq, t: ts, v };
      return {
        record: {
          topic: t.winEvents,
          key: Buffer.from(key),
          value: Buffer.from(JSON.stringify(event)),
          timestamp: ts,
        },
        acked() {
          const start = Math.floor(ts / WIN.sizeMs) * WIN.sizeMs;
          const id = `${key}@${start}`;
          const w = windows.get(id);
          if (w === undefined) windows.set(id, { key, start, sum: v });
          else w.sum += v;
          const p = partitionOf(key);
          if (ts > (maxTs.get(p) ?? Number.NEGATIVE_INFINITY)) maxTs.set(p, ts);
          sent++;
        },
      };
    },
    async pendingTimers(transport: Transport) {
      const got = await resultsOf(transport);
      return due()
        .filter((id) => !got.has(id))
        .map((id) => `close of window ${id}`);
    },
    async verify(transport: Transport, exact: boolean) {
      const v = new VerdictBuilder('windowed');
      const got = await resultsOf(transport);
      const required = new Set(due());
      for (const id of required) {
        const list = got.get(id);
        v.fail(
          'lost',
          list === undefined ? 1 : 0,
          () => `window ${id} closed by the watermark but never emitted`,
        );
      }
      for (const [id, list] of got) {
        v.fail('duplicated', list.length - 1, () => `window ${id} emitted ${list.length} times`);
        const expected = windows.get(id)?.sum;
        if (expected === undefined) {
          v.fail('stateMismatches', 1, () => `window ${id} emitted, but no event of it was sent`);
          continue;
        }
        if (!required.has(id))
          v.fail('timerMismatches', 1, () => `window ${id} emitted before the watermark passed its end`);
        for (const sum of list) {
          const ok = exact ? sum === expected : sum >= expected;
          v.fail('stateMismatches', ok ? 0 : 1, () => `window ${id}: sum ${sum}, expected ${expected}`);
        }
      }
      return v.verdict;
    },
  };
}
