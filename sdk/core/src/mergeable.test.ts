// Laws and cases of the built-in combiners: a small seeded property test (identity, commutativity,
// associativity, no mutation, JSON round trip) per built-in, then specific cases and argument checks.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { fn, type MapState, type MergeableState, state, type ValueState } from './app.ts';
import { ConfigError, DirigoError } from './errors.ts';
import { checkMergeable, type Mergeable, merge, sameValue } from './mergeable.ts';

/** mulberry32: a tiny seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, 0, xs.length - 1)]!;
const arrayOf = <T>(r: Rand, max: number, gen: (r: Rand) => T): T[] =>
  Array.from({ length: int(r, 0, max) }, () => gen(r));
const KEYS = ['a', 'b', 'c', 'constructor', '__proto__', 'toString'];
const elem = (r: Rand): string | number => (r() < 0.5 ? int(r, -5, 5) : pick(r, ['x', 'y', 'z', '10', '']));
const sortedCopy = <T>(xs: T[]): string[] => xs.map((x) => JSON.stringify(x)).sort();
const asMultiset = (a: unknown[], b: unknown[]): boolean => sameValue(sortedCopy(a), sortedCopy(b));

interface Case {
  readonly name: string;
  readonly m: Mergeable<never>;
  /** A random value; normalized by the combiner where it has a normal form. */
  readonly sample: (r: Rand) => unknown;
  readonly equal?: (a: never, b: never) => boolean;
}

const normalized =
  <V>(m: Mergeable<V>, gen: (r: Rand) => V) =>
  (r: Rand): V =>
    m.combine(m.identity(), gen(r));

const byScore = (t: { id: string; score: number }) => t.score;
const item = (r: Rand) => ({ id: pick(r, ['p', 'q', 'r', 's']), score: int(r, 0, 4) });

const cases: Case[] = [
  { name: 'sum', m: merge.sum() as Mergeable<never>, sample: (r) => int(r, -1000, 1000) },
  { name: 'count', m: merge.count() as Mergeable<never>, sample: (r) => int(r, 0, 1000) },
  { name: 'min', m: merge.min() as Mergeable<never>, sample: (r) => (r() < 0.2 ? null : int(r, -50, 50)) },
  { name: 'max', m: merge.max() as Mergeable<never>, sample: (r) => (r() < 0.2 ? null : int(r, -50, 50)) },
  {
    name: 'setUnion',
    m: merge.setUnion() as Mergeable<never>,
    sample: normalized(merge.setUnion<string | number>(), (r) => arrayOf(r, 6, elem)),
  },
  {
    name: 'listAppend',
    m: merge.listAppend() as Mergeable<never>,
    sample: (r) => arrayOf(r, 4, (r) => int(r, 0, 9)),
    equal: asMultiset as (a: never, b: never) => boolean,
  },
  {
    name: 'topK',
    m: merge.topK(3, byScore) as Mergeable<never>,
    sample: normalized(merge.topK(3, byScore), (r) => arrayOf(r, 5, item)),
  },
  {
    name: 'mapOf(sum)',
    m: merge.mapOf(merge.sum()) as Mergeable<never>,
    sample: (r) => Object.fromEntries(arrayOf(r, 4, (r) => [pick(r, KEYS), int(r, -9, 9)])),
  },
  {
    name: 'mapOf(setUnion)',
    m: merge.mapOf(merge.setUnion()) as Mergeable<never>,
    sample: normalized(merge.mapOf(merge.setUnion<string | number>()), (r) =>
      Object.fromEntries(arrayOf(r, 3, (r) => [pick(r, KEYS), arrayOf(r, 3, elem)])),
    ),
  },
  {
    name: 'custom(or)',
    m: merge.custom(
      'or',
      () => 0,
      (a: number, b: number) => a | b,
    ) as Mergeable<never>,
    sample: (r) => int(r, 0, 255),
  },
];

describe('merge built-ins obey the Mergeable laws', () => {
  for (const c of cases) {
    it(`${c.name}: identity, commutativity, associativity, no mutation, JSON round trip`, () => {
      const r = prng(0x5eed + c.name.length);
      const options = c.equal === undefined ? {} : { equal: c.equal };
      // 200 rounds of 3 random samples: every ordered pair and triple of them is checked.
      for (let round = 0; round < 200; round++) {
        const samples = [c.sample(r), c.sample(r), c.sample(r)] as never[];
        const problems = checkMergeable(c.m, samples, options);
        expect(problems, `round ${round}`).toEqual([]);
      }
    });
  }
});

describe('merge built-ins: cases', () => {
  it('sum and count add; identity 0', () => {
    expect(merge.sum().combine(2, 3)).toBe(5);
    expect(merge.count().combine(merge.count().identity(), 1)).toBe(1);
  });
  it('min and max ignore the null identity', () => {
    const min = merge.min();
    const max = merge.max();
    expect(min.identity()).toBeNull();
    expect(min.combine(null, 5)).toBe(5);
    expect(min.combine(3, 5)).toBe(3);
    expect(max.combine(3, null)).toBe(3);
    expect(max.combine(3, 5)).toBe(5);
    expect(max.combine(null, null)).toBeNull();
  });
  it('setUnion dedupes and sorts (numbers first, then strings)', () => {
    const u = merge.setUnion<string | number>();
    expect(u.combine([3, 'b', 1, 1], [1, 'a', 2, 'b', '1'])).toEqual([1, 2, 3, '1', 'a', 'b']);
    expect(() => u.combine([{} as never], [])).toThrow(DirigoError);
    expect(() => u.combine([Number.NaN], [])).toThrow(/merge.setUnion/);
  });
  it('listAppend concatenates', () =>
    expect(merge.listAppend<number>().combine([1, 2], [3])).toEqual([1, 2, 3]));
  it('topK keeps the k best, ties by JSON text', () => {
    const top = merge.topK(2, (s: { n: string; p: number }) => s.p);
    let v = top.identity();
    for (const d of [
      [{ n: 'a', p: 1 }],
      [
        { n: 'b', p: 5 },
        { n: 'c', p: 3 },
      ],
      [{ n: 'd', p: 4 }],
    ]) {
      v = top.combine(v, d);
    }
    expect(v).toEqual([
      { n: 'b', p: 5 },
      { n: 'd', p: 4 },
    ]);
    expect(top.combine([{ n: 'z', p: 1 }], [{ n: 'y', p: 1 }])).toEqual([
      { n: 'y', p: 1 },
      { n: 'z', p: 1 },
    ]);
    expect(() => top.combine([{ n: 'x', p: Number.NaN }], [])).toThrow(DirigoError);
  });
  it('mapOf merges per key with the inner combiner, absent keys as identity', () => {
    const m = merge.mapOf(merge.max());
    expect(m.combine({ w1: 3, w2: null }, { w2: 7, w3: 1 })).toEqual({ w1: 3, w2: 7, w3: 1 });
    const out = merge.mapOf(merge.sum()).combine(JSON.parse('{"__proto__":1}'), { constructor: 2 });
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor']);
    expect(JSON.stringify(out)).toBe('{"__proto__":1,"constructor":2}');
  });
});

describe('merge: argument checks', () => {
  const fieldOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).field;
    }
    throw new Error('expected a ConfigError');
  };
  it('topK needs an integer k >= 1 and a score function', () => {
    expect(fieldOf(() => merge.topK(0, Number))).toBe('merge.topK(k)');
    expect(fieldOf(() => merge.topK(1.5, Number))).toBe('merge.topK(k)');
    expect(fieldOf(() => merge.topK(2, 'score' as never))).toBe('merge.topK(score)');
  });
  it('mapOf needs a Mergeable', () =>
    expect(fieldOf(() => merge.mapOf({} as never))).toBe('merge.mapOf(inner)'));
  it('custom needs a name, an identity function and a combine function', () => {
    expect(fieldOf(() => merge.custom('', () => 0, Math.max))).toBe('merge.custom(name)');
    expect(fieldOf(() => merge.custom('x', 0 as never, Math.max))).toBe('merge.custom(identity)');
    expect(fieldOf(() => merge.custom('x', () => 0, null as never))).toBe('merge.custom(combine)');
  });
});

describe('checkMergeable', () => {
  it('reports a combiner that is not commutative', () =>
    expect(
      checkMergeable(
        merge.custom<number | null>(
          'first',
          () => null,
          (a, b) => a ?? b,
        ),
        [1, 2],
      ).some((p) => p.includes('not commutative')),
    ).toBe(true));
  it('reports a combiner that mutates its arguments', () =>
    expect(
      checkMergeable(
        merge.custom<number[]>(
          'push',
          () => [],
          (a, b) => {
            a.push(...b);
            return a;
          },
        ),
        [[1], [2]],
      ).some((p) => p.includes('mutated')),
    ).toBe(true));
  it('reports an identity that does not survive JSON', () =>
    expect(
      checkMergeable(
        merge.custom('min', () => Infinity, Math.min),
        [1],
      )[0],
    ).toMatch(/identity.*json/));
});

describe('state.mergeable', () => {
  it('declares a mergeable cell whose accessor is a MergeableState', () => {
    const sum = merge.sum();
    expect(state.mergeable(sum)).toEqual({ kind: 'mergeable', serde: undefined, merge: sum });
    fn({
      leasable: true,
      state: {
        n: state.mergeable(merge.sum()),
        top: state.mergeable(merge.topK(2, (s: { p: number }) => s.p)),
        perWindow: state.mergeable(merge.mapOf(merge.max())),
      },
      handler(ctx) {
        expectTypeOf(ctx.state.n).toEqualTypeOf<MergeableState<number>>();
        expectTypeOf(ctx.state.top.get()).toEqualTypeOf<{ p: number }[]>();
        expectTypeOf(ctx.state.perWindow).toEqualTypeOf<MergeableState<Record<string, number | null>>>();
      },
    });
    fn({
      state: { v: state.value<number>(), m: state.map<string>() },
      handler(ctx) {
        expectTypeOf(ctx.state.v).toEqualTypeOf<ValueState<number>>();
        expectTypeOf(ctx.state.m).toEqualTypeOf<MapState<string>>();
      },
    });
  });
});
