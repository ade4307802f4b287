// An assigned partition whose task failed, with no later record to make its consumer deliver a batch (the
// transport re-delivers from the committed position, which may be past everything there is): the member must
// open it again by itself, or its durable timers never fire. Two failures lead there: an open that fails, and a
// step whose transaction commits on the broker while its client sees an error (a request that timed out after
// the broker wrote the commit), after which the runtime must treat its local state as unproven. These tests
// make one such failure happen on the in-memory transport and check that a timer then fires exactly once.
import { DirigoError, defineApp, fn, type OutgoingRecord, state } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';
import { lieAboutChangelogWatermarks } from './flaky-admin.test-helper.ts';
import { hookTransactions } from './transactions.test-helper.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** On a first bid an auction schedules its close with a durable timer; the close is emitted once it fires. */
const auctions = (closeDelayMs = 100) =>
  defineApp({
    name: 'auc',
    options: { guarantee: 'exactly_once' },
    ingresses: [{ topic: 'bids', to: 'auction' }],
    egresses: { closes: { topic: 'closes' } },
    functions: {
      auction: fn({
        state: { scheduled: state.value<boolean>() },
        handler(ctx, m: { bid?: number; close?: true }) {
          if (m.close === true) {
            ctx.emit('closes', ctx.key, 'closed');
            return;
          }
          if (ctx.state.scheduled.get() === true) return;
          ctx.state.scheduled.set(true);
          ctx.send('auction', ctx.key, { close: true }, { delayMs: closeDelayMs });
        },
      }),
    },
  });

const isTimerCell = (r: OutgoingRecord) =>
  r.topic.endsWith('.changelog') && r.key?.toString('latin1').includes('__timers') === true;

/**
 * A transport whose transactional producers commit normally, except the first transaction that writes a record
 * matching `match`: it commits, then its `commit()` rejects with a retriable error, as a timed-out request would.
 */
function ambiguousOnce(kafka: MemoryKafka, match: (r: OutgoingRecord) => boolean) {
  const transport = new MemoryTransport(kafka);
  const fault = { armed: true, hit: 0 };
  hookTransactions(transport, (txn) => {
    let matched = false;
    return {
      send: (records) => {
        if (fault.armed && records.some(match)) matched = true;
        return txn.send(records);
      },
      commit: async () => {
        await txn.commit();
        if (matched && fault.armed) {
          fault.armed = false;
          fault.hit++;
          throw new DirigoError('the commit request timed out (it was written)', { retriable: true });
        }
      },
    };
  });
  return { transport, fault };
}

async function closesOf(kafka: MemoryKafka): Promise<string[]> {
  const out: string[] = [];
  await new MemoryTransport(kafka).readToEnd(
    [{ topic: 'closes', partition: 0, fromOffset: 0 }],
    (records) => {
      for (const r of records) out.push(r.key?.toString() ?? '');
    },
  );
  return out;
}

/** The app's topics on a new in-memory cluster, and `bid()`: one bid for auction a1. */
async function auctionCluster() {
  const kafka = new MemoryKafka({ retryBackoffMs: 1 });
  const setup = new MemoryTransport(kafka);
  await (await setup.admin()).createTopics([
    { name: 'bids', partitions: 1 },
    { name: 'closes', partitions: 1 },
  ]);
  const producer = setup.producer();
  await producer.connect();
  const bid = () =>
    producer.send([{ topic: 'bids', key: Buffer.from('a1'), value: Buffer.from('{"bid":5}') }]);
  return { kafka, bid };
}

/** The closes once the first one is there (up to 10 s) and `settleMs` more have passed (for a second one). */
async function closesAfter(kafka: MemoryKafka, settleMs: number): Promise<string[]> {
  await waitFor(async () => (await closesOf(kafka)).length > 0, 10_000, { intervalMs: 50 }).catch(() => {});
  await sleep(settleMs);
  return closesOf(kafka);
}

async function run(match: (r: OutgoingRecord) => boolean) {
  const { kafka, bid } = await auctionCluster();
  const { transport, fault } = ambiguousOnce(kafka, match);
  const worker = new Worker({ transport, apps: [auctions()], loadReportIntervalMs: 0 });
  await worker.start();
  // One bid, and nothing after it: no later batch comes to reopen the partition.
  await bid();
  // Long enough for a second firing of the same timer (due 100 ms after the bid, ticks every 100 ms).
  const closes = await closesAfter(kafka, 1_500);
  const scheduled = await worker.readState('auc', 'auction', 'a1', 'scheduled');
  await worker.stop();
  await kafka.close();
  return { closes, scheduled, hit: fault.hit };
}

describe('a commit that succeeded while its client saw an error (exactly-once)', () => {
  it('in the step that set a timer, with no later record on the partition: the timer still fires, once', async () => {
    const r = await run((rec) => isTimerCell(rec) && rec.value !== null);
    expect(r).toEqual({ closes: ['a1'], scheduled: true, hit: 1 });
  });

  it('in the step that fired a timer: it does not fire again', async () => {
    const r = await run((rec) => isTimerCell(rec) && rec.value === null);
    expect(r).toEqual({ closes: ['a1'], scheduled: true, hit: 1 });
  });
});

describe('an open that failed, with no later record on the partition', () => {
  it('is retried by the member: the pending timer restored from the changelog fires, once', async () => {
    const { kafka, bid } = await auctionCluster();
    const first = new Worker({
      transport: new MemoryTransport(kafka),
      apps: [auctions(3_000)],
      loadReportIntervalMs: 0,
    });
    await first.start();
    await bid();
    await waitFor(async () => (await first.readState('auc', 'auction', 'a1', 'scheduled')) === true, 1_000, {
      intervalMs: 5,
    }).catch(() => {});
    await first.stop();
    expect(await closesOf(kafka)).toEqual([]);
    // The next owner's first open fails (its changelog watermarks answer no partition, a metadata race).
    const flaky = new MemoryTransport(kafka);
    const lying = lieAboutChangelogWatermarks(flaky);
    const second = new Worker({ transport: flaky, apps: [auctions(3_000)], loadReportIntervalMs: 0 });
    await second.start();
    const closes = await closesAfter(kafka, 500);
    const result = {
      lied: lying.lied(),
      closes,
      scheduled: await second.readState('auc', 'auction', 'a1', 'scheduled'),
    };
    await second.stop();
    await kafka.close();
    expect(result).toEqual({ lied: true, closes: ['a1'], scheduled: true });
  });
});
