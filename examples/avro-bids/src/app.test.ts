// The Avro bids app on the TestDriver with an in-memory registry: bids of two schema versions, per-auction
// state, Avro output, and poison records in the dead-letter topic. The same app on a real broker and a real
// registry: integration-tests/src/avro.test.ts.
import { avro, avroKey, frame, MemoryRegistry } from '@dirigo/avro';
import { NexmarkGenerator } from '@dirigo/example-nexmark';
import { TestDriver } from '@dirigo/testkit';
import { afterEach, expect, it } from 'vitest';
import { type AuctionStats, avroBidsApp, BID_V1 } from './app.ts';

let driver: TestDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

const bids = (n: number) =>
  new NexmarkGenerator()
    .take(n * 2 + 50)
    .flatMap((e) => (e.type === 'bid' ? [e.bid] : []))
    .slice(0, n);

it('reads bids of both schema versions as version 2, keeps state per auction and writes Avro', async () => {
  const registry = new MemoryRegistry();
  driver = await TestDriver.start(avroBidsApp({ registry }));
  const key = avroKey({ schema: 'long', subject: 'bids-key', registry });
  const v1 = avro({ schema: BID_V1, subject: 'bids-value', registry });
  await Promise.all([key.open(), v1.open()]);
  const all = bids(40);
  const old = all.slice(0, 20);
  for (const b of old) await driver.pipeRaw('bids', key.serialize(String(b.auction)), v1.serialize(b));
  await driver.pipe(
    'bids',
    all.slice(20).map((b) => ({ key: key.serialize(String(b.auction)), value: { ...b, currency: 'EUR' } })),
  );

  const expected = new Map<number, { bids: number; top: number; currencies: Set<string> }>();
  all.forEach((b, i) => {
    const e = expected.get(b.auction) ?? { bids: 0, top: 0, currencies: new Set<string>() };
    e.bids++;
    e.top = Math.max(e.top, b.price);
    e.currencies.add(i < 20 ? 'USD' : 'EUR');
    expected.set(b.auction, e);
  });
  for (const [auction, e] of expected) {
    expect(await driver.state('avro-bids', 'auction', String(auction), 'bids')).toBe(e.bids);
    expect(await driver.state('avro-bids', 'auction', String(auction), 'currencies')).toEqual(
      [...e.currencies].sort(),
    );
  }
  const out = await driver.output<AuctionStats>('auction-stats');
  expect(out).toHaveLength(40);
  expect(
    out.every((r) => r.keyBytes![0] === 0 && key.deserialize(r.keyBytes!) === String(r.value.auction)),
  ).toBe(true);
  const last = new Map(out.map((r) => [r.value.auction, r.value])); // the latest per auction
  expect([...last.values()].map((s) => [s.auction, s.bids, s.topPrice]).sort()).toEqual(
    [...expected].map(([a, e]) => [a, e.bids, e.top]).sort(),
  );
  expect(await driver.deadLetters('avro-bids')).toHaveLength(0);
});

it('dead-letters a record that is not Avro and one whose schema id the registry does not know', async () => {
  const registry = new MemoryRegistry();
  driver = await TestDriver.start(avroBidsApp({ registry }));
  const key = avroKey({ schema: 'long', subject: 'bids-key', registry });
  await key.open();
  await driver.pipeRaw('bids', key.serialize('1'), Buffer.from('{"auction":1}'));
  await driver.pipeRaw('bids', key.serialize('2'), frame(4242, Buffer.from([2])));
  await driver.pipe('bids', {
    key: key.serialize('3'),
    value: { ...bids(1)[0]!, auction: 3, currency: 'USD' },
  });
  const dead = await driver.deadLetters('avro-bids');
  expect(
    dead.map((r) => [r.headers['dirigo-error-stage']?.toString(), r.headers['dirigo-error']?.toString()]),
  ).toEqual([
    [
      'decode',
      expect.stringMatching(/avro\(bids-value\): not in the Confluent wire format \(first byte 0x7b/),
    ],
    ['decode', expect.stringMatching(/avro\(bids-value\): schema id 4242 is not in the registry at memory:/)],
  ]);
  expect(await driver.state('avro-bids', 'auction', '3', 'bids')).toBe(1);
});
