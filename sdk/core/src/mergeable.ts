// Mergeable values: how the partial values of a mergeable state cell (state.mergeable) combine. A leasable
// function's hot key may run its ordinary messages at several lessees at once, each against its own partial
// copy of the cell starting from `identity()`; at barriers the partials are combined into the lessor's value.
// `merge` holds the built-in combiners; `checkMergeable` tests the laws of a custom one.
import { ConfigError, DirigoError } from './errors.ts';
import { json, type Serde } from './serde.ts';

/**
 * How partial values of a mergeable state cell combine. `combine` must be associative and commutative;
 * identity is its neutral element. Values must survive the cell's serde (JSON by default). combine must not
 * mutate its arguments.
 *
 * The runtime may combine partials in any grouping and order, and any number of times with `identity()`, so
 * a combiner that breaks a law gives results that depend on where and when messages ran. Test a custom one
 * with `checkMergeable`.
 *
 * @example
 * // The latest timestamp seen: max with 0 as identity (timestamps are never negative).
 * const latest: Mergeable<number> = { name: 'latest', identity: () => 0, combine: (a, b) => Math.max(a, b) };
 */
export interface Mergeable<V> {
  /** Short name for error messages and logs, e.g. 'sum' or 'topK(10)'. */
  readonly name: string;
  /** The neutral element: `combine(identity(), v)` equals `v`. A fresh value on every call. */
  identity(): V;
  /** Combines two partial values into a new one. Associative, commutative, pure; returns a new value. */
  combine(a: V, b: V): V;
}

const fail = (what: string, message: string): never => {
  throw new DirigoError(`${what}: ${message}`);
};

const isMergeable = (m: unknown): m is Mergeable<unknown> =>
  m !== null &&
  typeof m === 'object' &&
  typeof (m as Mergeable<unknown>).identity === 'function' &&
  typeof (m as Mergeable<unknown>).combine === 'function';

/** Orders set elements: numbers ascending, then strings by UTF-16 code units (not locale-dependent). */
const compareElements = (a: string | number, b: string | number): number => {
  if (typeof a !== typeof b) return typeof a === 'number' ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
};

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sum(): Mergeable<number> {
  return { name: 'sum', identity: () => 0, combine: (a, b) => a + b };
}

function count(): Mergeable<number> {
  return { name: 'count', identity: () => 0, combine: (a, b) => a + b };
}

function extreme(name: 'min' | 'max', pick: (a: number, b: number) => number): Mergeable<number | null> {
  return {
    name,
    identity: () => null,
    combine: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
  };
}

function setUnion<T extends string | number>(): Mergeable<T[]> {
  return {
    name: 'setUnion',
    identity: () => [],
    combine(a, b) {
      const all = [...a, ...b];
      for (const x of all) {
        if (typeof x !== 'string' && !(typeof x === 'number' && Number.isFinite(x))) {
          fail('merge.setUnion', `element ${String(x)} is not a string or a finite number`);
        }
      }
      all.sort(compareElements);
      return all.filter((x, i) => i === 0 || compareElements(all[i - 1]!, x) !== 0);
    },
  };
}

function listAppend<T>(): Mergeable<T[]> {
  return { name: 'listAppend', identity: () => [], combine: (a, b) => [...a, ...b] };
}

function topK<T>(k: number, score: (t: T) => number): Mergeable<T[]> {
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1) {
    throw new ConfigError(
      'merge.topK(k)',
      `${String(k)} must be an integer >= 1 (the number of elements kept)`,
    );
  }
  if (typeof score !== 'function') {
    throw new ConfigError('merge.topK(score)', 'must be a function (element) => number, higher is better');
  }
  return {
    name: `topK(${k})`,
    identity: () => [],
    combine(a, b) {
      const scored = [...a, ...b].map((item) => {
        const s = score(item);
        if (typeof s !== 'number' || Number.isNaN(s)) {
          fail(
            `merge.topK(${k})`,
            `score returned ${String(s)} for ${JSON.stringify(item)}; return a number`,
          );
        }
        return { item, s, text: JSON.stringify(item) ?? '' };
      });
      scored.sort((x, y) => (x.s !== y.s ? (x.s > y.s ? -1 : 1) : compareText(x.text, y.text)));
      return scored.slice(0, k).map((x) => x.item);
    },
  };
}

function mapOf<V>(inner: Mergeable<V>): Mergeable<Record<string, V>> {
  if (!isMergeable(inner)) {
    throw new ConfigError(
      'merge.mapOf(inner)',
      'must be a Mergeable (an object with identity() and combine(a, b)), e.g. merge.mapOf(merge.sum())',
    );
  }
  return {
    name: `mapOf(${inner.name})`,
    identity: () => ({}),
    combine(a, b) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareText);
      // Object.fromEntries defines own properties, so a key such as '__proto__' stays an ordinary entry.
      return Object.fromEntries(
        keys.map((key) => [
          key,
          inner.combine(
            Object.hasOwn(a, key) ? (a[key] as V) : inner.identity(),
            Object.hasOwn(b, key) ? (b[key] as V) : inner.identity(),
          ),
        ]),
      );
    },
  };
}

function custom<V>(name: string, identity: () => V, combine: (a: V, b: V) => V): Mergeable<V> {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new ConfigError('merge.custom(name)', 'must be a non-empty string naming the combiner');
  }
  if (typeof identity !== 'function') {
    throw new ConfigError(
      'merge.custom(identity)',
      'must be a function () => V returning the neutral element',
    );
  }
  if (typeof combine !== 'function') {
    throw new ConfigError(
      'merge.custom(combine)',
      'must be a function (a, b) => V, associative and commutative',
    );
  }
  return { name, identity, combine };
}

/**
 * The built-in combiners of mergeable state cells (`state.mergeable(merge.sum())`). Each call returns a new
 * `Mergeable`; arguments are checked at once and a wrong one throws `ConfigError`.
 *
 * @example
 * state: {
 *   clicks: state.mergeable(merge.count()),                       // ctx.state.clicks.merge(1)
 *   users: state.mergeable(merge.setUnion<string>()),             // ctx.state.users.merge([userId])
 *   best: state.mergeable(merge.topK(3, (s: Score) => s.points)), // ctx.state.best.merge([score])
 *   perWindow: state.mergeable(merge.mapOf(merge.sum())),         // ctx.state.perWindow.merge({ [w]: amount })
 * }
 */
export const merge = {
  /**
   * Addition of numbers; identity 0. Exactly associative for integers up to 2^53; sums of fractions may
   * differ in the last bits depending on the merge order (keep amounts in integer cents, for example).
   */
  sum,
  /** Counting: the same as `sum` (identity 0), meant for `merge(1)` per counted event. */
  count,
  /** The smallest number; identity `null` (no value yet), so it survives JSON. Numbers must be finite. */
  min: (): Mergeable<number | null> => extreme('min', Math.min),
  /** The largest number; identity `null` (no value yet), so it survives JSON. Numbers must be finite. */
  max: (): Mergeable<number | null> => extreme('max', Math.max),
  /**
   * A set of strings and/or finite numbers, kept as a sorted array of unique elements (numbers ascending
   * before strings in UTF-16 code unit order), so the result does not depend on the merge order. Identity
   * `[]`. A delta may be unsorted and hold duplicates; `combine` throws for other element types.
   */
  setUnion,
  /**
   * Concatenation of arrays; identity `[]`. The order of elements that came from different lessees is
   * unspecified (a partial's elements arrive after or before the others'), so only order-insensitive use is
   * correct: treat the value as a multiset (count, sum, or sort it before use).
   */
  listAppend,
  /**
   * The `k` best elements by `score` (higher first), as an array of at most `k` elements sorted by score
   * descending; ties are broken by the elements' JSON text (ascending), so the result is deterministic.
   * Identity `[]`. Duplicates are kept (an element merged twice counts twice). `score` must be pure and
   * return a number (not NaN). Throws `ConfigError` unless `k` is an integer >= 1 and `score` a function.
   */
  topK,
  /**
   * A string-keyed record whose values combine per key with `inner`; a key absent on one side counts as
   * `inner.identity()`. Identity `{}`. Keys come out sorted. Keys are never removed by merging: drop old ones
   * with `set` in a critical message (e.g. a map per time window, pruned by a critical 'close window').
   */
  mapOf,
  /** A combiner of your own; `identity` and `combine` must obey the `Mergeable` laws (see `checkMergeable`). */
  custom,
} as const;

/**
 * Structural equality of plain data: numbers by value (NaN equals NaN, 0 equals -0), arrays by elements,
 * plain objects by own keys in any order, byte arrays by bytes. What `checkMergeable` and state validation
 * use to compare values.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]))
    );
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every(
      (k) =>
        Object.hasOwn(b, k) &&
        sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    )
  );
}

/** Options of `checkMergeable`. */
export interface CheckMergeableOptions<V> {
  /** The cell's serde; values must survive it. Default JSON. */
  readonly serde?: Serde<V>;
  /** When two values count as equal. Default `sameValue`. Pass a multiset comparison for `listAppend`. */
  readonly equal?: (a: V, b: V) => boolean;
}

/**
 * Checks the `Mergeable` laws on sample values: identity is neutral on both sides, `combine` is commutative
 * and associative over every pair and triple of samples, combining does not mutate its arguments, and
 * identity, samples and results survive the serde. Every combine gets fresh copies (through the serde) of its
 * arguments. Returns one line per violation (empty when none). Cost: about 3 × samples³ combines, so keep samples small (say up to 10) and call it repeatedly for random ones.
 *
 * @example
 * expect(checkMergeable(merge.custom('latest', () => 0, Math.max), [0, 3, 7])).toEqual([]);
 */
export function checkMergeable<V>(
  m: Mergeable<V>,
  samples: readonly V[],
  options: CheckMergeableOptions<V> = {},
): string[] {
  const serde = options.serde ?? json<V>();
  const equal = options.equal ?? sameValue;
  const problems: string[] = [];
  const show = (v: unknown): string => {
    try {
      return JSON.stringify(v) ?? String(v);
    } catch {
      return String(v);
    }
  };
  const snapshot = (v: V): V => serde.deserialize(serde.serialize(v));
  const survives = (what: string, v: V): void => {
    let back: V;
    try {
      back = snapshot(v);
    } catch (e) {
      problems.push(
        `${m.name}: ${what} ${show(v)} does not survive the ${serde.name} serde: ${(e as Error).message}`,
      );
      return;
    }
    if (!sameValue(back, v)) {
      problems.push(`${m.name}: ${what} ${show(v)} comes back from the ${serde.name} serde as ${show(back)}`);
    }
  };
  /** A fresh copy, so a combiner that mutates its arguments cannot corrupt the samples. */
  const copy = (v: V): V => {
    try {
      return snapshot(v);
    } catch {
      return v;
    }
  };
  const combine = (a: V, b: V): V => {
    const [x, y] = [copy(a), copy(b)];
    const before = [show(x), show(y)];
    const out = m.combine(x, y);
    if (show(x) !== before[0] || show(y) !== before[1]) {
      problems.push(`${m.name}: combine(${before[0]}, ${before[1]}) mutated an argument`);
    }
    survives('result', out);
    return out;
  };
  survives('identity', m.identity());
  for (const a of samples) {
    survives('sample', a);
    const left = combine(m.identity(), a);
    const right = combine(a, m.identity());
    if (!equal(left, a) || !equal(right, a)) {
      problems.push(
        `${m.name}: identity is not neutral for ${show(a)}: got ${show(left)} and ${show(right)}`,
      );
    }
    for (const b of samples) {
      const ab = combine(a, b);
      const ba = combine(b, a);
      if (!equal(ab, ba)) {
        problems.push(
          `${m.name}: not commutative: (${show(a)}, ${show(b)}) gives ${show(ab)} vs ${show(ba)}`,
        );
      }
      for (const c of samples) {
        const l = combine(ab, c);
        const r = combine(a, combine(b, c));
        if (!equal(l, r)) {
          problems.push(
            `${m.name}: not associative: (${show(a)}, ${show(b)}, ${show(c)}) gives ${show(l)} vs ${show(r)}`,
          );
        }
      }
    }
  }
  return problems;
}
