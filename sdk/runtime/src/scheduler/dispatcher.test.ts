import type { Logger } from '@dirigo/core';
import { describe, expect, it, vi } from 'vitest';
import { Dispatcher } from './dispatcher.ts';
import { DispatcherClosedError } from './dispatcher-options.ts';
import { InMemorySchedulerMetrics } from './metrics.ts';
import { createPolicy } from './registry.ts';
import { ManualClock, message } from './sim.ts';
import type { SchedulingPolicy } from './types.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

/** A promise the test resolves or rejects by hand. */
function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function fakeLogger() {
  const warn = vi.fn();
  const logger = { warn, child: () => logger } as unknown as Logger;
  return { logger, warn };
}

describe('Dispatcher: sync path', () => {
  it('runs every message of a step in order and resolves; stamps enqueuedAt', async () => {
    const clock = new ManualClock(100);
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock });
    const msgs = ['a', 'b', 'a', 'c'].map((key) => message({ key }));
    const ran: number[] = [];
    await d.submit(msgs, (i) => {
      ran.push(i);
    });
    expect(ran).toEqual([0, 1, 2, 3]);
    expect(msgs.every((m) => m.enqueuedAt === 100)).toBe(true);
    expect(d.stats()).toMatchObject({ queued: 0, inFlight: 0, queues: 0 });
  });

  it('resolves an empty step at once', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    await expect(d.submit([], () => {})).resolves.toBeUndefined();
  });

  it('yields to the event loop so a batch fetched meanwhile overtakes a backlog', async () => {
    const clock = new ManualClock();
    const d = new Dispatcher({ policy: createPolicy('priority'), clock, yieldEvery: 10 });
    const order: string[] = [];
    const backlog = Array.from({ length: 100 }, (_, i) =>
      message({ app: 'bulk', key: `k${i}`, priority: 'batch' }),
    );
    const urgent = [message({ app: 'alert', priority: 'critical' })];
    let submitted: Promise<void> | undefined;
    const bulkDone = d.submit(backlog, (i) => {
      order.push(`bulk${i}`);
      // A fetch of another app completes while the backlog runs: it arrives in a later macrotask.
      if (i === 0)
        setImmediate(() => {
          submitted = d.submit(urgent, () => {
            order.push('alert');
          });
        });
    });
    await bulkDone;
    await submitted;
    const at = order.indexOf('alert');
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(30); // after a slice or two, not after the whole backlog
    expect(order).toHaveLength(101);
  });

  it('does not starve the event loop with handlers that resolve at once', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock(), yieldEvery: 100 });
    let completed = 0;
    let seenByMacrotask = -1;
    const msgs = Array.from({ length: 5_000 }, (_, i) => message({ key: `k${i}` }));
    setImmediate(() => {
      seenByMacrotask = completed;
    });
    await d.submit(
      msgs,
      async () => {
        completed++;
      },
      { maxConcurrentKeys: 64 },
    );
    expect(completed).toBe(5_000);
    expect(seenByMacrotask).toBeGreaterThan(0);
    expect(seenByMacrotask).toBeLessThan(1_000);
  });
});

describe('Dispatcher: ordering invariant with async handlers', () => {
  it('never overlaps one key and keeps its order; other keys overlap up to maxConcurrentKeys', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    const keys = ['a', 'a', 'b', 'c', 'a', 'd', 'e'];
    const msgs = keys.map((key) => message({ key }));
    const gates = keys.map(() => deferred());
    const started: number[] = [];
    const running = new Set<number>();
    let maxRunning = 0;
    const done = d.submit(
      msgs,
      (i) => {
        for (const j of running) expect(keys[j]).not.toBe(keys[i]);
        started.push(i);
        running.add(i);
        maxRunning = Math.max(maxRunning, running.size);
        return gates[i]!.promise.then(() => {
          running.delete(i);
        });
      },
      { maxConcurrentKeys: 3 },
    );
    await turn();
    // a(0), b(2), c(3) start; a(1) waits for a(0); the limit of 3 keys stops d and e.
    expect(started).toEqual([0, 2, 3]);
    gates[2]!.resolve(); // b done -> d(5) may start (a(1) is still blocked by a(0))
    await turn();
    expect(started).toEqual([0, 2, 3, 5]);
    gates[0]!.resolve(); // a(0) done -> a(1) starts
    await turn();
    expect(started).toEqual([0, 2, 3, 5, 1]);
    for (const g of gates) g.resolve();
    await done;
    expect(started.filter((i) => keys[i] === 'a')).toEqual([0, 1, 4]);
    expect(maxRunning).toBe(3);
  });

  it('keeps per-key order across two steps of one queue', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    const gate = deferred();
    const seen: string[] = [];
    const s1 = d.submit([message({ key: 'x' })], () => {
      seen.push('x1');
      return gate.promise;
    });
    const s2 = d.submit([message({ key: 'x' }), message({ key: 'y' })], (i) => {
      seen.push(i === 0 ? 'x2' : 'y2');
    });
    await turn();
    expect(seen).toEqual(['x1', 'y2']);
    gate.resolve();
    await Promise.all([s1, s2]);
    expect(seen).toEqual(['x1', 'y2', 'x2']);
  });

  it('bounds messages in flight across queues by maxInFlight', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock(), maxInFlight: 2 });
    const gates = [deferred(), deferred(), deferred()];
    let started = 0;
    const all = [0, 1, 2].map((i) =>
      d.submit([message({ queue: `q${i}` })], () => {
        started++;
        return gates[i]!.promise;
      }),
    );
    await turn();
    expect(started).toBe(2);
    expect(d.stats().inFlight).toBe(2);
    gates[0]!.resolve();
    await turn();
    expect(started).toBe(3);
    for (const g of gates) g.resolve();
    await Promise.all(all);
  });
});

describe('Dispatcher: errors', () => {
  it('abandons the rest of a step when run throws and rejects with the first error', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    const ran: number[] = [];
    const other: number[] = [];
    const failing = d.submit(
      [0, 1, 2].map((i) => message({ key: `k${i}` })),
      (i) => {
        ran.push(i);
        if (i === 1) throw new Error('boom');
      },
    );
    const fine = d.submit([message({ queue: 'other/0' })], (i) => {
      other.push(i);
    });
    await expect(failing).rejects.toThrow('boom');
    await fine;
    expect(ran).toEqual([0, 1]);
    expect(other).toEqual([0]);
  });

  it('waits for running messages before rejecting an async step', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    const slow = deferred();
    let settled = false;
    const p = d.submit(
      [message({ key: 'a' }), message({ key: 'b' }), message({ key: 'c' })],
      (i) => {
        if (i === 0) return slow.promise;
        if (i === 1) return Promise.reject(new Error('first'));
        return undefined;
      },
      { maxConcurrentKeys: 2 },
    );
    p.catch(() => {}).finally(() => {
      settled = true;
    });
    await turn();
    expect(settled).toBe(false);
    slow.resolve();
    await expect(p).rejects.toThrow('first');
  });

  it('rejects queued steps on close', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    const p = d.submit([message()], () => {});
    d.close();
    await expect(p).rejects.toBeInstanceOf(DispatcherClosedError);
    await expect(d.submit([message()], () => {})).rejects.toBeInstanceOf(DispatcherClosedError);
  });
});

describe('Dispatcher: a misbehaving policy is contained', () => {
  it('falls back to FIFO when hooks throw, logs once per hook per minute, and counts every failure', async () => {
    const clock = new ManualClock();
    const { logger, warn } = fakeLogger();
    const metrics = new InMemorySchedulerMetrics({ clock });
    const policy: SchedulingPolicy = {
      name: 'broken',
      onArrival: () => {
        throw new Error('arrival');
      },
      pickNext: () => {
        throw new Error('pick');
      },
      onComplete: () => {
        throw new Error('complete');
      },
      onTick: () => {
        throw new Error('tick');
      },
    };
    const d = new Dispatcher({ policy, clock, logger, metrics });
    const order: string[] = [];
    const a = d.submit([message({ app: 'a', key: '1' }), message({ app: 'a', key: '2' })], (i) => {
      order.push(`a${i}`);
    });
    clock.advance(1);
    const b = d.submit([message({ app: 'b' })], () => {
      order.push('b0');
    });
    await Promise.all([a, b]);
    d.tick();
    expect(order).toEqual(['a0', 'a1', 'b0']);
    const hooks = warn.mock.calls.map((c) => (c[0] as { hook: string }).hook);
    expect(hooks.sort()).toEqual(['onArrival', 'onComplete', 'onTick', 'pickNext']);
    expect(d.stats().policyErrors).toBe(3 + 3 + 3 + 1);
    expect(metrics.snapshot().policyErrors['broken.pickNext']).toBe(3);
    clock.advance(60_000);
    d.tick();
    expect(warn).toHaveBeenCalledTimes(5);
  });

  it('runs the oldest head when pickNext answers an ineligible queue or nothing', async () => {
    const { logger, warn } = fakeLogger();
    let answer: 'stale' | 'none' = 'stale';
    let stale: unknown;
    const policy: SchedulingPolicy = {
      name: 'odd',
      pickNext: (view) => {
        stale ??= view.queues[0];
        return answer === 'stale' ? (stale as never) : undefined;
      },
    };
    // One decision per message (no runs): each of q/1's two messages is a stale answer.
    const d = new Dispatcher({ policy, clock: new ManualClock(), logger, runLength: 1 });
    await d.submit([message({ queue: 'q/0' })], () => {});
    const ran: number[] = [];
    await d.submit([message({ queue: 'q/1' }), message({ queue: 'q/1' })], (i) => {
      ran.push(i);
    });
    expect(ran).toEqual([0, 1]);
    expect(warn).toHaveBeenCalledTimes(1);
    answer = 'none';
    await d.submit([message({ queue: 'q/2' })], () => {});
    expect(d.stats().policyErrors).toBe(2);
  });
});

describe('Dispatcher: arrival and send decisions', () => {
  it('keeps a deferred message (and later ones of its key) until the next tick', async () => {
    const policy: SchedulingPolicy = {
      name: 'defer-x',
      onArrival: (m) => (m.key === 'x' && m.ingest === 1 ? 'defer' : 'admit'),
      pickNext: (v) => v.queues.find((q) => q.head !== undefined),
    };
    const d = new Dispatcher({ policy, clock: new ManualClock() });
    const seen: string[] = [];
    const msgs = [message({ key: 'x', ingest: 1 }), message({ key: 'x', ingest: 2 }), message({ key: 'y' })];
    const p = d.submit(msgs, (i) => {
      seen.push(`${msgs[i]!.key}${msgs[i]!.ingest}`);
    });
    await turn();
    expect(seen).toEqual(['y0']);
    expect(d.stats()).toMatchObject({ queued: 2, deferred: 1 });
    d.tick();
    await p;
    expect(seen).toEqual(['y0', 'x1', 'x2']);
  });

  it('runs deprioritised messages after the others, keeping per-key order', async () => {
    const policy: SchedulingPolicy = {
      name: 'deprio-late',
      onArrival: (m) => (m.deadline < 100 ? 'deprioritise' : 'admit'),
      pickNext: (v) => v.queues.find((q) => q.head !== undefined),
    };
    const d = new Dispatcher({ policy, clock: new ManualClock() });
    const msgs = [
      message({ key: 'a', deadline: 50 }),
      message({ key: 'b', deadline: 500 }),
      message({ key: 'a', deadline: 500 }),
      message({ key: 'c', deadline: 60 }),
    ];
    const seen: number[] = [];
    await d.submit(msgs, (i) => {
      seen.push(i);
    });
    // b runs first; a(2) must wait for the deprioritised a(0); then the deprioritised in order.
    expect(seen).toEqual([1, 0, 2, 3]);
    expect(d.stats().deprioritised).toBe(2);
  });

  it('counts a forward and applies its fallback; critical messages skip the arrival hook', async () => {
    const metrics = new InMemorySchedulerMetrics({ clock: new ManualClock() });
    const onArrival = vi.fn(() => ({ forward: 'peer-1', fallback: 'deprioritise' as const }));
    const policy: SchedulingPolicy = { name: 'fw', onArrival, pickNext: (v) => v.queues[0] };
    const d = new Dispatcher({ policy, clock: new ManualClock(), metrics });
    await d.submit([message({ key: 'a' }), message({ key: 'b', critical: true })], () => {});
    expect(onArrival).toHaveBeenCalledTimes(1);
    expect(d.stats()).toMatchObject({ forwarded: 0, forwardFallbacks: 1, deprioritised: 1 });
    expect(metrics.snapshot().apps.a?.arrivals).toEqual({ admit: 1, defer: 0, deprioritise: 1, forward: 1 });
  });

  it('hands forwarded messages to the outlet instead of running them, and falls back when it refuses', async () => {
    const policy: SchedulingPolicy = {
      name: 'fw-odd',
      onArrival: (m) => (Number(m.key) % 2 === 1 ? { forward: 'lessee' } : 'admit'),
      pickNext: (v) => v.queues[0],
    };
    const d = new Dispatcher({ policy, clock: new ManualClock() });
    const ran: number[] = [];
    const forwarded: [number, string][] = [];
    await d.submit(
      [0, 1, 2, 3, 5].map((k) => message({ key: String(k) })),
      {
        run: (i) => {
          ran.push(i);
        },
        forward: (i, to) => {
          if (i === 4) return false; // refused: runs here
          forwarded.push([i, to]);
          return true;
        },
      },
    );
    expect(ran).toEqual([0, 2, 4]);
    expect(forwarded).toEqual([
      [1, 'lessee'],
      [3, 'lessee'],
    ]);
    expect(d.stats()).toMatchObject({ forwarded: 2, forwardFallbacks: 1, queued: 0 });
    // A step whose every message leaves resolves at once, and the next step of the queue still runs.
    await d.submit([message({ key: '1' }), message({ key: '3' })], { run: () => {}, forward: () => true });
    await d.submit([message({ key: '2' })], (i) => {
      ran.push(10 + i);
    });
    expect(ran).toEqual([0, 2, 4, 10]);
    expect(d.stats()).toMatchObject({ forwarded: 4, queues: 0 });
  });

  it('asks the send hook and counts holds', () => {
    const policy: SchedulingPolicy = {
      name: 'hold-batch',
      pickNext: (v) => v.queues[0],
      onSend: (_m, target) => (target.app === 'batch' ? 'hold' : 'pass'),
    };
    const d = new Dispatcher({ policy, clock: new ManualClock() });
    expect(d.checkSend(message(), { app: 'batch', fn: 'f', topic: 't' })).toBe('hold');
    expect(d.checkSend(message(), { app: 'web', fn: 'f', topic: 't' })).toBe('pass');
    expect(d.stats().held).toBe(1);
    const plain = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock() });
    expect(plain.checkSend(message(), { app: 'batch', fn: 'f', topic: 't' })).toBe('pass');
  });
});

describe('Dispatcher: measurements', () => {
  it('measures cost, queueing, latency against the deadline, utilisation and the cost estimate', async () => {
    const clock = new ManualClock(1_000);
    const metrics = new InMemorySchedulerMetrics({ clock });
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock, metrics, yieldAfterMs: Infinity });
    const msgs = [0, 1, 2, 3].map((i) => message({ key: `k${i}`, ingest: 990, deadline: 1_020 }));
    await d.submit(msgs, () => clock.advance(10));
    expect(d.costEstimate('a', 'f')).toBe(10);
    expect(d.costEstimate('a', 'unknown')).toBe(1);
    clock.advance(60);
    d.tick();
    const s = metrics.snapshot();
    const app = s.apps.a!;
    // Completions at 1010, 1020 (met), 1030, 1040 (late); latency from ingest 990.
    expect(app.completed).toBe(4);
    expect(app.metDeadline).toBe(2);
    expect(app.satisfaction).toBe(0.5);
    expect(app.latencyMs).toMatchObject({ min: 20, max: 50, p50: 30 });
    expect(app.queueingMs).toMatchObject({ min: 0, max: 30 });
    expect(app.costMs.mean).toBe(10);
    expect(app.throughputPerSec).toBeGreaterThan(0);
    expect(s.worker?.utilisation).toBeCloseTo(0.4); // 40 ms busy over 100 ms
    expect(d.utilisation()).toBeCloseTo(0.4);
  });
});

describe('Dispatcher: runs', () => {
  /** fifo, counting its decisions. */
  function countingFifo() {
    const fifo = createPolicy('fifo');
    const policy: SchedulingPolicy & { picks: number } = {
      name: 'counting',
      picks: 0,
      pickNext: (view) => {
        policy.picks++;
        return fifo.pickNext(view);
      },
    };
    return policy;
  }

  it('runs up to runLength cheap messages of a queue per decision, in order, sharing the run start', async () => {
    const clock = new ManualClock(500);
    const policy = countingFifo();
    const d = new Dispatcher({ policy, clock, yieldAfterMs: Infinity, runLength: 8 });
    const ran: number[] = [];
    const started: number[] = [];
    await d.submit(
      Array.from({ length: 41 }, (_, i) => message({ key: `k${i % 3}` })),
      (i) => {
        ran.push(i);
        started.push(d.runningSince);
      },
    );
    expect(ran).toEqual(Array.from({ length: 41 }, (_, i) => i));
    // The first message runs alone (no cost measured yet: the 1 ms default is over the budget), then runs of 8.
    expect(policy.picks).toBe(1 + 5);
    expect(started.every((t) => t === 500)).toBe(true);
    const one = countingFifo();
    const d1 = new Dispatcher({ policy: one, clock, yieldAfterMs: Infinity, runLength: 1 });
    await d1.submit(
      Array.from({ length: 41 }, () => message()),
      () => {},
    );
    expect(one.picks).toBe(41);
  });

  it('asks about every message of a function whose messages cost more than the run budget', async () => {
    const clock = new ManualClock();
    const policy = countingFifo();
    const d = new Dispatcher({ policy, clock, yieldAfterMs: Infinity, runBudgetMs: 0.25 });
    await d.submit(
      Array.from({ length: 20 }, () => message()),
      () => clock.advance(1),
    );
    expect(policy.picks).toBe(20);
    expect(d.costEstimate('a', 'f')).toBe(1);
  });

  it('ends a run within 8 messages once its messages cost more than the budget (read on the clock)', async () => {
    const clock = new ManualClock();
    const policy = countingFifo();
    const d = new Dispatcher({ policy, clock, yieldAfterMs: Infinity });
    // 20 messages that cost nothing (runs of 32 after the first), then 20 that cost 10 ms each.
    await d.submit(
      Array.from({ length: 40 }, () => message()),
      (i) => {
        if (i >= 20) clock.advance(10);
      },
    );
    // Message 0 alone, a run that ends at the check after message 24, then a decision per message (the
    // estimate is now over the budget): 1 + 1 + 15. Without the check, 9: a run of 32 with 13 slow ones, then 7.
    expect(policy.picks).toBe(17);
  });

  it('divides a run between queues by the policy: another queue runs between runs', async () => {
    const clock = new ManualClock();
    const d = new Dispatcher({ policy: createPolicy('edf'), clock, yieldAfterMs: Infinity, runLength: 4 });
    const order: string[] = [];
    const a = d.submit(
      Array.from({ length: 9 }, (_, i) => message({ queue: 'a/0', deadline: 100 + i })),
      (i) => void order.push(`a${i}`),
    );
    const b = d.submit(
      Array.from({ length: 9 }, (_, i) => message({ queue: 'a/1', deadline: 100 + i })),
      (i) => void order.push(`b${i}`),
    );
    await Promise.all([a, b]);
    // edf picks the earliest head; a run goes on with its queue for at most 4 messages, then edf picks again.
    expect(order.slice(0, 9)).toEqual(['a0', 'b0', 'b1', 'b2', 'b3', 'a1', 'a2', 'a3', 'a4']);
    let longest = 0;
    let current = 0;
    for (let j = 0; j < order.length; j++) {
      current = j > 0 && order[j]![0] === order[j - 1]![0] ? current + 1 : 1;
      longest = Math.max(longest, current);
    }
    expect(longest).toBeLessThanOrEqual(4);
    expect(order.filter((o) => o[0] === 'b')).toEqual(Array.from({ length: 9 }, (_, i) => `b${i}`));
    expect(order.length).toBe(18);
  });

  it('stops a run at a message of another function, an async message and a throwing one', async () => {
    const clock = new ManualClock();
    const policy = countingFifo();
    const d = new Dispatcher({ policy, clock, yieldAfterMs: Infinity });
    // Warm the estimate of a/f and a/g (their first messages run alone).
    await d.submit([message(), message({ fn: 'g' })], () => {});
    policy.picks = 0;
    const fns = ['f', 'f', 'g', 'g', 'f'];
    const ran: number[] = [];
    await d.submit(
      fns.map((fn) => message({ fn })),
      (i) => void ran.push(i),
    );
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(policy.picks).toBe(3); // f f | g g | f
    policy.picks = 0;
    const gate = deferred();
    const order: string[] = [];
    const step = d.submit(
      ['a', 'b', 'c'].map((key) => message({ key })),
      (i) => {
        order.push(`start${i}`);
        if (i === 1) return gate.promise.then(() => void order.push('end1'));
      },
    );
    await turn();
    expect(order).toEqual(['start0', 'start1', 'start2']); // the async one ended a run; c ran after it
    expect(policy.picks).toBe(2);
    gate.resolve();
    await step;
    const failing = d.submit(
      [0, 1, 2, 3].map((i) => message({ key: `k${i}` })),
      (i) => {
        order.push(`run${i}`);
        if (i === 1) throw new Error('boom');
      },
    );
    await expect(failing).rejects.toThrow('boom');
    expect(order.slice(-2)).toEqual(['run0', 'run1']);
    expect(d.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });

  it("records the figures of a run's messages of one step, ingest and deadline once, with their count", async () => {
    const clock = new ManualClock(1000);
    const calls: { count: number; latency: number }[] = [];
    const perMessage: number[] = [];
    const sink = {
      arrival() {},
      completed(_at: number, _q: number, _c: number, latency: number) {
        perMessage.push(latency);
      },
      completedMany(_at: number, _q: number, _c: number, latency: number, _met: boolean, count: number) {
        calls.push({ count, latency });
      },
      failed() {},
      abandoned() {},
      held() {},
    };
    const completes: string[] = [];
    const fifo = createPolicy('fifo');
    const policy: SchedulingPolicy = {
      name: 'seeing',
      pickNext: (view) => fifo.pickNext(view),
      onComplete: (m) => {
        completes.push(m.key);
      },
    };
    const metrics = { app: () => sink, worker() {}, policyError() {} };
    const d = new Dispatcher({ policy, clock, metrics, yieldAfterMs: Infinity, runLength: 16 });
    // Warm the cost estimate (the first message of a function runs alone), then 12 messages: 5 with ingest 900,
    // 4 with 950, 3 with 900 again.
    await d.submit([message({ key: 'w', ingest: 900 })], () => {});
    const ingests = [900, 900, 900, 900, 900, 950, 950, 950, 950, 900, 900, 900];
    await d.submit(
      ingests.map((ingest, i) => message({ key: `k${i}`, ingest })),
      () => {},
    );
    expect(perMessage).toEqual([100]); // the warm-up message, alone
    expect(calls).toEqual([
      { count: 5, latency: 100 },
      { count: 4, latency: 50 },
      { count: 3, latency: 100 },
    ]);
    // The policy still sees every message.
    expect(completes).toEqual(['w', ...ingests.map((_, i) => `k${i}`)]);
  });

  it('gives the in-memory metrics the same figures whether a run records its messages at once or one by one', async () => {
    const snapshots = [];
    for (const runLength of [1, 32]) {
      const clock = new ManualClock(1000);
      const metrics = new InMemorySchedulerMetrics({ clock });
      const d = new Dispatcher({
        policy: createPolicy('fifo'),
        clock,
        metrics,
        yieldAfterMs: Infinity,
        runLength,
      });
      await d.submit(
        Array.from({ length: 50 }, (_, i) =>
          message({ key: `k${i}`, ingest: 990 - (i % 3), deadline: 1000 }),
        ),
        () => {},
      );
      const app = metrics.snapshot().apps.a!;
      snapshots.push({
        completed: app.completed,
        met: app.metDeadline,
        latency: app.latencyMs,
        queueing: app.queueingMs,
        cost: app.costMs,
      });
    }
    expect(snapshots[1]).toEqual(snapshots[0]);
    expect(snapshots[0]!.completed).toBe(50);
  });
});

describe('Dispatcher: per-app in-flight caps', () => {
  it("keeps one app's hung handlers from taking every slot from another app", async () => {
    const d = new Dispatcher({
      policy: createPolicy('fifo'),
      clock: new ManualClock(),
      maxInFlight: 8,
      maxInFlightPerApp: 4,
    });
    const never = new Promise<void>(() => {});
    const hung = Array.from({ length: 20 }, (_, i) =>
      message({ app: 'hung', key: `k${i}`, queue: 'hung/0' }),
    );
    void d.submit(hung, () => never, { maxConcurrentKeys: 100 });
    const ran: string[] = [];
    await d.submit(
      [message({ app: 'ok', key: 'a', queue: 'ok/0' }), message({ app: 'ok', key: 'b', queue: 'ok/0' })],
      (i) => {
        ran.push(`ok${i}`);
        return Promise.resolve();
      },
    );
    expect(ran).toEqual(['ok0', 'ok1']);
    expect(d.stats().inFlight).toBe(4); // the hung app is held to its cap
  });

  it('without a cap, the hung app takes every slot (the test would notice a missing cap)', async () => {
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock: new ManualClock(), maxInFlight: 8 });
    const never = new Promise<void>(() => {});
    const hung = Array.from({ length: 20 }, (_, i) =>
      message({ app: 'hung', key: `k${i}`, queue: 'hung/0' }),
    );
    void d.submit(hung, () => never, { maxConcurrentKeys: 100 });
    let ran = 0;
    void d.submit([message({ app: 'ok', key: 'a', queue: 'ok/0' })], () => {
      ran++;
      return Promise.resolve();
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toBe(0);
    expect(d.stats().inFlight).toBe(8);
  });
});
