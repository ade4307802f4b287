import { type Consumer, createLogger, PartitionsRevokedError, type TopicPartition } from '@dirigo/core';
import { startKafka } from '@dirigo/local-kafka';
import { KafkajsTransport } from './index.ts';

const log = createLogger({ level: 'info' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cluster = await startKafka({ nodes: 3, basePort: 23292 });
const out = (s: string) => process.stdout.write(`${new Date().toISOString()} ${s}\n`);
try {
  out(`brokers ${cluster.brokers}`);
  const t = new KafkajsTransport({
    brokers: cluster.brokers,
    logger: createLogger({ level: process.env.LVL ?? 'warn' }),
  });
  const admin = await t.admin();
  const topic = `fo-${Date.now()}`;
  await admin.createTopics([{ name: topic, partitions: 6 }]);
  const p = t.producer();
  await p.connect();
  let sent = 0;
  let producing = true;
  let sendErrors = 0;
  const prod = (async () => {
    while (producing) {
      const b = [];
      for (let i = 0; i < 10; i++) {
        b.push({ topic, key: Buffer.from(`k${sent}`), value: Buffer.from(`${sent++}`) });
      }
      try {
        await p.send(b);
      } catch (e) {
        sendErrors++;
        out(`send error ${(e as Error).name} ${(e as Error).message}`);
      }
      await sleep(20);
    }
  })();
  const seen = new Set<string>();
  const violations: string[] = [];
  const member = async (label: string) => {
    let owned = new Set<number>();
    let inCb = false;
    let c!: Consumer;
    c = t.consumer({ groupId: `g-${topic}`, heartbeatIntervalMs: 1000 });
    await c.connect();
    await c.subscribe([topic]);
    await c.run({
      onAssigned: async (ps: readonly TopicPartition[]) => {
        inCb = true;
        owned = new Set(ps.map((x) => x.partition));
        out(`${label} assigned ${[...owned]}`);
        await sleep(100);
        inCb = false;
      },
      onRevoked: async (ps: readonly TopicPartition[]) => {
        inCb = true;
        out(`${label} revoked ${ps.map((x) => x.partition)}`);
        await sleep(100);
        owned = new Set();
        inCb = false;
      },
      eachBatch: async (b) => {
        if (inCb) violations.push(`${label} batch in callback`);
        if (!owned.has(b.partition)) violations.push(`${label} unowned ${b.partition}`);
        for (const r of b.records) seen.add(r.value!.toString());
        try {
          await c.commitOffsets([{ topic, partition: b.partition, offset: b.records.at(-1)!.offset + 1 }]);
        } catch (e) {
          if (!(e instanceof PartitionsRevokedError)) out(`${label} commit error ${(e as Error).message}`);
        }
      },
    });
    return c;
  };
  const a = await member('A');
  const b = await member('B');
  await sleep(8000);
  const md = await admin.describeTopics([topic]);
  out(`killing node 1 (sent ${sent}, seen ${seen.size})`);
  await cluster.stopNode(1, 'SIGKILL');
  await sleep(15000);
  out(`restarting node 1 (sent ${sent}, seen ${seen.size})`);
  await cluster.startNode(1);
  await sleep(10000);
  producing = false;
  await prod;
  const deadline = Date.now() + 60000;
  while (seen.size < sent && Date.now() < deadline) await sleep(200);
  out(
    `sent ${sent} seen ${seen.size} sendErrors ${sendErrors} violations ${JSON.stringify(violations.slice(0, 5))} (${violations.length})`,
  );
  let n = 0;
  const ends = await t.readToEnd(
    [0, 1, 2, 3, 4, 5].map((partition) => ({ topic, partition, fromOffset: 0 })),
    (rs) => {
      n += rs.length;
    },
  );
  out(`readToEnd ${n} records, ends ${ends.map((e) => e.offset)}`);
  void md;
  await a.disconnect();
  await b.disconnect();
  await t.close();
} finally {
  await cluster.stop();
  out('cluster stopped');
}
