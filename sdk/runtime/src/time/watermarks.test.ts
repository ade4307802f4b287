// The watermark of one input partition, alone: the lowest active input, the highest once every input is idle
// (as Flink's StatusWatermarkValve), and its own records for an ingress partition.

import type { OutgoingRecord } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { decodeControl } from '../protocol/codec.ts';
import { internalMap, StateCatalog } from '../state/catalog.ts';
import { spacePrefix, storeKey } from '../state/cell-key.ts';
import { StateLayer } from '../state/state-layer.ts';
import { MemoryStore } from '../state/store.ts';
import { WatermarkTracker, type WatermarkTrackerOptions } from './watermarks.ts';

const options = { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1_000, watermarkIntervalMs: 0 };
const space = { app: 'a', fn: 'f', slot: null };

function layer(store = new MemoryStore()): StateLayer {
  const catalog = new StateCatalog([{ app: 'a', fn: 'f', states: [internalMap('__watermarks')] }]);
  return new StateLayer('a.f.changelog', 0, catalog, store, space);
}

function tracker(o: Partial<WatermarkTrackerOptions> = {}, l?: StateLayer, now = 0): WatermarkTracker {
  return new WatermarkTracker(
    {
      app: 'a',
      self: 'f/0',
      sources: ['up/0', 'up/1', 'up/2'],
      external: false,
      options,
      targets: [{ topic: 'down', partition: 0 }],
      ...(l === undefined
        ? {}
        : { store: { layer: l, ck: storeKey(spacePrefix(space), '__watermarks', '') } }),
      ...o,
    },
    now,
  );
}

/** The watermark records `t` sends at `now`, decoded (undefined: none). */
function sent(t: WatermarkTracker, now: number): { wm: number | null; idle: boolean } | undefined {
  const out: OutgoingRecord[] = [];
  t.broadcast(now, out);
  if (out.length === 0) return undefined;
  const d = decodeControl(out[0]!.value);
  if (d.kind !== 'known' || d.message.type !== 'watermark') throw new Error('not a watermark');
  return { wm: d.message.wm, idle: d.message.idle };
}

describe('the input watermark', () => {
  it('is the lowest of the inputs that are not idle, once every one has reported', () => {
    const t = tracker();
    t.mark('up/0', 500, false);
    t.mark('up/1', 300, false);
    expect(t.watermark(0)).toBe(Number.NEGATIVE_INFINITY); // up/2 has not reported
    t.mark('up/2', 900, false);
    expect(t.watermark(0)).toBe(300);
    t.mark('up/1', 300, true); // idle: holds nobody back
    expect(t.watermark(0)).toBe(500);
  });

  it('is the highest of the idle inputs once every input is idle, and never goes back', () => {
    const t = tracker();
    t.mark('up/0', 500, true);
    t.mark('up/1', 300, true);
    t.mark('up/2', null, true); // idle without a watermark: not counted
    expect(t.watermark(0)).toBe(500);
    // up/1 wakes up at 400: the lowest active input would be 400, but the watermark never goes back.
    t.mark('up/1', 400, false);
    expect(t.watermark(0)).toBe(500);
    t.mark('up/1', 800, false);
    expect(t.watermark(0)).toBe(800);
  });

  it('sends the highest of its idle inputs on, marked idle; a new owner goes on from the committed marks', () => {
    const store = new MemoryStore();
    const l = layer(store);
    const t = tracker({}, l);
    t.mark('up/0', 500, true);
    t.mark('up/1', 300, true);
    t.mark('up/2', 700, true);
    expect(sent(t, 0)).toEqual({ wm: 700, idle: true });
    l.commit();
    expect(tracker({}, layer(store)).watermark(0)).toBe(700);
  });

  it('counts the own records of an ingress partition, idle after idleTimeoutMs', () => {
    const t = tracker({ external: true, sources: [] }, undefined, 0);
    expect(t.observe(100, 0)).toBe(true);
    expect(t.observe(50, 0)).toBe(false); // out of order: the highest stays
    expect(t.watermark(0)).toBe(100);
    expect(t.idle(999)).toBe(false);
    expect(t.idle(1_000)).toBe(true);
    expect(t.observe(60, 2_000)).toBe(true); // not idle any more: may move (here it does not)
    expect(t.watermark(2_000)).toBe(100);
  });
});
