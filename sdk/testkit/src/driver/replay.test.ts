// Record and replay on the in-memory transport: the record file keeps every byte (keys, values, headers,
// timestamps, partitions), replay reproduces a topic exactly, pacing follows --rate and --speed, and a recorded
// file drives the TestDriver to the same state as the run it was recorded from. The same on a real broker,
// through the CLI: integration-tests/src/record-replay.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineApp, fn, type IncomingRecord, state } from '@dirigo/core';
import {
  encodeRecordLine,
  parseRecordLine,
  type RecordedRecord,
  readRecordFile,
  recordTopic,
  replayRecords,
} from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { TestDriver } from './test-driver.ts';

const dirs: string[] = [];
let driver: TestDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempFile = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), 'dirigo-replay-'));
  dirs.push(d);
  return join(d, name);
};

/** Every record of a topic, partition by partition. */
async function readAll(t: MemoryTransport, topic: string): Promise<IncomingRecord[]> {
  const out: IncomingRecord[] = [];
  await recordTopic(t, { topic }, (_l, r) => {
    out.push(r);
  });
  return out;
}

const strip = (r: IncomingRecord | RecordedRecord) => ({
  partition: r.partition,
  offset: r.offset,
  timestamp: r.timestamp,
  key: r.key?.toString('hex') ?? null,
  value: r.value?.toString('hex') ?? null,
  headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString('hex')])),
});

async function tricky(t: MemoryTransport, topic: string): Promise<void> {
  const admin = await t.admin();
  await admin.createTopics([{ name: topic, partitions: 3 }]);
  const p = t.producer();
  await p.connect();
  await p.send([
    { topic, partition: 0, key: null, value: Buffer.from('no key'), timestamp: 1000 },
    {
      topic,
      partition: 1,
      key: Buffer.from([0, 0xff, 0xfe, 1]),
      value: Buffer.from([0xc3, 0x28]),
      timestamp: 5,
    },
    { topic, partition: 1, key: Buffer.from('tomb'), value: null, timestamp: 2000 },
    {
      topic,
      partition: 2,
      key: Buffer.alloc(0),
      value: Buffer.alloc(0),
      headers: { bin: Buffer.from([0, 1, 0xff]), e: Buffer.alloc(0) },
      timestamp: 3000,
    },
    {
      topic,
      partition: 2,
      key: Buffer.from('k'),
      value: Buffer.from('{"a":1}'),
      headers: { 'trace-id': Buffer.from('abc') },
      timestamp: 4000,
    },
  ]);
  await p.disconnect();
}

describe('record and replay (in memory)', () => {
  it('records every byte and replays a topic exactly: partitions, offsets, timestamps, keys, values, headers', async () => {
    const kafka = new MemoryKafka();
    const t = new MemoryTransport(kafka);
    await tricky(t, 'src');
    const lines: string[] = [];
    expect(await recordTopic(t, { topic: 'src' }, (l) => void lines.push(l))).toBe(5);
    const file = tempFile('src.jsonl');
    writeFileSync(file, `# recorded by a test\n${lines.join('\n')}\n\n`);
    const records = await readRecordFile(file);
    expect(records.map(strip)).toEqual((await readAll(t, 'src')).map(strip));

    await (await t.admin()).createTopics([{ name: 'copy', partitions: 3 }]);
    expect(await replayRecords(t, records, { topic: 'copy' })).toBe(5);
    expect((await readAll(t, 'copy')).map(strip)).toEqual((await readAll(t, 'src')).map(strip));
    await kafka.close();
  });

  it('bounds a recording by offsets and by times, and re-stamps or re-partitions on replay', async () => {
    const kafka = new MemoryKafka();
    const t = new MemoryTransport(kafka);
    await tricky(t, 'src');
    const keep = async (o: Parameters<typeof recordTopic>[1]) => {
      const out: IncomingRecord[] = [];
      await recordTopic(t, o, (_l, r) => void out.push(r));
      return out.map((r) => `${r.partition}@${r.offset}`);
    };
    expect(await keep({ topic: 'src', from: { offset: 1 } })).toEqual(['1@1', '2@1']);
    expect(await keep({ topic: 'src', to: { offset: 1 } })).toEqual(['0@0', '1@0', '2@0']);
    expect(await keep({ topic: 'src', from: { time: 1000 }, to: { time: 3000 } })).toEqual(['0@0', '1@1']);
    expect(await keep({ topic: 'src', partitions: [2] })).toEqual(['2@0', '2@1']);

    const records = (await readAll(t, 'src')).map((r) => ({ ...r }));
    await (await t.admin()).createTopics([{ name: 'one', partitions: 1 }]);
    await expect(replayRecords(t, records, { topic: 'one' })).rejects.toThrow(
      /has 1 partitions but a record was recorded on partition 1; replay with --partitions key/,
    );
    kafka.clock.now = () => 777;
    await replayRecords(t, records, { topic: 'one', partitions: 'key', timestamps: 'now' });
    expect((await readAll(t, 'one')).map((r) => r.timestamp)).toEqual([777, 777, 777, 777, 777]);
    await kafka.close();
  });

  it('paces by --rate and by --speed (recorded time), never reordering a partition', async () => {
    const kafka = new MemoryKafka();
    const t = new MemoryTransport(kafka);
    await (await t.admin()).createTopics([{ name: 'out', partitions: 1 }]);
    let now = 0;
    const sent: number[] = [];
    const time = {
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
    };
    const rec = (i: number, ts: number): RecordedRecord => ({
      topic: 'x',
      partition: 0,
      offset: i,
      timestamp: ts,
      key: null,
      value: Buffer.from(String(i)),
      headers: {},
    });
    const ten = Array.from({ length: 10 }, (_, i) => rec(i, 10_000 + i * 1000));
    await replayRecords(t, ten, { topic: 'out', rate: 5, time, onProgress: () => void sent.push(now) });
    expect(now).toBe(1800); // the 10th record is due 9/5 s after the first
    now = 0;
    sent.length = 0;
    await replayRecords(t, ten, { topic: 'out', speed: 10, time, onProgress: () => void sent.push(now) });
    expect(sent).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    const values = (await readAll(t, 'out')).map((r) => r.value!.toString());
    expect(values).toEqual([...ten, ...ten].map((r) => r.value!.toString()));
    await expect(replayRecords(t, ten, { rate: 0 })).rejects.toThrow(/rate: expected a positive number/);
    await kafka.close();
  });

  it("refuses recorded timestamps the target's time retention would delete unread, naming the fixes", async () => {
    const kafka = new MemoryKafka();
    const t = new MemoryTransport(kafka);
    const DAY = 86_400_000;
    const now = 100 * DAY;
    const time = { now: () => now, sleep: async () => {} };
    await (await t.admin()).createTopics([
      { name: 'week', partitions: 1, config: { 'retention.ms': String(7 * DAY) } },
      { name: 'forever', partitions: 1, config: { 'retention.ms': '-1' } },
      { name: 'table', partitions: 1, compacted: true, config: { 'retention.ms': String(7 * DAY) } },
      {
        name: 'appended',
        partitions: 1,
        config: { 'retention.ms': String(DAY), 'message.timestamp.type': 'LogAppendTime' },
      },
    ]);
    const rec = (i: number, ts: number): RecordedRecord => ({
      topic: 'x',
      partition: 0,
      offset: i,
      timestamp: ts,
      key: Buffer.from(`k${i}`),
      value: Buffer.from(String(i)),
      headers: {},
    });
    const old = [rec(0, now - 6 * DAY), rec(1, now - 9 * DAY), rec(2, now - 8 * DAY), rec(3, now - DAY)];
    await expect(replayRecords(t, old, { topic: 'week', time })).rejects.toThrow(
      `2 of the records for topic 'week' are older than its retention.ms, 604800000 ms (7 days) (the oldest is from ${new Date(now - 9 * DAY).toISOString()})`,
    );
    await expect(replayRecords(t, old, { topic: 'week', time })).rejects.toThrow(/--timestamps now/);
    expect((await readAll(t, 'week')).length).toBe(0); // nothing was sent
    // Within the retention, restamped, or into topics that keep them: sent.
    expect(await replayRecords(t, [old[0]!, old[3]!], { topic: 'week', time })).toBe(2);
    expect(await replayRecords(t, old, { topic: 'week', time, timestamps: 'now' })).toBe(4);
    for (const topic of ['forever', 'table', 'appended'])
      expect(await replayRecords(t, old, { topic, time })).toBe(4);
    await kafka.close();
  });

  it('names the line of a bad record file', () => {
    expect(() =>
      parseRecordLine('{"v":1,"topic":"t","partition":0,"offset":0,"timestamp":1,"key":"%%"}', 'f.jsonl:3'),
    ).toThrow(/f.jsonl:3: key must be base64/);
    expect(() => parseRecordLine('nope', 'f.jsonl:9')).toThrow(/f.jsonl:9: not JSON/);
    expect(() => parseRecordLine('{"v":2}', 'f:1')).toThrow(/unknown record line version 2/);
    const r = { topic: 't', partition: 1, offset: 2, timestamp: 3, key: null, value: null, headers: {} };
    expect(parseRecordLine(encodeRecordLine(r), 'x')).toEqual(r);
  });
});

const counter = defineApp({
  name: 'ctr',
  ingresses: [{ topic: 'in', to: 'count' }],
  egresses: { out: { topic: 'counts' } },
  functions: {
    count: fn({
      state: { n: state.value<number>(), sum: state.value<number>() },
      handler(ctx, m: { add: number }) {
        if (m.add < 0) throw new Error('negative');
        const n = (ctx.state.n.get() ?? 0) + 1;
        ctx.state.n.set(n);
        ctx.state.sum.set((ctx.state.sum.get() ?? 0) + m.add);
        ctx.emit('out', ctx.key, { n });
      },
    }),
  },
});

describe('driver.pipeFile', () => {
  it('drives the TestDriver to the same state, outputs and dead letters as the run it was recorded from', async () => {
    driver = await TestDriver.start(counter, { ingressPartitions: 3 });
    const inputs = Array.from({ length: 60 }, (_, i) => ({
      key: `k${i % 7}`,
      value: { add: i % 13 === 5 ? -1 : i },
      timestamp: Date.UTC(2026, 0, 1) + i * 10,
    }));
    await driver.pipe('in', inputs);
    const lines: string[] = [];
    await recordTopic(driver.transport, { topic: 'in' }, (l) => void lines.push(l));
    const file = tempFile('incident.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const live = new Map<string, unknown>();
    for (let k = 0; k < 7; k++)
      live.set(`k${k}`, [
        await driver.state('ctr', 'count', `k${k}`, 'n'),
        await driver.state('ctr', 'count', `k${k}`, 'sum'),
      ]);
    const liveOut = (await driver.output('counts')).map((r) => [r.key, r.value]);
    const liveDead = (await driver.deadLetters('ctr')).length;
    await driver.stop();

    driver = await TestDriver.start(counter, { ingressPartitions: 3 });
    expect(await driver.pipeFile(file)).toBe(60);
    for (const [k, v] of live)
      expect([
        await driver.state('ctr', 'count', k, 'n'),
        await driver.state('ctr', 'count', k, 'sum'),
      ]).toEqual(v);
    expect((await driver.output('counts')).map((r) => [r.key, r.value])).toEqual(liveOut);
    expect((await driver.deadLetters('ctr')).length).toBe(liveDead);
    expect(liveDead).toBe(5);
    expect((await driver.readAll('in')).map(strip)).toEqual((await readRecordFile(file)).map(strip));
  });
});
