// Keys are bytes, on the real broker: 8-byte keys as Java's LongSerializer writes them each get their own actor,
// outputs keep the exact key bytes (and so the partition a Java producer would pick), and a null key is not
// the empty key.
import { defineApp, fn, keys, partitionFor, state } from '@dirigo/core';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { kafkaTransport, testLogger, unique } from './harness.ts';

const long = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};

const stopAll: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stopAll.splice(0).reverse()) await s().catch(() => {});
});

describe('keys on a real broker', () => {
  it('gives 2,000 binary keys 2,000 actors and writes their outputs with the same bytes', async () => {
    const ns = unique('it-keys');
    const input = `${ns}-in`;
    const output = `${ns}-out`;
    const t = kafkaTransport('it-keys-setup');
    stopAll.push(() => t.close());
    await (await t.admin()).createTopics([
      { name: input, partitions: 4 },
      { name: output, partitions: 3 },
    ]);
    const app = defineApp({
      name: 'ids',
      options: { namespace: ns, defaultPartitions: 4 },
      ingresses: [{ topic: input, to: 'count' }],
      egresses: { out: { topic: output, partitions: 3 } },
      functions: {
        count: fn({
          state: { n: state.value<number>() },
          handler(ctx) {
            const n = (ctx.state.n.get() ?? 0) + 1;
            ctx.state.n.set(n);
            ctx.emit('out', ctx.key, { n, nullKey: ctx.keyBytes === null });
          },
        }),
      },
    });
    const idsApp = defineApp({
      ...app,
      functions: { count: fn({ ...app.functions.count, keySerde: keys.int64() }) },
    });
    const transport = kafkaTransport('w-keys');
    const worker = new Worker({ transport, apps: [app], logger: testLogger(), workerId: 'w-keys' });
    stopAll.push(async () => {
      await worker.stop();
      await transport.close();
    });
    await worker.start();
    const ids = Array.from({ length: 2_000 }, (_, i) => i * 65_537);
    // As UTF-8 text, many of these keys are the same string.
    expect(new Set(ids.map((i) => long(i).toString('utf8'))).size).toBeLessThan(2_000);
    const producer = t.producer({ clientId: 'it-keys-feeder' });
    await producer.connect();
    const value = Buffer.from('{}');
    await producer.send([
      ...[...ids, ...ids].map((i) => ({ topic: input, key: long(i), value })),
      { topic: input, partition: 0, key: null, value },
      { topic: input, partition: 0, key: null, value },
      { topic: input, partition: partitionFor(Buffer.alloc(0), 4), key: Buffer.alloc(0), value },
    ]);
    await producer.disconnect();
    const lag = kafkaTransport('it-keys-lag');
    stopAll.push(() => lag.close());
    await waitFor(async () => (await pendingRecords(lag, `${ns}.ids.count`, input)) === 0, 60_000, {
      intervalMs: 500,
    });
    const last = new Map<string, { n: number; partition: number; nullKey: boolean }>();
    let count = 0;
    // Outputs without a key go to any partition: read them as a set.
    const nulls: number[] = [];
    const admin = await t.admin();
    await t.readToEnd(
      (await admin.fetchTopicOffsets(output)).map((p) => ({
        topic: output,
        partition: p.partition,
        fromOffset: 0,
      })),
      (records) => {
        for (const r of records) {
          count++;
          const v = JSON.parse(r.value!.toString()) as { n: number; nullKey: boolean };
          if (r.key === null) nulls.push(v.n);
          else last.set(r.key.toString('hex'), { ...v, partition: r.partition });
          if (r.key !== null) expect(r.partition).toBe(partitionFor(r.key, 3));
        }
      },
    );
    expect(count).toBe(4_003);
    for (const i of ids) expect(last.get(long(i).toString('hex'))?.n).toBe(2);
    expect(nulls.sort()).toEqual([1, 2]);
    expect(last.get('')).toMatchObject({ n: 1, nullKey: false });
    expect(last.size).toBe(2_001);
    expect(await worker.readState('ids', 'count', long(65_537), 'n')).toBe(2);
    // The same state read through an int64 key serde's text form.
    expect(idsApp.functions.count.keySerde?.serialize('65537').equals(long(65_537))).toBe(true);
  });
});
