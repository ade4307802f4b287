// Rebalance benchmark: how long partitions stop when a worker joins. Two workers run a keyed count over a topic
// fed at a steady rate; a third worker joins. For every partition the benchmark records when its batches reach
// the runtime (delivered to the worker's function), and reports:
// - `keptMaxGapMs`: the longest time a partition that stayed with its owner went without a delivery, from one
//   second before the join until the end (the "unaffected partition makes no progress" time);
// - `movedMaxHandoverMs`: for partitions that changed owner, the longest time from their last delivery at the old
//   owner to their first at the new one;
// - `settledMs`: from the join until every partition delivers again and the newcomer owns some;
// - `baselineMaxGapMs`: the longest gap of any partition in the seconds before the join (the noise floor);
// - `leave`: then the first worker stops gracefully (leaves the group), and the same figures are measured for
//   that change (kept partitions of the two that stay, hand-over of the leaver's).
// Each setup is measured over several joins (`rounds`); the summary keeps the worst of each figure (the kept
// partitions' fewest), the median longest stop, and every round.
// Setups: kafkajs (classic, eager), platformatic classic, platformatic with KIP-848's `consumer` protocol.
import type { AppDefinition, Logger, OutgoingRecord, Transport } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { type GroupProtocol, PlatformaticTransport } from '@dirigo/platformatic';
import { Worker } from '@dirigo/runtime';
import { countApp } from './apps.ts';
import { tapBatches } from './batch-tap.ts';

export const REBALANCE_SETUPS = ['kafkajs-classic', 'platformatic-classic', 'platformatic-consumer'] as const;
export type RebalanceSetup = (typeof REBALANCE_SETUPS)[number];

export interface RebalanceOptions {
  readonly brokers: string;
  readonly setups: readonly RebalanceSetup[];
  readonly partitions: number;
  /** Records per second per partition. */
  readonly rate: number;
  /** Seconds the two workers run before the third joins. */
  readonly settleS: number;
  /** Seconds measured after every partition delivers again. */
  readonly afterS: number;
  readonly guarantee: 'at_least_once' | 'exactly_once';
  /** Joins measured per setup, each on fresh topics and workers. */
  readonly rounds: number;
  /** Exactly-once v2 workers fence the v1 producer of each partition they open (`WorkerOptions.exactlyOnceFenceV1`). Default true. */
  readonly fenceV1?: boolean;
  readonly logger: Logger;
}

/** What one membership change did to the partitions (a join, or a leave). */
export interface ChangeResult {
  /** Partitions that stayed with their owner across the change, and those that moved to another worker. */
  kept: number;
  moved: number;
  keptMaxGapMs: number;
  movedMaxHandoverMs: number;
  settledMs: number;
}

export interface RebalanceResult extends ChangeResult {
  baselineMaxGapMs: number;
  /** The first worker then stops gracefully (leaves the group): the same figures for that change. */
  leave: ChangeResult;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Delivery times of one worker, per partition of the measured group. */
type Deliveries = Map<number, number[]>;

/** A transport whose consumer of `group` notes the time of every batch it hands to the runtime. */
function recording(transport: Transport, group: string, into: Deliveries): Transport {
  return tapBatches(transport, group, (batch) => {
    const now = performance.now();
    const times = into.get(batch.partition);
    if (times === undefined) into.set(batch.partition, [now]);
    else times.push(now);
  });
}

function newTransport(setup: RebalanceSetup, brokers: string, clientId: string, logger: Logger): Transport {
  const list = brokers.split(',');
  if (setup === 'kafkajs-classic') return new KafkajsTransport({ brokers: list, clientId, logger });
  const groupProtocol: GroupProtocol = setup === 'platformatic-consumer' ? 'consumer' : 'classic';
  return new PlatformaticTransport({ brokers: list, clientId, logger, groupProtocol });
}

/** The worker that last delivered `partition` at or before `at`, and when. */
function lastBefore(workers: readonly Deliveries[], partition: number, at: number) {
  let best: { worker: number; time: number } | undefined;
  workers.forEach((d, worker) => {
    for (const t of d.get(partition) ?? []) {
      if (t <= at && (best === undefined || t > best.time)) best = { worker, time: t };
    }
  });
  return best;
}

/** The longest gap between consecutive deliveries (all workers) of `partition` inside [from, to]. */
function maxGap(workers: readonly Deliveries[], partition: number, from: number, to: number): number {
  const times = workers
    .flatMap((d) => d.get(partition) ?? [])
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let gap = times.length === 0 ? to - from : Math.max(times[0]! - from, to - times[times.length - 1]!);
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

/** "Every partition delivers": each delivered within this window. */
const SETTLE_WINDOW_MS = 500;

/** Whether every partition was delivered (by any worker) after `since`. */
function allDeliveredSince(deliveries: readonly Deliveries[], partitions: number, since: number): boolean {
  for (let p = 0; p < partitions; p++) {
    if (!deliveries.some((d) => (d.get(p) ?? []).some((t) => t > since))) return false;
  }
  return true;
}

/**
 * Makes one membership change (`act`), waits until the group settled (`ready`, and every partition delivered in
 * the last `SETTLE_WINDOW_MS`), lets it run `afterS` more, and measures the change.
 */
async function change(
  o: RebalanceOptions,
  deliveries: readonly Deliveries[],
  act: () => Promise<void>,
  setup: string,
  what: string,
  ready: () => boolean,
): Promise<ChangeResult> {
  const at = performance.now();
  const before = Array.from({ length: o.partitions }, (_, p) => lastBefore(deliveries, p, at));
  await act();
  let settledAt = 0;
  for (;;) {
    const now = performance.now();
    if (now - at > 120_000)
      throw new Error(`${setup}: the group did not settle within 120 s after the ${what}`);
    if (ready() && allDeliveredSince(deliveries, o.partitions, Math.max(now - SETTLE_WINDOW_MS, at))) {
      settledAt = now;
      break;
    }
    await sleep(50);
  }
  await sleep(o.afterS * 1000);
  const end = performance.now();
  const r: ChangeResult = { kept: 0, moved: 0, keptMaxGapMs: 0, movedMaxHandoverMs: 0, settledMs: 0 };
  for (let p = 0; p < o.partitions; p++) {
    const owner = lastBefore(deliveries, p, end)?.worker;
    const prior = before[p];
    if (prior !== undefined && owner === prior.worker) {
      r.kept++;
      r.keptMaxGapMs = Math.max(r.keptMaxGapMs, maxGap(deliveries, p, at - 1000, end));
    } else {
      r.moved++;
      const first = (deliveries[owner ?? 0]?.get(p) ?? []).find((t) => t > at) ?? end;
      r.movedMaxHandoverMs = Math.max(r.movedMaxHandoverMs, first - (prior?.time ?? at));
    }
  }
  r.keptMaxGapMs = Math.round(r.keptMaxGapMs);
  r.movedMaxHandoverMs = Math.round(r.movedMaxHandoverMs);
  r.settledMs = Math.round(settledAt - at);
  return r;
}

async function runSetup(o: RebalanceOptions, setup: RebalanceSetup, id: string): Promise<RebalanceResult> {
  const ns = `bench-${id}-rebalance-${setup}`;
  const input = `${ns}-in`;
  const out = `${ns}-out`;
  const group = `${ns}.count.count`;
  const admin = new KafkajsTransport({ brokers: o.brokers.split(','), clientId: 'bench-rebalance' });
  const a = await admin.admin();
  await a.createTopics([
    { name: input, partitions: o.partitions },
    { name: out, partitions: o.partitions },
  ]);
  const app: AppDefinition = countApp(ns, input, out, o.guarantee);
  // Feed every partition at the same steady rate, in ticks of 20 ms.
  const producer = admin.producer({ clientId: 'bench-rebalance-feed' });
  await producer.connect();
  let feeding = true;
  let seq = 0;
  const feed = (async () => {
    const perTick = Math.max(1, Math.round((o.rate * 20) / 1000));
    while (feeding) {
      const records: OutgoingRecord[] = [];
      for (let p = 0; p < o.partitions; p++) {
        for (let i = 0; i < perTick; i++) {
          records.push({
            topic: input,
            partition: p,
            key: Buffer.from(`p${p}k${seq % 50}`),
            value: Buffer.from(`${seq++}`),
          });
        }
      }
      await producer.send(records);
      await sleep(20);
    }
  })();
  const deliveries: Deliveries[] = [];
  const workers: { worker: Worker; transport: Transport }[] = [];
  const start = async (n: number) => {
    const d: Deliveries = new Map();
    deliveries.push(d);
    const transport = newTransport(setup, o.brokers, `bench-rebalance-w${n}`, o.logger);
    const worker = new Worker({
      transport: recording(transport, group, d),
      apps: [app],
      logger: o.logger,
      concurrency: o.partitions,
      workerId: `w${n}`,
      ...(o.fenceV1 === false ? { exactlyOnceFenceV1: false } : {}),
    });
    workers.push({ worker, transport });
    await worker.start();
  };
  try {
    await Promise.all([start(0), start(1)]);
    // Both first workers deliver (the group has settled on two members), and so does every partition.
    const twoSettled = () =>
      (deliveries[0]?.size ?? 0) > 0 &&
      (deliveries[1]?.size ?? 0) > 0 &&
      allDeliveredSince(deliveries, o.partitions, performance.now() - SETTLE_WINDOW_MS);
    for (let waited = 0; !twoSettled(); waited += 100) {
      if (waited > 60_000) throw new Error(`${setup}: the two first workers never delivered every partition`);
      await sleep(100);
    }
    await sleep(o.settleS * 1000);
    const joinAt = performance.now();
    let baselineMaxGapMs = 0;
    for (let p = 0; p < o.partitions; p++) {
      baselineMaxGapMs = Math.max(baselineMaxGapMs, maxGap(deliveries, p, joinAt - o.settleS * 1000, joinAt));
    }
    const join = await change(
      o,
      deliveries,
      () => start(2),
      setup,
      'join',
      () => (deliveries[2]?.size ?? 0) > 0,
    );
    const leave = await change(
      o,
      deliveries,
      () => workers[0]!.worker.stop(),
      setup,
      'leave',
      () => true,
    );
    return { ...join, baselineMaxGapMs: Math.round(baselineMaxGapMs), leave };
  } finally {
    feeding = false;
    await feed.catch(() => {});
    await producer.disconnect();
    for (const { worker, transport } of workers) {
      await worker.stop().catch(() => {});
      await transport.close().catch(() => {});
    }
    await a.deleteTopics((await a.listTopics()).filter((t) => t.startsWith(ns))).catch(() => {});
    await admin.close();
  }
}

/** A setup over several joins: the worst of each figure, the median longest stop, and every round. */
export interface RebalanceSummary extends RebalanceResult {
  keptMedianGapMs: number;
  rounds: RebalanceResult[];
}

/** Every setup, `rounds` joins each, rounds alternating between setups (so machine noise hits them alike). */
export async function runRebalance(o: RebalanceOptions): Promise<Record<string, RebalanceSummary>> {
  const id = Date.now().toString(36);
  const rounds = new Map<RebalanceSetup, RebalanceResult[]>(o.setups.map((s) => [s, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (const setup of o.setups) {
      const r = await runSetup(o, setup, `${id}${round}`);
      o.logger.info(r, `bench: rebalance ${setup} round ${round + 1}`);
      rounds.get(setup)!.push(r);
    }
  }
  const results: Record<string, RebalanceSummary> = {};
  for (const [setup, rs] of rounds) {
    const worst = (of: (r: RebalanceResult) => ChangeResult): ChangeResult => ({
      kept: Math.min(...rs.map((r) => of(r).kept)),
      moved: Math.max(...rs.map((r) => of(r).moved)),
      keptMaxGapMs: Math.max(...rs.map((r) => of(r).keptMaxGapMs)),
      movedMaxHandoverMs: Math.max(...rs.map((r) => of(r).movedMaxHandoverMs)),
      settledMs: Math.max(...rs.map((r) => of(r).settledMs)),
    });
    const gaps = rs.map((r) => r.keptMaxGapMs).sort((a, b) => a - b);
    results[setup] = {
      ...worst((r) => r),
      keptMedianGapMs: gaps[Math.floor(gaps.length / 2)]!,
      baselineMaxGapMs: Math.max(...rs.map((r) => r.baselineMaxGapMs)),
      leave: worst((r) => r.leave),
      rounds: rs,
    };
  }
  return results;
}
