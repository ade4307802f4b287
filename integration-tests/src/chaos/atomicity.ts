// `npm run chaos -- atomicity`: are a client's transactions atomic while broker nodes are SIGKILLed?
//
// No app and no worker: `producers` transactional producers of one transport each run transactions that write
// one record to every partition of a topic and add an input offset (sendOffsets), as an exactly-once v1 step
// does, while broker nodes of a three-node cluster are SIGKILLed one at a time. A failed transaction is aborted
// where it can be and its producer replaced (a new one with the same transactional id fences the old). At the end
// every partition is read (read_committed) and each transaction must be on every partition or on none, once;
// every transaction whose commit was acknowledged must be there. A failed commit may still have committed (its
// outcome is unknown to the client), so a failed transaction found whole is counted, not an error.
//
// With `beforeFenced`, a killed node is started again as soon as its down time is over, even while the
// controller still counts its old process as alive: Kafka 4.2.2 then splits transactions (docs/operations.md,
// "Known limitations"); by default the restart waits for the fence (KafkaCluster.startNode).
import type { Logger, Producer, Transport } from '@dirigo/core';
import type { KafkaCluster } from '@dirigo/local-kafka';
import { seeded } from './run-chaos-lib.ts';

export interface AtomicityOptions {
  readonly cluster: KafkaCluster;
  readonly transport: Transport;
  readonly seed: number;
  readonly producers: number;
  readonly partitions: number;
  readonly feedMs: number;
  readonly brokerKills: number;
  readonly beforeFenced: boolean;
  readonly logger: Logger;
}

export interface AtomicityResult {
  readonly seed: number;
  readonly transactions: number;
  readonly committed: number;
  readonly failed: number;
  /** Transactions on some partitions but not all: the atomicity the test is about. */
  readonly partial: number;
  /** Transactions with a record twice on one partition. */
  readonly duplicated: number;
  /** Transactions whose commit was acknowledged but that are on no partition. */
  readonly lostCommitted: number;
  /** Failed transactions found whole (their commit went through after all). */
  readonly failedCommitted: number;
  readonly brokerKills: number;
  readonly beforeFenced: boolean;
  /** Up to 10 examples, `producer:sequence -> partitions seen`. */
  readonly examples: readonly string[];
  readonly elapsedMs: number;
}

export function atomicityPassed(r: AtomicityResult): boolean {
  return r.partial === 0 && r.duplicated === 0 && r.lostCommitted === 0 && r.committed > 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runAtomicity(o: AtomicityOptions): Promise<AtomicityResult> {
  const began = Date.now();
  const random = seeded(o.seed);
  const topic = `chaos-atomicity-${o.seed}-${began}`;
  const offsetsTopic = `${topic}-in`;
  const group = `${topic}-g`;
  const admin = await o.transport.admin();
  await admin.createTopics([
    { name: topic, partitions: o.partitions, replicationFactor: 3, config: { 'min.insync.replicas': '2' } },
    {
      name: offsetsTopic,
      partitions: o.producers,
      replicationFactor: 3,
      config: { 'min.insync.replicas': '2' },
    },
  ]);
  const outcomes = new Map<string, boolean>(); // transaction id -> commit acknowledged
  let stop = false;

  const runProducer = async (p: number): Promise<void> => {
    let producer: Producer | undefined;
    let seq = 0;
    while (!stop) {
      try {
        if (producer === undefined) {
          producer = o.transport.producer({ transactionalId: `${topic}-${p}`, transactionTimeoutMs: 10_000 });
          await producer.connect();
        }
        const id = `${p}:${seq++}`;
        const value = Buffer.from(id);
        const records = Array.from({ length: o.partitions }, (_, partition) => ({
          topic,
          partition,
          key: value,
          value,
        }));
        const txn = await producer.beginTransaction();
        outcomes.set(id, false);
        try {
          await txn.send(records);
          await txn.sendOffsets(group, [{ topic: offsetsTopic, partition: p, offset: seq }]);
          await txn.commit();
          outcomes.set(id, true);
        } catch (e) {
          await txn.abort().catch(() => {});
          throw e;
        }
      } catch (e) {
        o.logger.debug({ err: e, producer: p }, 'atomicity: transaction failed; replacing the producer');
        await producer?.disconnect().catch(() => {});
        producer = undefined;
        await sleep(100);
      }
    }
    await producer?.disconnect().catch(() => {});
  };

  // One node down at a time, at random moments of the feed window, each down for 1-4 s.
  const kills = async (): Promise<void> => {
    const gap = o.feedMs / (o.brokerKills + 1);
    let last = 0;
    for (let k = 0; k < o.brokerKills; k++) {
      await sleep(gap * (0.6 + 0.4 * random()));
      let node = 1 + Math.floor(random() * 3);
      if (node === last) node = (node % 3) + 1;
      last = node;
      o.logger.info({ node }, 'atomicity: broker SIGKILL');
      await o.cluster.stopNode(node, 'SIGKILL');
      await sleep(1000 + 3000 * random());
      await o.cluster.startNode(node, { beforeFenced: o.beforeFenced });
      o.logger.info({ node }, 'atomicity: broker restarted');
    }
  };

  const producers = Array.from({ length: o.producers }, (_, p) => runProducer(p));
  await Promise.all([kills(), sleep(o.feedMs)]);
  stop = true;
  await Promise.all(producers);

  const ends = await admin.fetchTopicOffsets(topic);
  const seen = new Map<string, number[]>();
  await o.transport.readToEnd(
    ends.map((e) => ({ topic, partition: e.partition, fromOffset: 0 })),
    (batch) => {
      for (const r of batch) {
        const id = r.value?.toString() ?? '';
        const list = seen.get(id);
        if (list === undefined) seen.set(id, [r.partition]);
        else list.push(r.partition);
      }
    },
  );
  await admin.deleteTopics([topic, offsetsTopic]).catch(() => {});

  let partial = 0;
  let duplicated = 0;
  let lostCommitted = 0;
  let failedCommitted = 0;
  const examples: string[] = [];
  for (const [id, parts] of seen) {
    const distinct = new Set(parts).size;
    if (distinct < o.partitions) partial++;
    if (parts.length > distinct) duplicated++;
    if (distinct < o.partitions || parts.length > distinct) {
      if (examples.length < 10) examples.push(`${id} -> [${parts.join(',')}]`);
    } else if (outcomes.get(id) === false) failedCommitted++;
  }
  let committed = 0;
  for (const [id, acked] of outcomes) {
    if (!acked) continue;
    committed++;
    if (!seen.has(id)) {
      lostCommitted++;
      if (examples.length < 10) examples.push(`${id} -> lost`);
    }
  }
  return {
    seed: o.seed,
    transactions: outcomes.size,
    committed,
    failed: outcomes.size - committed,
    partial,
    duplicated,
    lostCommitted,
    failedCommitted,
    brokerKills: o.brokerKills,
    beforeFenced: o.beforeFenced,
    examples,
    elapsedMs: Date.now() - began,
  };
}
