import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../dispatcher.ts';
import { createPolicy } from '../registry.ts';
import { ManualClock, message } from '../sim.ts';
import type { PeerLoad, QueueView, ScheduledMessage, SchedulingPolicy, WorkerView } from '../types.ts';
import { costAhead } from './laxity.ts';

/** A queue view by hand. */
function queue(id: string, head: ScheduledMessage | undefined, o: Partial<QueueView> = {}): QueueView {
  return {
    id,
    app: head?.app ?? 'a',
    fn: head?.fn ?? 'f',
    priority: head?.priority ?? 'normal',
    length: head === undefined ? 0 : 1,
    inFlight: 0,
    head,
    headDeprioritised: false,
    oldestEnqueuedAt: head?.enqueuedAt ?? Number.NaN,
    firstDeadline: head?.deadline ?? Number.NaN,
    lastDeadline: head?.deadline ?? Number.NaN,
    queuedCostMs: 0,
    backlog: 0,
    ...o,
  };
}

function view(now: number, queues: QueueView[], cost = 1, peers: PeerLoad[] = []): WorkerView {
  return { now, inFlight: 0, queues, utilisation: 0, costEstimate: () => cost, peers, leases: () => [] };
}

const at = (m: ScheduledMessage, enqueuedAt: number): ScheduledMessage => {
  m.enqueuedAt = enqueuedAt;
  return m;
};

/** Submits steps in one synchronous section and returns the order in which their messages ran. */
async function runOrder(policy: SchedulingPolicy, steps: ScheduledMessage[][], clock = new ManualClock()) {
  const d = new Dispatcher({ policy, clock, yieldAfterMs: Infinity });
  const order: string[] = [];
  await Promise.all(
    steps.map((msgs) =>
      d.submit(msgs, (i) => {
        order.push(`${msgs[i]!.app}:${msgs[i]!.key}`);
      }),
    ),
  );
  return order;
}

describe('fifo', () => {
  it('runs the oldest message first across all queues and apps', async () => {
    const clock = new ManualClock();
    const d = new Dispatcher({ policy: createPolicy('fifo'), clock, yieldAfterMs: Infinity });
    const order: string[] = [];
    const run = (msgs: ScheduledMessage[]) => (i: number) => {
      order.push(`${msgs[i]!.app}:${msgs[i]!.key}`);
    };
    const a = [message({ app: 'a', key: '1' }), message({ app: 'a', key: '2' })];
    const b = [message({ app: 'b', key: '1', deadline: 1 })];
    const c = [message({ app: 'c', key: '1', priority: 'critical' })];
    const steps = [d.submit(c.slice(), run(c))];
    clock.advance(5);
    steps.push(d.submit(a, run(a)));
    clock.advance(5);
    steps.push(d.submit(b, run(b)));
    await Promise.all(steps);
    expect(order).toEqual(['c:1', 'a:1', 'a:2', 'b:1']);
  });
});

describe('priority', () => {
  it('runs critical > high > normal > batch, FIFO within a class', async () => {
    const order = await runOrder(createPolicy('priority'), [
      [message({ app: 'batch', key: '1', priority: 'batch' })],
      [message({ app: 'normal', key: '1' }), message({ app: 'normal', key: '2' })],
      [message({ app: 'crit', key: '1', priority: 'critical' })],
      [message({ app: 'high', key: '1', priority: 'high' })],
    ]);
    expect(order).toEqual(['crit:1', 'high:1', 'normal:1', 'normal:2', 'batch:1']);
  });

  it('ages a waiting message one class per agingMs, so batch is never starved', () => {
    const p = createPolicy('priority', { agingMs: 1000 });
    const batch = queue('b', at(message({ app: 'b', priority: 'batch' }), 0));
    const crit = queue('c', at(message({ app: 'c', priority: 'critical' }), 2_999));
    expect(p.pickNext(view(2_999, [batch, crit]))).toBe(crit); // batch promoted twice: 'high'
    expect(p.pickNext(view(3_000, [batch, crit]))).toBe(batch); // promoted three times: critical, older
  });
});

describe('edf', () => {
  it('runs the earliest deadline first across two apps', async () => {
    const order = await runOrder(createPolicy('edf'), [
      [
        message({ app: 'slow', key: '1', deadline: 5_000 }),
        message({ app: 'slow', key: '2', deadline: 5_001 }),
      ],
      [message({ app: 'fast', key: '1', deadline: 50 }), message({ app: 'fast', key: '2', deadline: 6_000 })],
    ]);
    expect(order).toEqual(['fast:1', 'slow:1', 'slow:2', 'fast:2']);
  });

  it('breaks ties by age and treats a missing deadline as enqueuedAt + missingDeadlineMs', () => {
    const p = createPolicy('edf', { missingDeadlineMs: 100 });
    const young = queue('y', at(message({ deadline: 500 }), 10));
    const old = queue('o', at(message({ deadline: 500 }), 5));
    const none = queue('n', at(message({ deadline: Number.NaN }), 0));
    expect(p.pickNext(view(0, [young, old]))).toBe(old);
    expect(p.pickNext(view(0, [young, old, none]))).toBe(none);
  });
});

describe('laxity', () => {
  it('estimates the cost queued ahead of a deadline', () => {
    const q = queue('q', message(), { queuedCostMs: 100, firstDeadline: 1_000, lastDeadline: 2_000 });
    expect(costAhead(q, 500)).toBe(0);
    expect(costAhead(q, 1_500)).toBe(50);
    expect(costAhead(q, 3_000)).toBe(100);
  });

  it('deprioritises a message that cannot meet its deadline, counting the work queued before it', () => {
    const p = createPolicy('laxity');
    const backlog = queue('bulk', message({ app: 'bulk' }), {
      queuedCostMs: 400,
      firstDeadline: 0,
      lastDeadline: 100,
    });
    const v = view(0, [backlog], 5);
    expect(p.onArrival!(at(message({ deadline: 500 }), 0), v)).toBe('admit'); // 0 + 400 + 5 <= 500
    expect(p.onArrival!(at(message({ deadline: 300 }), 0), v)).toBe('deprioritise'); // 0 + 400 + 5 > 300
    expect(p.onArrival!(at(message({ deadline: 3 }), 0), view(0, [], 5))).toBe('deprioritise');
    // Work with later deadlines does not count.
    expect(
      p.onArrival!(
        at(message({ deadline: 50 }), 0),
        view(
          0,
          [
            queue('late', message(), {
              queuedCostMs: 10_000,
              firstDeadline: 60_000,
              lastDeadline: 90_000,
            }),
          ],
          5,
        ),
      ),
    ).toBe('admit');
  });

  it('forwards a hopeless message to a peer with a short queue (fallback: deprioritise)', () => {
    const p = createPolicy('laxity', { shortQueue: 10 });
    const peers = [
      { id: 'w1', queued: 50, utilisation: 0.9, at: 0 },
      { id: 'w2', queued: 3, utilisation: 0.2, at: 0 },
    ];
    expect(p.onArrival!(at(message({ deadline: 1 }), 0), view(0, [], 5, peers))).toEqual({
      forward: 'w2',
      fallback: 'deprioritise',
    });
  });

  it('dispatches by least laxity among messages that can still make it; hopeless ones go last', () => {
    const p = createPolicy('laxity', { agingMs: 1_000 });
    const loose = queue('loose', at(message({ app: 'l', deadline: 1_000 }), 0));
    const tight = queue('tight', at(message({ app: 't', deadline: 100 }), 0));
    const late = queue('late', at(message({ app: 'x', deadline: 5 }), 0));
    const deprio = queue('deprio', at(message({ app: 'd', deadline: 2_000 }), 0), {
      headDeprioritised: true,
    });
    expect(p.pickNext(view(10, [loose, late, tight, deprio], 5))).toBe(tight);
    expect(p.pickNext(view(10, [loose, late, deprio], 5))).toBe(loose);
    expect(p.pickNext(view(10, [late, deprio], 5))).toBe(late); // earliest deadline among hopeless
    // Aged past agingMs, a hopeless message competes as laxity 0, ahead of ones with slack.
    const roomy = queue('roomy', at(message({ app: 'r', deadline: 5_000 }), 0));
    expect(p.pickNext(view(999, [roomy, deprio], 5))).toBe(roomy);
    expect(p.pickNext(view(1_000, [roomy, deprio], 5))).toBe(deprio);
  });

  it('runs what can still make it before a hopeless backlog (dispatcher)', async () => {
    const clock = new ManualClock(1_000);
    const d = new Dispatcher({
      policy: createPolicy('laxity'),
      clock,
      yieldAfterMs: Infinity,
      defaultCostMs: 10,
    });
    const order: string[] = [];
    const stale = Array.from({ length: 3 }, (_, i) =>
      message({ app: 's', key: `${i}`, ingest: 0, deadline: 900 }),
    );
    const fresh = [message({ app: 'f', key: '0', ingest: 1_000, deadline: 1_100 })];
    await Promise.all([
      d.submit(stale, (i) => {
        clock.advance(10);
        order.push(`s${i}`);
      }),
      d.submit(fresh, () => {
        clock.advance(10);
        order.push('f0');
      }),
    ]);
    expect(order).toEqual(['f0', 's0', 's1', 's2']);
    expect(d.stats().deprioritised).toBe(3);
  });
});

describe('weighted-fair', () => {
  /** Two backlogged apps with equal costs; returns how many of the first `n` runs went to each. */
  async function shares(policy: SchedulingPolicy, n: number) {
    const clock = new ManualClock();
    const d = new Dispatcher({ policy, clock, yieldAfterMs: Infinity });
    const counts: Record<string, number> = { web: 0, bulk: 0 };
    let total = 0;
    const mk = (app: string, priority: 'critical' | 'batch') =>
      Array.from({ length: n }, (_, i) => message({ app, key: `${i}`, priority }));
    const run = (app: string) => () => {
      clock.advance(10);
      if (total++ < n) counts[app]!++;
    };
    await Promise.all([
      d.submit(mk('web', 'critical'), run('web')),
      d.submit(mk('bulk', 'batch'), run('bulk')),
    ]);
    return counts;
  }

  it('gives each app its weighted share of busy time, so a batch app is never starved', async () => {
    const counts = await shares(createPolicy('weighted-fair'), 900);
    expect(counts.bulk).toBeGreaterThanOrEqual(99); // weight 1 of 9: 100 of the first 900
    expect(counts.bulk).toBeLessThanOrEqual(101);
    expect(counts.web).toBeGreaterThanOrEqual(799);
  });

  it('charges measured cost, not message count', () => {
    const p = createPolicy('weighted-fair');
    const heavy = message({ app: 'heavy', priority: 'normal' });
    const light = message({ app: 'light', priority: 'normal' });
    const qs = [queue('h', at(heavy, 0)), queue('l', at(light, 1))];
    expect(p.pickNext(view(0, qs))).toBe(qs[0]);
    p.onComplete!(heavy, { costMs: 100, latencyMs: 0, queueingMs: 0, metDeadline: true }, view(0, qs));
    // light is picked until it has received more than heavy's 100 ms: 12 x 9 ms.
    for (let i = 0; i < 12; i++) {
      expect(p.pickNext(view(0, qs))).toBe(qs[1]);
      p.onComplete!(light, { costMs: 9, latencyMs: 0, queueingMs: 0, metDeadline: true }, view(0, qs));
    }
    expect(p.pickNext(view(0, qs))).toBe(qs[0]);
  });

  it('lets an idle app rejoin at the current virtual time instead of hoarding credit', () => {
    const p = createPolicy('weighted-fair');
    const a = message({ app: 'a' });
    const b = message({ app: 'b' });
    const qa = queue('a', at(a, 0));
    const done = { costMs: 10, latencyMs: 0, queueingMs: 0, metDeadline: true };
    for (let i = 0; i < 100; i++) {
      expect(p.pickNext(view(0, [qa]))).toBe(qa);
      p.onComplete!(a, done, view(0, [qa]));
    }
    const qb = queue('b', at(b, 0));
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const q = p.pickNext(view(0, [qa, qb]))!;
      picks.push(q.id);
      p.onComplete!(q.id === 'a' ? a : b, done, view(0, [qa, qb]));
    }
    expect(picks.filter((x) => x === 'a').length).toBeGreaterThanOrEqual(2);
  });
});

describe('dirigo', () => {
  const p = createPolicy('dirigo', { hotKeyMessages: 1 });
  const peers: PeerLoad[] = [
    { id: 'w1', queued: 50, utilisation: 0.9, at: 0 },
    { id: 'w2', queued: 2, utilisation: 0.1, at: 0 },
  ];

  it('forwards a leasable message that would miss its deadline here to the less loaded of two peers', () => {
    // 400 ms of earlier-deadline work queued, 10 ms per message, deadline 30 ms away: it cannot make it here,
    // and w2 (2 queued: 20 ms) finishes it after 50 ms of forward delay + 30 ms.
    const ahead = queue('q', message({ key: 'x', deadline: 20 }), {
      queuedCostMs: 400,
      firstDeadline: 20,
      lastDeadline: 20,
    });
    const m = at(message({ key: 'hot', deadline: 30, leasable: true }), 0);
    const d = createPolicy('dirigo', { hotKeyMessages: 1 }).onArrival!(m, view(0, [ahead], 10, peers));
    expect(d).toEqual({ forward: 'w2', fallback: 'admit' });
  });

  it('keeps a late message here when no peer would finish it sooner (an input lagging behind is not all forwarded)', () => {
    // Deadline long past, nothing queued here: it runs here in 10 ms; a peer needs 50 ms of forward delay more.
    const late = at(message({ key: 'hot', deadline: -5_000, leasable: true }), 0);
    expect(createPolicy('dirigo', { hotKeyMessages: 1 }).onArrival!(late, view(0, [], 10, peers))).toBe(
      'admit',
    );
    // A peer whose queue is longer than ours gets nothing either.
    const ahead = queue('q', message({ key: 'x', deadline: 20 }), {
      queuedCostMs: 400,
      firstDeadline: 20,
      lastDeadline: 20,
    });
    const busy: PeerLoad[] = [{ id: 'w1', queued: 80, utilisation: 1, at: 0 }];
    expect(createPolicy('dirigo', { hotKeyMessages: 1 }).onArrival!(late, view(0, [ahead], 10, busy))).toBe(
      'admit',
    );
  });

  it("splits an excess by predicted finish: what it forwarded counts as the peer's backlog, drained as time passes", () => {
    const policy = createPolicy('dirigo', { hotKeyMessages: 1 });
    const ahead = queue('q', message({ key: 'x', deadline: 20 }), {
      queuedCostMs: 400,
      firstDeadline: 20,
      lastDeadline: 20,
    });
    const idle: PeerLoad[] = [{ id: 'w2', queued: 0, utilisation: 0, at: 0 }];
    const decide = (now: number) =>
      policy.onArrival!(
        at(message({ key: 'hot', deadline: 30, leasable: true }), now),
        view(now, [ahead], 10, idle),
      );
    // Here: 410 ms. There: 25 ms (forwardDelayMs) + backlog + 10 ms: 38 forwards (380 ms of work), then the peer
    // is no sooner.
    const decisions = Array.from({ length: 50 }, () => decide(0));
    expect(decisions.filter((d) => d !== 'admit')).toHaveLength(38);
    expect(decisions.slice(38).every((d) => d === 'admit')).toBe(true);
    // 100 ms later the peer has worked 100 ms off: 10 more go.
    const later = Array.from({ length: 20 }, () => decide(100));
    expect(later.filter((d) => d !== 'admit')).toHaveLength(10);
    // A report of a long input backlog there (forwards it has not fetched yet) stops forwarding too.
    idle[0] = { id: 'w2', queued: 0, backlog: 80, utilisation: 1, at: 99 };
    expect(decide(100)).toBe('admit');
    // A report showing a long queue there (80 x 10 ms, made now) stops forwarding.
    idle[0] = { id: 'w2', queued: 80, utilisation: 1, at: 100 };
    expect(decide(100)).toBe('admit');
  });

  it('admits what can make it, and never forwards a message that is not leasable', () => {
    const m = at(message({ key: 'hot', deadline: 100, leasable: true }), 0);
    expect(p.onArrival!(m, view(0, [], 10, peers))).toBe('admit');
    const late = at(message({ key: 'hot', deadline: 5 }), 0);
    expect(p.onArrival!(late, view(0, [], 10, peers))).toBe('admit');
    // Without load reports the forward names no peer: any lessee.
    const leasable = at(message({ key: 'hot', deadline: 5, leasable: true }), 0);
    expect(p.onArrival!(leasable, view(0, [], 10, []))).toEqual({ forward: '', fallback: 'admit' });
  });

  it("counts the partition's input behind the message: a hot partition falling behind shares its work before messages are late", () => {
    const policy = createPolicy('dirigo', { hotKeyMessages: 1 });
    const m = (now: number) =>
      at(message({ key: 'hot', queue: 'q', deadline: now + 300, leasable: true }), now);
    // Nothing queued, on time: it runs here.
    const idle = queue('q', undefined);
    expect(policy.onArrival!(m(0), view(0, [idle], 1, peers))).toBe('admit');
    // 2,000 records of 1 ms behind it on its partition: the partition cannot catch up by the deadline, and the
    // idle peer is sooner: forward.
    const behind = queue('q', undefined, { backlog: 2_000 });
    expect(policy.onArrival!(m(0), view(0, [behind], 1, peers))).toEqual({
      forward: 'w2',
      fallback: 'admit',
    });
  });

  it('keeps a leased key short here: for leasedWindowMs after a forward, a message goes wherever it finishes sooner', () => {
    const policy = createPolicy('dirigo', { hotKeyMessages: 1, leasedWindowMs: 500 });
    const idle: PeerLoad[] = [{ id: 'w2', queued: 0, utilisation: 0, at: 0 }];
    // 100 ms of earlier-deadline work queued here, 1 ms per message.
    const ahead = queue('q', message({ key: 'x', deadline: 10 }), {
      queuedCostMs: 100,
      firstDeadline: 10,
      lastDeadline: 10,
    });
    const decide = (key: string, deadline: number, now: number) =>
      policy.onArrival!(at(message({ key, deadline, leasable: true }), now), view(now, [ahead], 1, idle));
    // On time here (finish at 101 ms, deadline 300): admitted, though the idle peer would finish at 51 ms.
    expect(decide('hot', 300, 0)).toBe('admit');
    // Late here: forwarded, and the key is leased from now on.
    expect(decide('hot', 50, 0)).toEqual({ forward: 'w2', fallback: 'admit' });
    // Now the same on-time message leaves too, as the peer is sooner; another key's does not.
    expect(decide('hot', 300, 10)).toEqual({ forward: 'w2', fallback: 'admit' });
    expect(decide('cold', 300, 10)).toBe('admit');
    // Not when the peer is no sooner: 100 ms of forwards there already.
    for (let n = 0; n < 100; n++) decide('hot', 50, 10);
    expect(decide('hot', 300, 10)).toBe('admit');
    // Once the peer has worked its backlog off (still within 500 ms of the last forward), they leave again...
    expect(decide('hot', 5_000, 400)).toEqual({ forward: 'w2', fallback: 'admit' });
    // ...and 500 ms after the last forward the lease window has passed: on-time messages stay here again.
    expect(decide('hot', 5_000, 950)).toBe('admit');
  });

  it('leases only a hot key: one with hotKeyMessages late messages within the second', () => {
    const policy = createPolicy('dirigo', { hotKeyMessages: 3 });
    const ahead = queue('q', message({ key: 'x', deadline: 20 }), {
      queuedCostMs: 400,
      firstDeadline: 20,
      lastDeadline: 20,
    });
    const decide = (key: string, now: number) =>
      policy.onArrival!(
        at(message({ key, deadline: now + 30, leasable: true }), now),
        view(now, [ahead], 10, peers),
      );
    expect([decide('hot', 0), decide('cold', 0), decide('hot', 0), decide('hot', 0)]).toEqual([
      'admit',
      'admit',
      'admit',
      { forward: 'w2', fallback: 'admit' },
    ]);
    // A new second starts the count again.
    expect(decide('hot', 1_000)).toBe('admit');
  });

  it('dispatches by earliest deadline', async () => {
    const order = await runOrder(p, [
      [message({ app: 'a', key: '1', deadline: 300 })],
      [message({ app: 'b', key: '1', deadline: 100 })],
      [message({ app: 'c', key: '1', deadline: 200 })],
    ]);
    expect(order).toEqual(['b:1', 'c:1', 'a:1']);
  });
});
