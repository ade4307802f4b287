// Windows over the runtime's event time, where a step could lose records: every record of a step is judged
// against the watermark of its position in the partition (not the step's last one).
import { defineApp, merge } from '@dirigo/core';
import { TestDriver } from '@dirigo/testkit';
import { describe, expect, it } from 'vitest';
import { tumbling, WINDOW_STATE, windowed } from './index.ts';

const T0 = Date.UTC(2026, 0, 1);
const eventTime = { maxOutOfOrdernessMs: 0, idleTimeoutMs: 60_000, watermarkIntervalMs: 100 };

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
