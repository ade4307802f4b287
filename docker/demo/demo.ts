// The demo service of docker/compose.yaml (run by the worker image): creates the `lines` topic of the
// word-count example if needed, feeds it DEMO_LINES lines of words unique to this run, and waits until the
// counts the workers wrote to `word-counts` are exactly the ones fed. Exits 0 when they are, 1 otherwise.
import { KafkajsTransport } from '@dirigo/kafkajs';

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const lineCount = Number(process.env.DEMO_LINES ?? 2000);
const timeoutMs = Number(process.env.DEMO_TIMEOUT_MS ?? 180_000);
const say = (line: string) => process.stdout.write(`demo: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `f` until it resolves or the deadline passes (Kafka may still be starting). */
async function retry<T>(what: string, deadline: number, f: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
      await sleep(1000);
    }
  }
}

const began = Date.now();
const deadline = began + timeoutMs;
// Words unique to this run, so that the demo can run again on the same Kafka and check only its own counts.
const run = `d${began.toString(36)}`;
const words = Array.from({ length: 12 }, (_, i) => `${run}w${i}`);
const expected = new Map<string, number>();
const lines: string[] = [];
for (let i = 0; i < lineCount; i++) {
  const line = Array.from({ length: 1 + (i % 5) }, (_, j) => words[(i * 7 + j * 3) % words.length]!);
  for (const w of line) expected.set(w, (expected.get(w) ?? 0) + 1);
  lines.push(line.join(' '));
}

let exitCode = 1;
const transport = new KafkajsTransport({ brokers, clientId: 'dirigo-demo' });
try {
  const admin = await retry('Kafka does not answer', deadline, () => transport.admin());
  if (!(await admin.listTopics()).includes('lines')) {
    await admin.createTopics([{ name: 'lines', partitions: 4 }]);
    say('created the topic lines (4 partitions)');
  }
  const producer = transport.producer({ clientId: 'dirigo-demo-feeder' });
  await producer.connect();
  for (let i = 0; i < lines.length; i += 500) {
    await producer.send(
      lines.slice(i, i + 500).map((line, j) => ({
        topic: 'lines',
        key: Buffer.from(String(i + j)),
        value: Buffer.from(line),
      })),
    );
  }
  await producer.disconnect();
  say(`fed ${lines.length} lines with ${[...expected.values()].reduce((a, b) => a + b, 0)} words`);

  const latest = new Map<string, number>();
  const matches = () => [...expected].every(([w, n]) => latest.get(w) === n);
  while (!matches()) {
    if (Date.now() > deadline) {
      const wrong = [...expected].filter(([w, n]) => latest.get(w) !== n);
      throw new Error(
        `counts not right after ${timeoutMs} ms: ${wrong.map(([w, n]) => `${w} ${latest.get(w) ?? 0}/${n}`).join(', ')}`,
      );
    }
    await sleep(1000);
    latest.clear();
    try {
      const offsets = await admin.fetchTopicOffsets('word-counts');
      await transport.readToEnd(
        offsets.map((p) => ({ topic: 'word-counts', partition: p.partition, fromOffset: 0 })),
        (records) => {
          for (const r of records) {
            const { word, count } = JSON.parse(r.value!.toString()) as { word: string; count: number };
            if (expected.has(word)) latest.set(word, Math.max(latest.get(word) ?? 0, count));
          }
        },
      );
    } catch {
      // word-counts does not exist until a worker started the app.
    }
  }
  say(`all ${expected.size} counts right after ${((Date.now() - began) / 1000).toFixed(1)} s`);
  exitCode = 0;
} catch (e) {
  say(`FAILED: ${(e as Error).message}`);
} finally {
  await transport.close();
}
process.exit(exitCode);
