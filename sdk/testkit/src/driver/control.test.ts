// Load reports on the control topic: every worker publishes its load about twice a second and sees its peers';
// control messages it does not understand are counted and skipped, never fatal.
import { defineApp, fn } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';

const app = defineApp({
  name: 'noop',
  ingresses: [{ topic: 'in', to: 'f' }],
  functions: { f: fn({ handler() {} }) },
});

describe('control topic', () => {
  it('workers publish load reports and see each other as peers, skipping unknown control messages', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const admin = await new MemoryTransport(kafka).admin();
    await admin.createTopics([{ name: 'in', partitions: 2 }]);
    const workers = ['a', 'b'].map(
      (id) =>
        new Worker({
          transport: new MemoryTransport(kafka),
          apps: [app],
          workerId: id,
          loadReportIntervalMs: 50,
        }),
    );
    for (const w of workers) await w.start();
    const producer = new MemoryTransport(kafka).producer();
    await producer.connect();
    await producer.send([
      { topic: 'dirigo.control', key: null, value: Buffer.from('{"v":9,"type":"lease-grant"}') },
      { topic: 'dirigo.control', key: null, value: Buffer.from('garbage') },
    ]);
    await waitFor(() => workers.every((w) => w.peers().length === 1), 5_000);
    expect(workers[0]!.peers()[0]!.id).toBe('b');
    expect(workers[1]!.peers()[0]!.id).toBe('a');
    const reports = [];
    await new MemoryTransport(kafka).readToEnd(
      [{ topic: 'dirigo.control', partition: 0, fromOffset: 0 }],
      (rs) => {
        reports.push(...rs);
      },
    );
    expect(reports.length).toBeGreaterThanOrEqual(4);
    for (const w of workers) expect(w.state).toBe('running');
    for (const w of workers) await w.stop();
    await kafka.close();
  });
});

describe('metrics endpoint', () => {
  it('serves the worker metrics for Prometheus', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 1 }]);
    const worker = new Worker({ transport, apps: [app], metricsPort: 0, loadReportIntervalMs: 0 });
    await worker.start();
    const producer = transport.producer();
    await producer.connect();
    await producer.send([{ topic: 'in', key: Buffer.from('k'), value: Buffer.from('1') }]);
    await waitFor(() => (worker.schedulerMetrics()?.apps.noop?.completed ?? 0) === 1, 5_000);
    const res = await fetch(`http://127.0.0.1:${worker.metricsAddress}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/dirigo_message_latency_seconds_count\{app="noop",fn="f",worker="[^"]+"\} 1/);
    expect(text).toMatch(/dirigo_deadlines_met_total\{app="noop",fn="f",worker="[^"]+"\} 1/);
    expect(text).toMatch(/dirigo_lease_forwarded_total\{worker="[^"]+"\} 0/);
    await worker.stop();
    await kafka.close();
  });
});

describe('health endpoints', () => {
  it('answer /healthz while live and /readyz once every function joined, and neither when no app runs', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 2 }]);
    const stopping = defineApp({
      name: 'stopper',
      options: { onError: 'stop' },
      ingresses: [{ topic: 'in', to: 'f' }],
      functions: {
        f: fn({
          handler() {
            throw new Error('boom');
          },
        }),
      },
    });
    const worker = new Worker({ transport, apps: [stopping], metricsPort: 0, loadReportIntervalMs: 0 });
    expect(worker.health()).toMatchObject({ state: 'created', live: false, ready: false });
    await worker.start();
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${worker.metricsAddress}${path}`);
      return { status: res.status, body: (await res.json()) as { ready: boolean; apps: object } };
    };
    await waitFor(() => worker.health().ready, 5_000);
    expect(await get('/healthz')).toMatchObject({ status: 200 });
    expect(await get('/readyz')).toMatchObject({
      status: 200,
      body: { ready: true, apps: { stopper: { status: 'running' } } },
    });
    const producer = transport.producer();
    await producer.connect();
    await producer.send([{ topic: 'in', key: Buffer.from('k'), value: Buffer.from('1') }]);
    await waitFor(() => worker.appStats().get('stopper')?.status === 'failed', 5_000);
    expect(await get('/readyz')).toMatchObject({
      status: 503,
      body: { ready: false, apps: { stopper: { status: 'failed' } } },
    });
    // No app runs any more, and nothing restarts one inside the process: not live either.
    expect(await get('/healthz')).toMatchObject({ status: 503 });
    const leases = await fetch(`http://127.0.0.1:${worker.metricsAddress}/leases`);
    expect(await leases.json()).toMatchObject({ leases: [], counters: { forwarded: 0 }, slots: {} });
    await worker.stop();
    expect(worker.health()).toMatchObject({ state: 'stopped', live: false, ready: false });
    await kafka.close();
  });
});

describe('worker lifecycle', () => {
  it('a stop while the worker is still starting waits for the start, then stops (no illegal transition)', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 2 }]);
    const worker = new Worker({ transport, apps: [app], loadReportIntervalMs: 0 });
    const started = worker.start();
    const stopped = worker.stop();
    await started;
    await stopped;
    expect(worker.state).toBe('stopped');
    await kafka.close();
  });
});
