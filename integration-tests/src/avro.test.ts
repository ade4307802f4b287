// Avro end to end on the real broker and a real Schema Registry (Apicurio's Confluent API): NEXMark bids
// written by a third-party producer (@kafkajs/confluent-schema-registry's own encoder) with schema version 1,
// and by the app's serde with version 2, are read as version 2; per-auction state and Avro output; a record
// that is not Avro and one with a schema id the registry does not know land in the dead-letter topic with the
// reason; the output decodes with the third-party decoder.
import { avro, avroKey, confluentRegistry, frame } from '@dirigo/avro';
import { type AuctionStats, avroBidsApp, BID_V1, BID_V2 } from '@dirigo/example-avro-bids';
import { NexmarkGenerator } from '@dirigo/example-nexmark';
import { pendingRecords, Worker } from '@dirigo/runtime';
import { waitFor } from '@dirigo/testkit';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterEach, describe, expect, it } from 'vitest';
import { kafkaTransport, testLogger, unique } from './harness.ts';
import { useRegistry } from './registry.ts';

const registry = useRegistry();
const stopAll: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stopAll.splice(0).reverse()) await s().catch(() => {});
});

describe('Avro with a Schema Registry on a real broker', () => {
  it('reads two schema versions, keeps state, writes Avro, and dead-letters poison records', async () => {
    const ns = unique('it-avro');
    const prefix = `${ns}-`;
    const client = confluentRegistry({ url: registry.url() });
    const app = avroBidsApp({ registry: client, prefix, name: 'bids' });
    const bidsTopic = `${prefix}bids`;
    const t = kafkaTransport('it-avro-setup');
    stopAll.push(() => t.close());
    await (await t.admin()).createTopics([{ name: bidsTopic, partitions: 3 }]);

    // A third-party producer registers version 1 first (setting the subject's compatibility to BACKWARD).
    const thirdParty = new SchemaRegistry({ host: registry.url() });
    const { id: v1 } = await thirdParty.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(BID_V1) },
      { subject: `${bidsTopic}-value` },
    );
    const worker = new Worker({
      transport: kafkaTransport('w-avro'),
      apps: [{ ...app, options: { ...app.options, namespace: ns } }],
      logger: testLogger(),
      workerId: 'w-avro',
    });
    stopAll.push(() => worker.stop());
    await worker.start(); // registers BID_V2 under <bids>-value (BACKWARD compatible), the key and the output schemas

    const key = avroKey({ schema: 'long', subject: `${bidsTopic}-key`, registry: client });
    const v2 = avro({ schema: BID_V2, subject: `${bidsTopic}-value`, registry: client });
    await Promise.all([key.open(), v2.open()]);
    expect(v2.schemaId).not.toBe(v1);
    // The registry enforces the evolution rules: a version that cannot read version 1 data is refused.
    const v3 = {
      ...(BID_V1 as object),
      fields: [...(BID_V1 as { fields: object[] }).fields, { name: 'seller', type: 'long' }],
    };
    await expect(client.register(`${bidsTopic}-value`, v3 as typeof BID_V1)).rejects.toThrow(/409/);

    const bids = new NexmarkGenerator()
      .take(300)
      .flatMap((e) => (e.type === 'bid' ? [e.bid] : []))
      .slice(0, 200);
    const records = [];
    for (const [i, b] of bids.entries()) {
      const value = i % 2 === 0 ? await thirdParty.encode(v1, b) : v2.serialize({ ...b, currency: 'EUR' });
      records.push({ topic: bidsTopic, key: key.serialize(String(b.auction)), value });
    }
    records.splice(50, 0, {
      topic: bidsTopic,
      key: key.serialize('1'),
      value: Buffer.from('{"not":"avro"}'),
    });
    records.splice(120, 0, {
      topic: bidsTopic,
      key: key.serialize('2'),
      value: frame(987_654, Buffer.from([2, 4])),
    });
    const producer = t.producer({ clientId: 'it-avro-feeder' });
    await producer.connect();
    await producer.send(records);
    await producer.disconnect();

    const group = `${ns}.bids.auction`;
    await waitFor(async () => (await pendingRecords(t, group, bidsTopic)) === 0, 60_000, { intervalMs: 300 });

    const expected = new Map<number, { bids: number; top: number; currencies: Set<string> }>();
    bids.forEach((b, i) => {
      const e = expected.get(b.auction) ?? { bids: 0, top: 0, currencies: new Set<string>() };
      e.bids++;
      e.top = Math.max(e.top, b.price);
      e.currencies.add(i % 2 === 0 ? 'USD' : 'EUR');
      expected.set(b.auction, e);
    });
    const admin = await t.admin();
    const read = async (topic: string) => {
      const out: { key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer> }[] = [];
      await t.readToEnd(
        (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
        (rs) => {
          out.push(...rs);
        },
      );
      return out;
    };
    // The output, decoded by the third-party decoder.
    const out = await read(`${prefix}auction-stats`);
    expect(out).toHaveLength(200);
    const last = new Map<number, AuctionStats>();
    for (const r of out) {
      const s = (await thirdParty.decode(r.value!)) as AuctionStats;
      expect(await thirdParty.decode(r.key!)).toBe(s.auction);
      last.set(s.auction, s);
    }
    for (const [auction, e] of expected) {
      expect(last.get(auction)).toMatchObject({
        bids: e.bids,
        topPrice: e.top,
        currencies: [...e.currencies].sort(),
      });
      expect(await worker.readState('bids', 'auction', String(auction), 'bids')).toBe(e.bids);
    }
    const dead = await read(`${ns}.bids.dlq`);
    const reasons = dead
      .map((r) => `${r.headers['dirigo-error-stage']}: ${r.headers['dirigo-error']}`)
      .sort();
    expect(reasons).toEqual([
      expect.stringMatching(
        /^decode: avro\(.*-bids-value\): not in the Confluent wire format \(first byte 0x7b/,
      ),
      expect.stringMatching(
        /^decode: avro\(.*-bids-value\): schema id 987654 is not in the registry at http:\/\/127\.0\.0\.1/,
      ),
    ]);
  });
});
