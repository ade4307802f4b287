// Reliability of one worker against careless configuration and dead consumers: apps with the same name in two
// namespaces stay distinct (stats, health, state, stop), a function whose consumer stopped taking part in its
// group fails its app and the worker stops being live, the metrics endpoint stays on loopback unless told
// otherwise, and numeric options are checked before anything connects.
import { networkInterfaces } from 'node:os';
import type { Consumer, ConsumerHandlers, Transport } from '@dirigo/core';
import { AuthorizationError, defineApp, fn, merge, state } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';

const counter = (namespace: string, topic: string) =>
  defineApp({
    name: 'dup',
    options: { namespace },
    ingresses: [{ topic, to: 'f' }],
    functions: {
      f: fn({
        state: { n: state.value<number>() },
        handler(ctx) {
          ctx.state.n.set((ctx.state.n.get() ?? 0) + 1);
        },
      }),
    },
  });

async function send(transport: Transport, topic: string, keys: string[]): Promise<void> {
  const producer = transport.producer();
  await producer.connect();
  await producer.send(keys.map((k) => ({ topic, key: Buffer.from(k), value: Buffer.from('1') })));
  await producer.disconnect();
}

describe('apps with the same name in two namespaces', () => {
  it('are distinct in stats, health, readState and stop (both leave their groups)', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([
      { name: 'one-in', partitions: 1 },
      { name: 'two-in', partitions: 1 },
    ]);
    const worker = new Worker({
      transport,
      apps: [counter('one', 'one-in'), counter('two', 'two-in')],
      loadReportIntervalMs: 0,
    });
    await worker.start();
    await waitFor(() => worker.health().ready, 5_000);
    await send(transport, 'one-in', ['k', 'k']);
    await send(transport, 'two-in', ['k', 'k', 'k']);
    await waitFor(async () => (await worker.readState('one.dup', 'f', 'k', 'n')) === 2, 5_000);
    await waitFor(async () => (await worker.readState('two.dup', 'f', 'k', 'n')) === 3, 5_000);
    // The bare name is ambiguous here: it names neither.
    expect(await worker.readState('dup', 'f', 'k', 'n')).toBeUndefined();
    expect([...worker.appStats().keys()].sort()).toEqual(['one.dup', 'two.dup']);
    expect(worker.appStats().get('one.dup')?.status).toBe('running');
    expect(worker.appStats().get('two.dup')?.status).toBe('running');
    expect(Object.keys(worker.health().apps).sort()).toEqual(['one.dup', 'two.dup']);
    const groups = worker.apps().flatMap((a) => [...a.functions.values()].map((f) => f.group));
    expect(groups.sort()).toEqual(['one.dup.f', 'two.dup.f']);
    for (const g of groups) expect(kafka.group(g).size, g).toBe(1);
    await worker.stop();
    for (const g of groups) expect(kafka.group(g).size, `${g} left on stop`).toBe(0);
    expect(worker.appStats().get('one.dup')?.status).toBe('stopped');
    expect(worker.appStats().get('two.dup')?.status).toBe('stopped');
    await kafka.close();
  });

  it('may not both have leasable functions (leasing knows apps by name)', () => {
    const leasing = (namespace: string) =>
      defineApp({
        name: 'hot',
        options: { namespace },
        ingresses: [{ topic: `${namespace}-in`, to: 'f' }],
        functions: {
          f: fn({ leasable: true, state: { n: state.mergeable(merge.sum()) }, handler() {} }),
        },
      });
    const transport = new MemoryTransport(new MemoryKafka());
    expect(() => new Worker({ transport, apps: [leasing('one'), leasing('two')] })).toThrow(
      "name: apps 'one.hot' and 'two.hot' share a name and both have leasable functions",
    );
    expect(() => new Worker({ transport, apps: [leasing('one'), counter('two', 'x')] })).not.toThrow();
  });

  it('keep the bare name as the key when it is unique on the worker', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'solo-in', partitions: 1 }]);
    const worker = new Worker({ transport, apps: [counter('solo', 'solo-in')], loadReportIntervalMs: 0 });
    await worker.start();
    await send(transport, 'solo-in', ['k']);
    await waitFor(async () => (await worker.readState('dup', 'f', 'k', 'n')) === 1, 5_000);
    expect(await worker.readState('solo.dup', 'f', 'k', 'n')).toBe(1);
    expect([...worker.appStats().keys()]).toEqual(['dup']);
    await worker.stop();
    await kafka.close();
  });
});

/**
 * A transport whose consumers of `group` die: never join (`at: 'join'`), or leave on `crash()`, unannounced or,
 * with `fatal`, telling their owner why (`onFatal`).
 */
function dyingTransport(inner: Transport, group: string, at: 'join' | 'later', fatal?: () => Error) {
  const crashes: (() => Promise<void>)[] = [];
  const transport: Transport = {
    name: inner.name,
    admin: () => inner.admin(),
    producer: (o) => inner.producer(o),
    readToEnd: (p, f) => inner.readToEnd(p, f),
    close: () => inner.close(),
    consumer(options) {
      const c = inner.consumer(options);
      if (options.groupId !== group) return c;
      const dying: Consumer = {
        ...bind(c),
        async run(handlers: ConsumerHandlers) {
          if (at === 'join') return; // like kafkajs crashing in JoinGroup for good: run resolves, nothing more
          await c.run(handlers);
          // Like kafkajs after a crash that does not restart: the partitions are revoked, the client is gone,
          // and its owner is not told anything else.
          crashes.push(async () => {
            await c.disconnect();
            if (fatal !== undefined) handlers.onFatal?.(fatal());
          });
        },
        disconnect: async () => {},
      };
      return dying;
    },
  };
  return { transport, crash: () => Promise.all(crashes.map((c) => c())) };
}

function bind(c: Consumer): Consumer {
  return {
    connect: () => c.connect(),
    subscribe: (t) => c.subscribe(t),
    run: (h) => c.run(h),
    commitOffsets: (o) => c.commitOffsets(o),
    pause: (t) => c.pause(t),
    resume: (t) => c.resume(t),
    seek: (p) => c.seek(p),
    assignment: () => c.assignment(),
    disconnect: () => c.disconnect(),
  };
}

describe('a function whose consumer dies for good', () => {
  it.each([
    ['never joins its group', 'join'],
    ['loses its partitions and never gets them back', 'later'],
  ] as const)('%s: its app fails on this worker and the worker is not live', async (_name, at) => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const memory = new MemoryTransport(kafka);
    await (await memory.admin()).createTopics([{ name: 'dead-in', partitions: 2 }]);
    const { transport, crash } = dyingTransport(memory, 'dead.dup.f', at);
    const worker = new Worker({
      transport,
      apps: [counter('dead', 'dead-in')],
      loadReportIntervalMs: 0,
      metricsPort: 0,
      assignmentTimeoutMs: 300,
    });
    await worker.start();
    if (at === 'later') {
      await waitFor(() => worker.health().ready, 5_000);
      expect(worker.health().live).toBe(true);
      await crash();
    }
    await waitFor(() => worker.appStats().get('dup')?.status === 'failed', 5_000);
    expect(worker.appStats().get('dup')?.error).toMatch(
      /the consumer of 'f' \(group dead\.dup\.f\) has had no partition assignment/,
    );
    expect(worker.health()).toMatchObject({ state: 'running', live: false, ready: false });
    const base = `http://127.0.0.1:${worker.metricsAddress}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await worker.stop();
    await kafka.close();
  });

  it('whose transport says so (onFatal: the broker refused its group) fails its app at once, with the reason', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const memory = new MemoryTransport(kafka);
    await (await memory.admin()).createTopics([{ name: 'fatal-in', partitions: 2 }]);
    const { transport, crash } = dyingTransport(
      memory,
      'fatal.dup.f',
      'later',
      () => new AuthorizationError('join the group', 'group', 'fatal.dup.f'),
    );
    // The assignment watch's default timeout (120 s): only onFatal can stop the app within the test.
    const worker = new Worker({ transport, apps: [counter('fatal', 'fatal-in')], loadReportIntervalMs: 0 });
    await worker.start();
    await waitFor(() => worker.health().ready, 5_000);
    await crash();
    await waitFor(() => worker.appStats().get('dup')?.status === 'failed', 5_000);
    expect(worker.appStats().get('dup')?.error).toBe(
      "app 'dup' stopped: the consumer of 'f' (group fatal.dup.f) stopped for good: join the group: not authorized: the broker refused consumer group 'fatal.dup.f' to this client's principal (GROUP_AUTHORIZATION_FAILED); grant the principal the ACLs a worker needs (docs/operations.md, \"ACLs\")",
    );
    await worker.stop();
    await kafka.close();
  });

  it('a healthy member with an empty assignment is not taken for dead', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'idle-in', partitions: 1 }]);
    const workers = ['a', 'b'].map(
      (id) =>
        new Worker({
          transport,
          apps: [counter('idle', 'idle-in')],
          workerId: id,
          loadReportIntervalMs: 0,
          assignmentTimeoutMs: 200,
        }),
    );
    for (const w of workers) await w.start();
    await new Promise((r) => setTimeout(r, 600));
    for (const w of workers) expect(w.appStats().get('dup')?.status).toBe('running');
    for (const w of workers) await w.stop();
    await kafka.close();
  });
});

describe('the metrics endpoint', () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

  it('listens on 127.0.0.1 by default, on the metricsHost given otherwise', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new MemoryTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'm-in', partitions: 1 }]);
    const local = new Worker({
      transport,
      apps: [counter('m1', 'm-in')],
      metricsPort: 0,
      loadReportIntervalMs: 0,
    });
    const open = new Worker({
      transport,
      apps: [counter('m2', 'm-in')],
      metricsPort: 0,
      metricsHost: '0.0.0.0',
      loadReportIntervalMs: 0,
    });
    await local.start();
    await open.start();
    expect(local.metricsEndpoint).toEqual({ host: '127.0.0.1', port: local.metricsAddress });
    expect(open.metricsEndpoint?.host).toBe('0.0.0.0');
    expect((await fetch(`http://127.0.0.1:${local.metricsAddress}/healthz`)).status).toBe(200);
    if (external !== undefined) {
      // From another interface: refused by the default, served by 0.0.0.0.
      await expect(fetch(`http://${external}:${local.metricsAddress}/healthz`)).rejects.toThrow();
      expect((await fetch(`http://${external}:${open.metricsAddress}/healthz`)).status).toBe(200);
    }
    await local.stop();
    await open.stop();
    await kafka.close();
  });
});

describe('worker options', () => {
  const app = counter('opts', 'opts-in');
  const transport = new MemoryTransport(new MemoryKafka());
  it.each([
    [{ sessionTimeoutMs: Number.NaN }, /^sessionTimeoutMs: NaN is not an integer/],
    [{ sessionTimeoutMs: 800 }, /^sessionTimeoutMs: 800 must be greater than heartbeatIntervalMs \(1000\)/],
    [{ concurrency: 0 }, /^concurrency: 0 is not an integer from 1/],
    [{ metricsPort: 70_000 }, /^metricsPort: 70000 is not an integer from 0 to 65535/],
    [{ metricsPort: 0, metricsHost: 'a host' }, /^metricsHost: "a host" is not a host name or IP address/],
    [{ tickIntervalMs: -1 }, /^tickIntervalMs: -1 is not an integer/],
    [{ controlTopic: 'no spaces' }, /^controlTopic: "no spaces" is not a Kafka topic name/],
    [{ assignmentTimeoutMs: 1.5 }, /^assignmentTimeoutMs: 1.5 is not an integer/],
    // The memory transport cannot commit offsets as a group member (no KIP-447).
    [
      { exactlyOnceV2: true },
      /^exactlyOnceV2: transport 'memory' cannot commit offsets as a group member in a transaction \(KIP-447\)/,
    ],
  ])('rejects %o before connecting', (bad, message) => {
    expect(() => new Worker({ transport, apps: [app], ...bad })).toThrow(message);
  });
});
