// Load reports carry the exactly-once protocol of each exactly-once app a worker runs, and a worker that sees a
// peer run one of its apps under the other protocol says so (warning, `controlStats().mixedExactlyOnce`), so that a
// mix left behind after a change of protocol is seen (the mix itself is fenced both ways: see the zombie-fencing
// test in integration-tests/src/runtime.test.ts).
import { defineApp, fn, type Transport } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';

const eosApp = (name: string) =>
  defineApp({
    name,
    options: { guarantee: 'exactly_once' },
    ingresses: [{ topic: `${name}-in`, to: 'f' }],
    functions: { f: fn({ handler() {} }) },
  });
const PERIOD_MS = 50;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The memory transport claiming KIP-447 (the workers here never commit a step: only their reports matter). */
function claimingV2(kafka: MemoryKafka): Transport {
  return Object.create(new MemoryTransport(kafka), { exactlyOnceV2: { value: true } }) as Transport;
}

describe('exactly-once protocols in load reports', () => {
  it('a peer running an app of this worker under the other protocol is counted once, on both sides', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const admin = await new MemoryTransport(kafka).admin();
    await admin.createTopics(['shop-in', 'bank-in'].map((name) => ({ name, partitions: 1 })));
    const start = async (id: string, transport: Transport, apps: ReturnType<typeof eosApp>[]) => {
      const w = new Worker({ transport, apps, workerId: id, loadReportIntervalMs: PERIOD_MS });
      await w.start();
      cleanup.push(() => w.stop());
      return w;
    };
    cleanup.push(() => kafka.close());
    // a: shop under v1 (the memory transport's default); b: shop under v2; c: bank under v2 (no app in common with a);
    // d: shop under v1 (the same as a).
    const a = await start('a', new MemoryTransport(kafka), [eosApp('shop')]);
    const b = await start('b', claimingV2(kafka), [eosApp('shop')]);
    const c = await start('c', claimingV2(kafka), [eosApp('bank')]);
    const d = await start('d', new MemoryTransport(kafka), [eosApp('shop')]);
    await waitFor(() => [a, b, c, d].every((w) => w.peers().length === 3), 5_000);
    await waitFor(() => a.controlStats()!.mixedExactlyOnce === 1, 5_000);
    await waitFor(() => b.controlStats()!.mixedExactlyOnce === 2, 5_000);
    // Many reports later, each pair is still counted once.
    const received = a.controlStats()!.received;
    await waitFor(() => a.controlStats()!.received >= received + 20, 5_000);
    expect(a.controlStats()!.mixedExactlyOnce).toBe(1); // b
    expect(b.controlStats()!.mixedExactlyOnce).toBe(2); // a and d
    expect(c.controlStats()!.mixedExactlyOnce).toBe(0); // nobody else runs bank
    expect(d.controlStats()!.mixedExactlyOnce).toBe(1); // b
  });
});
