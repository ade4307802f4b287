// The mergeable value of session windows: a sorted list of disjoint sessions, each an interval with the merged
// value of its records. Partial lists (from lessees) combine by interval overlap, so a record that bridges two
// sessions seen by different copies still joins them when the partials merge at the lessor.
import { ConfigError, type Mergeable } from '@dirigo/core';

/** One session of a key: `[start, end)` in event time (end = last record + gap) and its merged value. */
export interface Session<V> {
  readonly start: number;
  readonly end: number;
  readonly value: V;
}

/**
 * Sessions as a `Mergeable`: `combine(a, b)` takes every session of both lists and merges those whose
 * intervals overlap (`x.start < y.end && y.start < x.end`, so intervals that only touch stay apart),
 * transitively, combining their values with `inner`; the result is sorted by start, with disjoint intervals.
 * Identity `[]`. The merged intervals are the connected pieces of the union of the open intervals, which does
 * not depend on grouping or order, so `combine` is associative and commutative when `inner` is (see the
 * `checkMergeable` test).
 */
export function sessionMerge<V>(inner: Mergeable<V>): Mergeable<Session<V>[]> {
  if (inner === null || typeof inner !== 'object' || typeof inner.combine !== 'function')
    throw new ConfigError('sessionMerge(inner)', 'must be a Mergeable, e.g. merge.count()');
  return {
    name: `sessions(${inner.name})`,
    identity: () => [],
    combine(a, b) {
      const all = [...a, ...b].sort((x, y) => x.start - y.start || x.end - y.end);
      const out: Session<V>[] = [];
      let cur: { start: number; end: number; value: V } | undefined;
      for (const s of all) {
        if (cur !== undefined && s.start < cur.end) {
          cur.end = Math.max(cur.end, s.end);
          cur.value = inner.combine(cur.value, s.value);
        } else {
          if (cur !== undefined) out.push(cur);
          cur = { start: s.start, end: s.end, value: s.value };
        }
      }
      if (cur !== undefined) out.push(cur);
      return out;
    },
  };
}
