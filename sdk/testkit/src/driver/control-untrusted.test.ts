// The control topic is untrusted input: load reports expire by their receipt time whatever `at` they claim,
// the peer table is bounded, and a report for a worker id counts only under that key and, while the worker's
// reports are fresh, only from the same incarnation. Skipped reports are counted, never fatal.
import { defineApp, fn } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';

const app = defineApp({
  name: 'noop',
  ingresses: [{ topic: 'in', to: 'f' }],
  functions: { f: fn({ handler() {} }) },
});

const PERIOD_MS = 50;
const YEAR_MS = 365 * 24 * 3600 * 1000;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pool(ids: string[]) {
  const kafka = new MemoryKafka({ retryBackoffMs: 1 });
  await (await new MemoryTransport(kafka).admin()).createTopics([{ name: 'in', partitions: 2 }]);
  const workers = ids.map(
    (id) =>
      new Worker({
        transport: new MemoryTransport(kafka),
        apps: [app],
        workerId: id,
        loadReportIntervalMs: PERIOD_MS,
      }),
  );
  for (const w of workers) await w.start();
  const producer = new MemoryTransport(kafka).producer();
  await producer.connect();
  cleanup.push(async () => {
    await producer.disconnect();
    for (const w of workers) await w.stop();
    await kafka.close();
  });
  const forge = (reports: { key: string | null; report: Record<string, unknown> }[]) =>
    producer.send(
      reports.map(({ key, report }) => ({
        topic: 'dirigo.control',
        key: key === null ? null : Buffer.from(key),
        value: Buffer.from(
          JSON.stringify({ v: 1, type: 'load', queued: 0, inFlight: 0, utilisation: 0, ...report }),
        ),
      })),
    );
  // The control consumers start at the end of the topic: wait until they read what is written now.
  let probe = 0;
  await waitFor(async () => {
    const id = `probe-${probe++}`;
    await forge([{ key: id, report: { worker: id, at: Date.now() } }]);
    await new Promise((r) => setTimeout(r, 20));
    return workers.every((w) => w.peers().some((p) => p.id.startsWith('probe-')));
  }, 5_000);
  return { workers, forge };
}

describe('load reports on the control topic are untrusted', () => {
  it('expire by receipt time, even with an `at` in the future', async () => {
    const { workers, forge } = await pool(['a']);
    const [a] = workers as [Worker];
    await forge([{ key: 'ghost', report: { worker: 'ghost', at: Date.now() + YEAR_MS, queued: 5 } }]);
    await waitFor(() => a.peers().some((p) => p.id === 'ghost'), 5_000);
    // Peers never see a report time later than its receipt.
    expect(a.peers().find((p) => p.id === 'ghost')!.at).toBeLessThanOrEqual(Date.now());
    // Five report periods after its receipt, it is gone.
    await waitFor(() => !a.peers().some((p) => p.id === 'ghost'), 10 * PERIOD_MS + 2_000);
    expect(a.state).toBe('running');
  });

  it('keep at most 1024 peers, evicting the least recently heard', async () => {
    const { workers, forge } = await pool(['a']);
    const [a] = workers as [Worker];
    const ids = Array.from({ length: 1500 }, (_, i) => `flood-${i}`);
    await forge(ids.map((id) => ({ key: id, report: { worker: id, at: Date.now() + YEAR_MS } })));
    await waitFor(() => a.peers().some((p) => p.id === 'flood-1499'), 5_000);
    const peers = a.peers();
    expect(peers.length).toBeLessThanOrEqual(1024);
    expect(peers.some((p) => p.id === 'flood-0')).toBe(false);
    expect(a.state).toBe('running');
  });

  it('take a report for a worker id only under its key and, while its reports are fresh, from its incarnation', async () => {
    const { workers, forge } = await pool(['a', 'b']);
    const [a] = workers as [Worker, Worker];
    await waitFor(() => a.peers().some((p) => p.id === 'b'), 5_000);
    const before = a.controlStats()!.unknown;
    await forge([
      // b's id under another key, and under b's key from another incarnation (or none), claiming a huge queue.
      { key: 'mallory', report: { worker: 'b', at: Date.now(), queued: 999_999 } },
      { key: 'b', report: { worker: 'b', at: Date.now(), queued: 999_999, incarnation: 'forged' } },
      { key: 'b', report: { worker: 'b', at: Date.now(), queued: 999_999 } },
      { key: 'b', report: { worker: 'b', at: Date.now(), queued: 999_999, incarnation: 42 } },
      // a's own id from elsewhere.
      { key: 'a', report: { worker: 'a', at: Date.now(), queued: 999_999, incarnation: 'forged' } },
    ]);
    await waitFor(() => a.controlStats()!.unknown >= before + 5, 5_000);
    for (let i = 0; i < 10; i++) {
      expect(
        a
          .peers()
          .filter((p) => p.id === 'b')
          .map((p) => p.queued),
      ).toEqual([0]);
      await new Promise((r) => setTimeout(r, PERIOD_MS / 2));
    }
    expect(a.state).toBe('running');
  });

  it('a flood of one-off worker ids does not displace a live peer, so forged reports for it stay rejected', async () => {
    const { workers, forge } = await pool(['a', 'b']);
    const [a] = workers as [Worker, Worker];
    await waitFor(() => a.peers().some((p) => p.id === 'b'), 5_000);
    await new Promise((r) => setTimeout(r, 3 * PERIOD_MS));
    const ids = Array.from({ length: 1500 }, (_, i) => `flood-${i}`);
    await forge([
      ...ids.map((id) => ({ key: id, report: { worker: id, at: Date.now() + YEAR_MS } })),
      { key: 'b', report: { worker: 'b', at: Date.now(), queued: 999_999, incarnation: 'forged' } },
    ]);
    await waitFor(() => a.peers().some((p) => p.id === 'flood-1499'), 5_000);
    for (let i = 0; i < 10; i++) {
      const peers = a.peers();
      expect(peers.length).toBeLessThanOrEqual(1024);
      // The forged report is never taken (on a loaded machine b's own reports may come late, so b may be missing
      // from one sample, but never with the forged queue).
      expect(peers.filter((p) => p.id === 'b' && p.queued === 999_999)).toEqual([]);
      await new Promise((r) => setTimeout(r, PERIOD_MS / 2));
    }
    // The live peer is still (or again) seen: the flood did not displace it.
    await waitFor(() => a.peers().some((p) => p.id === 'b' && p.queued === 0), 5_000);
  });

  it('a worker id silent for 5 periods may come back with a new incarnation (a restarted worker)', async () => {
    const { workers, forge } = await pool(['a']);
    const [a] = workers as [Worker];
    await forge([{ key: 'w', report: { worker: 'w', at: Date.now(), incarnation: 'one' } }]);
    await waitFor(() => a.peers().some((p) => p.id === 'w'), 5_000);
    await forge([{ key: 'w', report: { worker: 'w', at: Date.now(), incarnation: 'two', queued: 7 } }]);
    await new Promise((r) => setTimeout(r, PERIOD_MS));
    expect(a.peers().find((p) => p.id === 'w')?.queued ?? 0).toBe(0);
    await waitFor(() => !a.peers().some((p) => p.id === 'w'), 10 * PERIOD_MS + 2_000);
    await forge([{ key: 'w', report: { worker: 'w', at: Date.now(), incarnation: 'two', queued: 7 } }]);
    await waitFor(() => a.peers().find((p) => p.id === 'w')?.queued === 7, 5_000);
  });
});
