// Window specs and assignment, and the session combiner's laws (checkMergeable), with a broken combiner to show
// the check notices.
import { ConfigError, checkMergeable, type Mergeable, merge } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { hopping, type Session, session, sessionMerge, tumbling, windowed, windowStarts } from './index.ts';

describe('window specs', () => {
  it('assigns event times to tumbling and hopping windows (epoch-aligned, negative times too)', () => {
    const t = tumbling({ sizeMs: 1000 });
    expect(windowStarts(t, 0)).toEqual([0]);
    expect(windowStarts(t, 999)).toEqual([0]);
    expect(windowStarts(t, 1000)).toEqual([1000]);
    expect(windowStarts(t, -1)).toEqual([-1000]);
    const h = hopping({ sizeMs: 1000, slideMs: 250 });
    expect(windowStarts(h, 1100)).toEqual([250, 500, 750, 1000]);
    expect(windowStarts(h, 1000)).toEqual([250, 500, 750, 1000]);
    expect(windowStarts(hopping({ sizeMs: 1000, slideMs: 400 }), 1000)).toEqual([400, 800]);
    expect(windowStarts(hopping({ sizeMs: 1000, slideMs: 1000 }), 1500)).toEqual([1000]);
  });

  it('rejects bad specs and options with a ConfigError naming the field', () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        if (e instanceof ConfigError) return e.field;
        throw e;
      }
      return 'no error';
    };
    expect(field(() => tumbling({ sizeMs: 0 }))).toBe('tumbling.sizeMs');
    expect(field(() => tumbling({ sizeMs: 10, graceMs: -1 }))).toBe('tumbling.graceMs');
    expect(field(() => hopping({ sizeMs: 10, slideMs: 20 }))).toBe('hopping.slideMs');
    expect(field(() => session({ gapMs: 1.5 }))).toBe('session.gapMs');
    const base = { window: tumbling({ sizeMs: 10 }), merge: merge.count(), value: () => 1, onClose() {} };
    expect(field(() => windowed({ ...base, window: { kind: 'nope' } as never }))).toBe('windowed.window');
    expect(field(() => windowed({ ...base, merge: {} as never }))).toBe('windowed.merge');
    expect(field(() => windowed({ ...base, late: { egress: '' } }))).toBe('windowed.late');
    expect(field(() => windowed({ ...base, onClose: undefined as never }))).toBe('windowed.onClose');
  });
});

describe('sessionMerge', () => {
  const s = (start: number, end: number, value: number): Session<number> => ({ start, end, value });
  const samples: Session<number>[][] = [
    [],
    [s(0, 10, 1)],
    [s(5, 15, 2)],
    [s(10, 20, 4)], // touches [0, 10): stays apart from it
    [s(0, 10, 8), s(30, 40, 16)],
    [s(8, 32, 32)], // bridges [0, 10) and [30, 40)
    [s(-5, 1, 64), s(12, 14, 128)],
  ];

  it('is associative, commutative, with [] as identity (checkMergeable)', () => {
    expect(checkMergeable(sessionMerge(merge.sum()), samples)).toEqual([]);
    expect(checkMergeable(sessionMerge(merge.max()), [[], [{ start: 0, end: 3, value: 7 }]])).toEqual([]);
  });

  it('merges overlapping sessions transitively, keeps touching ones apart', () => {
    const m = sessionMerge(merge.sum());
    expect(m.combine([s(0, 10, 1), s(30, 40, 2)], [s(8, 32, 4)])).toEqual([s(0, 40, 7)]);
    expect(m.combine([s(0, 10, 1)], [s(10, 20, 2)])).toEqual([s(0, 10, 1), s(10, 20, 2)]);
  });

  it('would notice a broken combiner (merging only neighbours of the first list)', () => {
    const broken: Mergeable<Session<number>[]> = {
      name: 'broken-sessions',
      identity: () => [],
      combine: (a, b) => {
        const out = a.map((x) => ({ ...x }));
        for (const y of b) {
          const hit = out.find((x) => x.start < y.end && y.start < x.end);
          if (hit === undefined) out.push({ ...y });
          else {
            hit.start = Math.min(hit.start, y.start);
            hit.end = Math.max(hit.end, y.end);
            hit.value += y.value;
          }
        }
        return out.sort((x, y) => x.start - y.start);
      },
    };
    expect(checkMergeable(broken, samples).length).toBeGreaterThan(0);
  });
});
