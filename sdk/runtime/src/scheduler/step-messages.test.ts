import { afterEach, describe, expect, it, vi } from 'vitest';
import { Dispatcher } from './dispatcher.ts';
import { createPolicy } from './registry.ts';
import { ManualClock } from './sim.ts';
import { MARK_CRITICAL, MARK_LEASABLE, StepMessages } from './step-messages.ts';
import type { ScheduledMessage, SchedulingPolicy } from './types.ts';

/** A step of `keys` as columns: ingest 1000 + i, deadline 2000 + i, marks as given. */
function columns(keys: string[], marks?: number[], queue = 'q/0'): StepMessages {
  const ingest = Float64Array.from(keys, (_, i) => 1000 + i);
  const deadline = Float64Array.from(keys, (_, i) => 2000 + i);
  const flags = marks === undefined ? undefined : Uint8Array.from(marks);
  return new StepMessages('app', 'fn', queue, 'high', keys, ingest, deadline, flags, 5);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('StepMessages', () => {
  it("makes a message's object from the columns once, with the step's app, function, queue and priority", () => {
    const m = columns(['a', 'b', 'c'], [0, MARK_CRITICAL, MARK_LEASABLE]);
    m.stamp(42);
    const b = m.at(1);
    expect(b).toEqual({
      app: 'app',
      fn: 'fn',
      key: 'b',
      queue: 'q/0',
      priority: 'high',
      ingest: 1001,
      deadline: 2001,
      enqueuedAt: 42,
      critical: true,
      leasable: undefined,
    });
    expect(m.at(1)).toBe(b);
    expect(m.at(2).leasable).toBe(true);
    expect(m.at(2).critical).toBeUndefined();
    expect(m.at(0).critical).toBeUndefined();
    expect([m.criticalAt(0), m.criticalAt(1), m.criticalAt(2)]).toEqual([false, true, false]);
  });

  it('keeps objects it is given: the same ones, stamped, with their own app and function', () => {
    const given: ScheduledMessage[] = [
      {
        app: 'a1',
        fn: 'f1',
        key: 'k',
        queue: 'q',
        priority: 'normal',
        ingest: 1,
        deadline: 2,
        enqueuedAt: 0,
      },
      {
        app: 'a2',
        fn: 'f2',
        key: 'j',
        queue: 'q',
        priority: 'normal',
        ingest: 3,
        deadline: 4,
        enqueuedAt: 0,
        critical: true,
      },
    ];
    const m = StepMessages.of(given);
    m.stamp(9);
    expect(m.at(0)).toBe(given[0]);
    expect(m.at(1)).toBe(given[1]);
    expect(given.map((g) => g.enqueuedAt)).toEqual([9, 9]);
    expect([m.appAt(1), m.fnAt(1), m.criticalAt(1), m.criticalAt(0)]).toEqual(['a2', 'f2', true, false]);
    expect([...m.keys, ...m.ingest, ...m.deadline]).toEqual(['k', 'j', 1, 3, 2, 4]);
  });
});

describe('Dispatcher: a step given as columns', () => {
  it('shows every hook one object per message: the arrival, the head and the completion see the same one', async () => {
    const clock = new ManualClock(100);
    const arrived: ScheduledMessage[] = [];
    const heads: ScheduledMessage[] = [];
    const completed: ScheduledMessage[] = [];
    const fifo = createPolicy('fifo');
    const policy: SchedulingPolicy = {
      name: 'seeing',
      onArrival: (m) => {
        arrived.push(m);
        return 'admit';
      },
      pickNext: (view) => {
        for (const q of view.queues) if (q.head !== undefined) heads.push(q.head);
        return fifo.pickNext(view);
      },
      onComplete: (m) => {
        completed.push(m);
      },
    };
    const d = new Dispatcher({ policy, clock, runLength: 1 });
    const ran: number[] = [];
    const step = columns(['a', 'b', 'a', 'c'], [MARK_CRITICAL, 0, 0, 0]);
    await d.submit(step, (i) => {
      ran.push(i);
    });
    expect(ran).toEqual([0, 1, 2, 3]);
    // The critical message skips the arrival hook.
    expect(arrived.map((m) => m.key)).toEqual(['b', 'a', 'c']);
    expect(completed.map((m) => m.key)).toEqual(['a', 'b', 'a', 'c']);
    for (let i = 0; i < 4; i++) expect(completed[i]).toBe(step.at(i));
    for (const m of arrived) expect(completed).toContain(m);
    for (const h of heads) expect(completed).toContain(h);
    expect(completed.every((m) => m.enqueuedAt === 100 && m.app === 'app' && m.fn === 'fn')).toBe(true);
    expect(completed.map((m) => m.deadline)).toEqual([2000, 2001, 2002, 2003]);
  });

  it('shows a queue its first and last deadline and its enqueue time from the columns', async () => {
    const clock = new ManualClock(300);
    let seen: { first: number; last: number; oldest: number; head: string | undefined } | undefined;
    const fifo = createPolicy('fifo');
    const policy: SchedulingPolicy = {
      name: 'looking',
      pickNext: (view) => {
        const q = view.queues[0]!;
        seen ??= {
          first: q.firstDeadline,
          last: q.lastDeadline,
          oldest: q.oldestEnqueuedAt,
          head: q.head?.key,
        };
        return fifo.pickNext(view);
      },
    };
    const d = new Dispatcher({ policy, clock });
    await d.submit(columns(['x', 'y', 'z']), () => {});
    expect(seen).toEqual({ first: 2000, last: 2002, oldest: 300, head: 'x' });
  });

  it('makes no object for a message no policy hook looks at (edf: one head per run)', async () => {
    const at = vi.spyOn(StepMessages.prototype, 'at');
    const d = new Dispatcher({ policy: createPolicy('edf'), clock: new ManualClock(), runLength: 32 });
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i % 50}`);
    let ran = 0;
    await d.submit(columns(keys), () => {
      ran++;
    });
    expect(ran).toBe(1000);
    // At most one head per run of 32 (and the first message of the function, which runs alone).
    expect(at.mock.calls.length).toBeLessThanOrEqual(Math.ceil(1000 / 32) + 2);
    expect(at.mock.calls.length).toBeGreaterThan(0);
  });

  it('keeps per-key order across async messages of a step given as columns', async () => {
    const d = new Dispatcher({ policy: createPolicy('edf'), clock: new ManualClock(), maxInFlight: 8 });
    const keys = ['a', 'b', 'a', 'b', 'c', 'a'];
    const running = new Set<string>();
    let overlapped = false;
    let together = 0;
    const done: number[] = [];
    await d.submit(columns(keys), async (i) => {
      const key = keys[i]!;
      if (running.has(key)) overlapped = true;
      running.add(key);
      together = Math.max(together, running.size);
      await new Promise<void>((r) => setImmediate(r));
      running.delete(key);
      done.push(i);
    });
    expect(overlapped).toBe(false);
    expect(together).toBeGreaterThan(1); // different keys did overlap
    expect(done.filter((i) => keys[i] === 'a')).toEqual([0, 2, 5]);
    expect(done).toHaveLength(6);
  });
});
