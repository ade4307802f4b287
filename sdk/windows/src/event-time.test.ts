// Windows over the runtime's event time, where a step or a second stage could lose records: every record of a
// step is judged against the watermark of its position in the partition (not the step's last one), and what a
// window close sends to a second windowed stage is not late there, without any grace beyond the first stage's.
import { defineApp, merge, partitionFor } from '@dirigo/core';
import { TestDriver } from '@dirigo/testkit';
import { describe, expect, it } from 'vitest';
import { tumbling, WINDOW_STATE, windowed } from './index.ts';

const T0 = Date.UTC(2026, 0, 1);
const eventTime = { maxOutOfOrdernessMs: 0, idleTimeoutMs: 60_000, watermarkIntervalMs: 100 };
/** A key of partition `p` of 2 other than 'k0'. */
const keyOn = (p: number): string => {
  for (let i = 1; ; i++) if (partitionFor(Buffer.from(`k${i}`), 2) === p) return `k${i}`;
};

describe('one step', () => {
  it('an in-order record is not late when a later record of its step closes its window', async () => {
    const app = defineApp({
      name: 'w',
      options: { eventTime },
      ingresses: [{ topic: 'in', to: 'agg' }],
      egresses: { out: { topic: 'out' } },
      functions: {
        agg: windowed({
          window: tumbling({ sizeMs: 1000 }),
          merge: merge.count(),
          value: () => 1,
          onClose: (ctx, w) => ctx.emit('out', w.key, { start: w.start - T0, value: w.value }),
        }),
      },
    });
    const d = await TestDriver.start(app, { ingressPartitions: 1, startTime: T0 });
    try {
      // One step: 1500 takes the watermark past [0, 1000) only after 100 was counted.
      await d.pipe('in', [
        { key: 'a', value: {}, timestamp: T0 + 100 },
        { key: 'a', value: {}, timestamp: T0 + 900 },
        { key: 'a', value: {}, timestamp: T0 + 1500 },
      ]);
      expect(await d.state('w', 'agg', 'a', WINDOW_STATE.late)).toBeUndefined();
      expect((await d.output('out')).map((r) => r.value)).toEqual([{ start: 0, value: 2 }]);
    } finally {
      await d.stop();
    }
  });
});

describe('two windowed stages', () => {
  // `first` counts per key and window; each close sends its count to `second` under one key, whose event time
  // is the window start: `second` sums the counts of each window over every key. Both have the same grace.
  const app = (graceMs: number) =>
    defineApp({
      name: 'two',
      options: { eventTime },
      ingresses: [{ topic: 'in', to: 'first' }],
      egresses: { seen: { topic: 'seen' }, out: { topic: 'out' } },
      functions: {
        first: windowed({
          window: tumbling({ sizeMs: 1000, graceMs }),
          merge: merge.count(),
          value: () => 1,
          sends: ['second'],
          onClose: (ctx, w) => ctx.send('second', 'all', { start: w.start, count: w.value }),
        }),
        second: windowed({
          window: tumbling({ sizeMs: 1000, graceMs }),
          merge: merge.sum(),
          eventTime: (m: { start: number }) => m.start,
          value(m: { start: number; count: number }, ctx) {
            ctx.emit('seen', null, { t: ctx.eventTime - T0, wm: ctx.watermark - T0 });
            return m.count;
          },
          onClose: (ctx, w) => ctx.emit('out', w.key, { start: w.start - T0, value: w.value }),
        }),
      },
    });
  const drain = async (d: TestDriver) => {
    for (let i = 0; i < 4; i++) await d.advance(200);
  };

  it('a window result sent on by onClose is not late at the next stage, though the watermark jumped past it', async () => {
    const d = await TestDriver.start(app(0), { ingressPartitions: 1, startTime: T0 });
    try {
      await d.pipe('in', [{ key: 'a', value: {}, timestamp: T0 + 100 }]);
      await d.advance(200);
      await d.pipe('in', [{ key: 'a', value: {}, timestamp: T0 + 5000 }]); // closes [0, 1000) of 'a'
      await drain(d);
      await d.pipe('in', [{ key: 'b', value: {}, timestamp: T0 + 9000 }]); // closes [5000, 6000) of 'a'
      await drain(d);
      expect(await d.state('two', 'second', 'all', WINDOW_STATE.late)).toBeUndefined();
      expect((await d.output('out')).map((r) => r.value)).toEqual([
        { start: 0, value: 1 },
        { start: 5000, value: 1 },
      ]);
    } finally {
      await d.stop();
    }
  });

  it('gives every window of a long input in one step, with the same grace at both stages', async () => {
    const d = await TestDriver.start(app(200), { ingressPartitions: 2, startTime: T0 });
    try {
      // 3 keys (on both partitions), a record every 70 ms for 20 s of event time, one step per partition.
      const keys = ['k0', keyOn(0), keyOn(1)];
      const input = Array.from({ length: 300 }, (_, i) => ({
        key: keys[i % 3]!,
        value: {},
        timestamp: T0 + i * 70,
      }));
      await d.pipe('in', [...input, ...keys.map((key) => ({ key, value: {}, timestamp: T0 + 60_000 }))]);
      await drain(d);
      const want = new Map<number, number>();
      for (const r of input) {
        const start = Math.floor((r.timestamp - T0) / 1000) * 1000;
        want.set(start, (want.get(start) ?? 0) + 1);
      }
      expect(await d.state('two', 'second', 'all', WINDOW_STATE.late)).toBeUndefined();
      const out = (await d.output<{ start: number; value: number }>('out')).map((r) => r.value);
      expect(out.sort((x, y) => x.start - y.start)).toEqual(
        [...want].map(([start, value]) => ({ start, value })).sort((x, y) => x.start - y.start),
      );
      // Every count reached `second` before its watermark passed the window (none seen late).
      for (const s of (await d.output<{ t: number; wm: number | null }>('seen')).map((r) => r.value))
        expect(s.wm === null || s.wm < s.t + 1000 + 200).toBe(true);
    } finally {
      await d.stop();
    }
  });
});
