// `npm run demo`: runs the word-count and balances apps on one worker over a real Kafka (KAFKA_BROKERS, a
// cluster started with `npm run kafka -- start`, or one started just for the demo), feeds them, shows what
// the worker is doing (and where its live view is), and checks the results against counts computed here. Each
// run uses its own namespace and topics and deletes them at the end (`--keep` keeps them; `--stay` keeps the
// worker and its live view running until Ctrl+C).
import { parseArgs } from 'node:util';
import { createLogger, type OutgoingRecord } from '@dirigo/core';
import { type BalanceUpdate, balancesApp, type Transfer } from '@dirigo/example-balances';
import { type WordCount, wordCountApp } from '@dirigo/example-word-count';
import { ensureKafka } from '@dirigo/local-kafka';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { transportFromSettings } from '@dirigo/runtime/process';

const TEXT = `Dirigo runs stateful functions as virtual actors on a shared pool of workers.
Every function is a consumer group over its own topic and every actor keeps its state in a changelog.
A worker that dies loses nothing: another one restores the state and goes on from the last commit.
Each step reads, processes and writes in one Kafka transaction so every message counts exactly once.`.split(
  '\n',
);

const out = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '3000' },
      transfers: { type: 'string', default: '2000' },
      keep: { type: 'boolean' },
      stay: { type: 'boolean' },
      'metrics-port': { type: 'string', default: '0' },
    },
  });
  const lines = Number(values.lines);
  const transfers = Number(values.transfers);
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  out('Dirigo for Kafka demo');
  const kafka = await ensureKafka({ nodes: 1, logger });
  out(
    `  Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source === 'local' ? 'started for this demo' : kafka.source})`,
  );
  // The worker's default transport (platformatic), or the one DIRIGO_TRANSPORT names.
  const transport = transportFromSettings({ brokers: kafka.brokers, clientId: 'dirigo-demo' }, logger);
  const run = `demo-${Date.now().toString(36)}`;
  const wc = wordCountApp({ namespace: run, linesTopic: `${run}.lines`, countsTopic: `${run}.word-counts` });
  const bal = balancesApp({ namespace: run, topicPrefix: `${run}.` });
  const admin = await transport.admin();
  await admin.createTopics([
    { name: `${run}.lines`, partitions: 4 },
    { name: `${run}.transfers`, partitions: 4 },
  ]);
  const worker = new Worker({
    transport,
    apps: [wc, bal],
    logger,
    workerId: 'demo-worker',
    metricsPort: Number(values['metrics-port']),
  });
  const t0 = Date.now();
  await worker.start();
  out(`  live view: http://localhost:${worker.metricsAddress}/dashboard (Prometheus: /metrics)`);
  out(
    `  worker ${worker.id} hosts apps ${worker
      .apps()
      .map((a) => `${a.name} (${a.options.guarantee}, target ${a.options.latencyTargetMs} ms)`)
      .join(', ')}`,
  );

  // Feed both apps while printing what the worker does.
  const expectedWords = new Map<string, number>();
  const producer = transport.producer({ clientId: 'demo-feeder' });
  await producer.connect();
  const feed = async () => {
    for (let i = 0; i < Math.max(lines, transfers); i += 250) {
      const batch: OutgoingRecord[] = [];
      for (let j = i; j < Math.min(lines, i + 250); j++) {
        const line = TEXT[j % TEXT.length]!;
        for (const w of line.toLowerCase().split(/[^\p{L}\p{N}']+/u))
          if (w) expectedWords.set(w, (expectedWords.get(w) ?? 0) + 1);
        batch.push({ topic: `${run}.lines`, key: null, value: Buffer.from(line) });
      }
      for (let j = i; j < Math.min(transfers, i + 250); j++) {
        const t: Transfer = {
          id: `t${j}`,
          from: `acct-${j % 17}`,
          to: `acct-${(j * 7 + 3) % 17}`,
          amount: 1 + (j % 40),
        };
        batch.push({
          topic: `${run}.transfers`,
          key: Buffer.from(t.id),
          value: Buffer.from(JSON.stringify(t)),
        });
      }
      if (batch.length > 0) await producer.send(batch);
      await sleep(100);
    }
  };
  const progress = setInterval(() => {
    const s = [...worker.appStats()]
      .map(([name, st]) => `${name}: ${st.processed} processed, ${st.steps} steps`)
      .join(' | ');
    out(`  [${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}`);
  }, 1000);
  await feed();
  await producer.disconnect();

  // Wait until every function of both apps has processed everything (exact under transactions).
  const groups = [...worker.apps()].flatMap((a) =>
    [...a.functions.values()].map((f) => [f.group, f.topic] as const),
  );
  for (;;) {
    let pending = 0;
    for (const [group, topic] of groups) pending += await pendingRecords(transport, group, topic);
    if (pending === 0) break;
    await sleep(500);
  }
  clearInterval(progress);

  // Check results against what was fed.
  const counts = new Map<string, number>();
  const latencies: number[] = [];
  const countsTopic = `${run}.word-counts`;
  await transport.readToEnd(
    (await admin.fetchTopicOffsets(countsTopic)).map((p) => ({
      topic: countsTopic,
      partition: p.partition,
      fromOffset: 0,
    })),
    (records) => {
      for (const r of records) {
        const v = JSON.parse(r.value!.toString()) as WordCount;
        counts.set(v.word, Math.max(counts.get(v.word) ?? 0, v.count));
        latencies.push(r.timestamp - Number(r.headers['dirigo-ingest']?.toString()));
      }
    },
  );
  const top = [...expectedWords].sort((a, b) => b[1] - a[1]).slice(0, 6);
  const wrong = [...expectedWords].filter(([w, n]) => counts.get(w) !== n).length;
  out(
    `  word-count: ${expectedWords.size} distinct words; top: ${top.map(([w]) => `${w}=${counts.get(w) ?? 0}`).join(' ')}`,
  );
  out(
    `  word-count check: ${wrong === 0 ? 'every count matches what was fed' : `${wrong} words differ from what was fed`}`,
  );
  latencies.sort((a, b) => a - b);
  out(
    `  word-count end-to-end latency: p50 ${latencies[Math.floor(latencies.length / 2)]} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)]} ms (includes the feed's backlog)`,
  );
  const balances = new Map<string, number>();
  const balTopic = `${run}.balances`;
  await transport.readToEnd(
    (await admin.fetchTopicOffsets(balTopic)).map((p) => ({
      topic: balTopic,
      partition: p.partition,
      fromOffset: 0,
    })),
    (records) => {
      for (const r of records) {
        const v = JSON.parse(r.value!.toString()) as BalanceUpdate;
        balances.set(v.account, v.balance);
      }
    },
  );
  const total = [...balances.values()].reduce((a, b) => a + b, 0);
  out(
    `  balances: ${balances.size} accounts, sum of balances ${total} (${total === 0 ? 'money is conserved' : 'MONEY NOT CONSERVED'})`,
  );
  if (values.stay) {
    out(
      `  still running: the live view is at http://localhost:${worker.metricsAddress}/dashboard; Ctrl+C stops`,
    );
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  await worker.stop();
  if (!values.keep) {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(run));
    await admin.deleteTopics(topics);
  }
  await transport.close();
  await kafka.stop();
  out(`demo finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exitCode = wrong === 0 && total === 0 ? 0 : 1;
}

await main();
