// The watermark of one input partition, alone: the lowest active input, the highest once every input is idle
// (as Flink's StatusWatermarkValve), its own records for an ingress partition, and the outgoing watermark held
// below the fired self-timers in flight, persisted with the steps and reloaded after a failed step.

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
  it('counts idleness from the end of the step that read the records, not from their reading', () => {
    // A best-effort app's step can wait in the dispatcher for longer than idleTimeoutMs (1 s here): at its end
    // the partition's next records are already due, so it must not tell the next functions it is idle.
    const t = tracker({ external: true, sources: [] }, undefined, 0);
    t.observe(100, 0);
    t.stepEnded(5_000);
    expect(t.idle(5_500)).toBe(false);
    expect(sent(t, 5_500)).toEqual({ wm: 100, idle: false });
    expect(t.idle(6_001)).toBe(true);
    // A step that read nothing of the partition (a timer or watermark step) does not make it busy again.
    t.stepEnded(9_000);
    expect(t.idle(9_000)).toBe(true);
  });
});

describe('the outgoing watermark', () => {
  it('stays 1 ms below the earliest fired self-timer until its message has run', () => {
    const l = layer();
    const t = tracker({ sources: ['up/0'] }, l);
    t.mark('up/0', 1_000, false);
    expect(sent(t, 0)).toEqual({ wm: 1_000, idle: false });
    t.hold(1_200);
    t.hold(1_200);
    t.hold(1_500);
    t.mark('up/0', 5_000, false);
    expect(t.watermark(10)).toBe(5_000); // the partition's own watermark is not held
    expect(sent(t, 10)).toEqual({ wm: 1_199, idle: false });
    t.release(1_200);
    expect(t.outgoing(20).wm).toBe(1_199); // one of the two is still in flight
    t.release(1_200);
    expect(sent(t, 20)).toEqual({ wm: 1_499, idle: false });
    t.release(1_500);
    expect(sent(t, 30)).toEqual({ wm: 5_000, idle: false });
    t.release(1_500); // not held (any more): nothing happens
    expect(t.outgoing(40).wm).toBe(5_000);
  });

  it('never goes back for a timer fired behind what was sent, and is not idle while one is in flight', () => {
    const t = tracker({ sources: ['up/0'] }, layer());
    t.mark('up/0', 3_000, true);
    expect(sent(t, 0)).toEqual({ wm: 3_000, idle: true });
    t.hold(1_000); // behind the watermark sent already: too late to hold it back
    expect(sent(t, 10)).toEqual({ wm: 3_000, idle: false });
    t.release(1_000);
    expect(sent(t, 20)).toEqual({ wm: 3_000, idle: true });
  });

  it('keeps its holds in the state: a new owner holds too, and a failed step forgets its own', () => {
    const store = new MemoryStore();
    const l = layer(store);
    const t = tracker({ sources: ['up/0'] }, l);
    t.mark('up/0', 5_000, false);
    t.hold(1_200);
    l.commit();
    const next = tracker({ sources: ['up/0'] }, layer(store));
    expect(next.outgoing(0).wm).toBe(1_199);
    // A step holds 1100 and releases 1200, then fails: its writes are discarded, and so are its holds.
    t.hold(1_100);
    t.release(1_200);
    expect(t.outgoing(0).wm).toBe(1_099);
    l.discard();
    expect(t.outgoing(0).wm).toBe(1_199);
    t.release(1_200);
    l.commit();
    expect(tracker({ sources: ['up/0'] }, layer(store)).outgoing(0).wm).toBe(5_000);
  });
});
