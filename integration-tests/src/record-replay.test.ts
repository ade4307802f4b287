// The `dirigo` verbs on the real broker, as a user runs them next to a running worker: topics, lag, record,
// replay (byte for byte: partitions, offsets, timestamps, keys, values, headers), state from the changelog, and
// dead letters listed and re-driven exactly once after a fix. The recorded file then drives the TestDriver to
// the same state as the live run.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingRecord } from '@dirigo/core';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { TestDriver, waitFor } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { brokers, kafkaTransport, testLogger, unique } from './harness.ts';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../sdk/runtime/src/cli.ts');
const appModule = resolve(here, 'cli-app.ts');

const stopAll: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stopAll.splice(0).reverse()) await s().catch(() => {});
});

/** Runs `dirigo <args>`; resolves with its exit code, stdout and stderr. */
function dirigo(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--conditions=source', cli, ...args],
      { env: { ...process.env, ...env, KAFKA_BROKERS: brokers() }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

const bytes = (r: IncomingRecord) => ({
  partition: r.partition,
  offset: r.offset,
  timestamp: r.timestamp,
  key: r.key?.toString('hex') ?? null,
  value: r.value?.toString('hex') ?? null,
  headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString('hex')])),
});

describe('the dirigo CLI verbs on a real broker', () => {
  it('record then replay reproduces a topic byte for byte; state, lag, topics; dlq re-drive; pipeFile', async () => {
    const ns = unique('it-cli');
    const env = { CLI_APP_NS: ns };
    process.env.CLI_APP_NS = ns;
    const { default: app, fix } = await import('./cli-app.ts');
    const input = `${ns}-in`;
    const copy = `${ns}-copy`;
    const t = kafkaTransport('it-cli-setup');
    stopAll.push(() => t.close());
    const admin = await t.admin();
    // The records below are stamped 2026-01-01: the topics keep them without time retention (the broker would
    // delete them at its next retention check otherwise, seconds later on the test broker).
    const strict = `${ns}-strict`;
    await admin.createTopics([
      { name: input, partitions: 3, config: { 'retention.ms': '-1' } },
      { name: copy, partitions: 3, config: { 'retention.ms': '-1' } },
      { name: strict, partitions: 3 },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'dirigo-cli-'));
    stopAll.push(async () => rmSync(dir, { recursive: true, force: true }));

    // topics: the ingress exists; what the worker creates is not there yet, which is no problem.
    const before = await dirigo(env, 'topics', appModule);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`${input}\\s+ingress -> count\\s+3\\s+ok`));
    expect(before.stdout).toMatch(/changelog of count\s+-\s+missing \(a worker creates it\)/);

    const worker = new Worker({
      transport: kafkaTransport('w-cli'),
      apps: [app],
      logger: testLogger(),
      workerId: 'w-cli',
    });
    stopAll.push(() => worker.stop());
    await worker.start();

    const base = Date.UTC(2026, 0, 1);
    const records = Array.from({ length: 300 }, (_, i) => ({
      topic: input,
      key: i % 50 === 7 ? Buffer.from([0xff, 0, i % 3]) : Buffer.from(`k${i % 11}`),
      value: Buffer.from(JSON.stringify({ add: i === 100 ? -5 : i, id: `m${i}` })),
      headers: { trace: Buffer.from([i % 256, 0, 0xfe]), 'content-type': Buffer.from('application/json') },
      timestamp: base + i * 1000,
    }));
    const producer = t.producer({ clientId: 'it-cli-feeder' });
    await producer.connect();
    await producer.send(records);
    await producer.disconnect();
    const group = `${ns}.ctr.count`;
    await waitFor(async () => (await pendingRecords(t, group, input)) === 0, 60_000, { intervalMs: 300 });

    const lag = await dirigo(env, 'lag', appModule);
    expect(lag.code).toBe(0);
    expect(lag.stdout).toMatch(new RegExp(`ctr\\s+count\\s+${input}\\s+3\\s+0`));
    const topics = await dirigo(env, 'topics', appModule);
    expect(topics.code).toBe(0);
    expect(topics.stdout).not.toMatch(/MISSING|MISMATCH|missing/);

    // record (to stdout) then replay into another topic: the same bytes, partitions, offsets and timestamps.
    const rec = await dirigo(env, 'record', '--topic', input);
    expect(rec.code).toBe(0);
    expect(rec.stderr).toMatch(/record: 300 records of/);
    const file = join(dir, 'incident.jsonl');
    writeFileSync(file, rec.stdout);
    const rep = await dirigo(env, 'replay', file, '--to', copy);
    expect(rep.stderr).toMatch(/replay: 300 records to/);
    expect(rep.code).toBe(0);
    // Into a topic with the broker's default retention (7 days), records this old would be deleted unread:
    // refused, with the fixes; stamped now they go.
    const refused = await dirigo(env, 'replay', file, '--to', strict);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      new RegExp(
        `300 of the records for topic '${strict}' are older than its retention.ms, 604800000 ms \\(7 days\\)`,
      ),
    );
    expect(refused.stderr).toMatch(/--timestamps now/);
    expect((await admin.fetchTopicOffsets(strict)).reduce((n, o) => n + o.high, 0)).toBe(0);
    const restamped = await dirigo(env, 'replay', file, '--to', strict, '--timestamps', 'now');
    expect(restamped.stderr).toMatch(/replay: 300 records to/);
    const read = async (topic: string) => {
      const out: IncomingRecord[] = [];
      await t.readToEnd(
        (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
        (rs) => void out.push(...rs),
      );
      return out.map(bytes).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
    };
    const original = await read(input);
    expect(original).toHaveLength(300);
    expect(await read(copy)).toEqual(original);

    // state, from the changelog, equals what the worker holds.
    const live = new Map<string, unknown>();
    for (const k of [...new Set(records.map((r) => r.key.toString('hex')))]) {
      const key = Buffer.from(k, 'hex');
      const st = await dirigo(env, 'state', appModule, '--fn', 'count', '--key-hex', k, '--state', 'n');
      expect(st.code).toBe(0);
      const n = await worker.readState('ctr', 'count', key, 'n');
      expect(JSON.parse(st.stdout)).toEqual({ n });
      live.set(k, [n, await worker.readState('ctr', 'count', key, 'sum')]);
      if (live.size >= 3) break; // a few keys through the CLI; all of them below
    }
    const full = await dirigo(env, 'state', appModule, '--fn', 'count', '--key', 'k1');
    expect(JSON.parse(full.stdout)).toMatchObject({ n: 27, seen: { m1: true, m12: true } });

    // The recorded file drives the TestDriver to the live run's state (and the same dead letter).
    const driver = await TestDriver.start(app, { ingressPartitions: 3 });
    stopAll.push(() => driver.stop());
    expect(await driver.pipeFile(file)).toBe(300);
    for (const k of new Set(records.map((r) => r.key.toString('hex')))) {
      const key = Buffer.from(k, 'hex');
      expect(await driver.state('ctr', 'count', key, 'n')).toBe(
        await worker.readState('ctr', 'count', key, 'n'),
      );
      expect(await driver.state('ctr', 'count', key, 'sum')).toBe(
        await worker.readState('ctr', 'count', key, 'sum'),
      );
    }
    expect(await driver.deadLetters('ctr')).toHaveLength(1);

    // dlq: list, fix, re-drive exactly once.
    const list = await dirigo(env, 'dlq', 'list', appModule);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`${input}/\\d@\\d+\\s+count\\s+handler\\s+pending\\s+negative add -5`),
    );
    const poisonKey = records[100]!.key;
    const n0 = (await worker.readState('ctr', 'count', poisonKey, 'n')) as number;
    fix.fixed = true;
    const redrive = await dirigo(env, 'dlq', 'redrive', appModule);
    expect(redrive.stderr).toMatch(new RegExp(`re-drove 1 dead letter to ${input}`));
    await waitFor(async () => (await worker.readState('ctr', 'count', poisonKey, 'n')) === n0 + 1, 30_000, {
      intervalMs: 200,
    });
    expect(await worker.readState('ctr', 'count', poisonKey, 'seen')).toMatchObject({ m100: true });
    expect((await dirigo(env, 'dlq', 'redrive', appModule)).stderr).toMatch(/nothing to re-drive/);
    expect((await dirigo(env, 'dlq', 'list', appModule)).stdout).toMatch(
      /handler\s+redriven\s+negative add -5/,
    );
  });
});
