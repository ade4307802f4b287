// The worker process around a worker (`@dirigo/runtime/process`): a graceful stop has a deadline, after which
// what is still running is logged and the process exits 1; a process whose apps have all stopped exits 1 on its
// own; bad broker lists fail before anything connects.
import { ConfigError, defineApp, fn, type Logger } from '@dirigo/core';
import { Worker } from '@dirigo/runtime';
import { createWorkerProcess, stopOnSignals } from '@dirigo/runtime/process';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';

/** A logger that keeps its lines. */
function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { logger, lines };
}

/** An app whose handler waits for `release()`. */
function stuckApp() {
  let release = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let started = false;
  const app = defineApp({
    name: 'stuck',
    ingresses: [{ topic: 'stuck-in', to: 'f' }],
    functions: {
      f: fn({
        async handler() {
          started = true;
          await released;
        },
      }),
    },
  });
  return { app, release: () => release(), started: () => started };
}

async function setup(topic: string) {
  const kafka = new MemoryKafka({ retryBackoffMs: 1 });
  const transport = new MemoryTransport(kafka);
  await (await transport.admin()).createTopics([{ name: topic, partitions: 1 }]);
  const producer = transport.producer();
  await producer.connect();
  const send = (value: string) =>
    producer.send([{ topic, key: Buffer.from('k'), value: Buffer.from(value) }]);
  return { kafka, transport, send };
}

describe('the graceful stop deadline', () => {
  it('logs what is still running and exits 1 when the stop has not finished in time', async () => {
    const { kafka, transport, send } = await setup('stuck-in');
    const { app, release, started } = stuckApp();
    const { logger, lines } = capture();
    const worker = new Worker({ transport, apps: [app], loadReportIntervalMs: 0, logger });
    await worker.start();
    await send('1');
    await waitFor(started, 5_000);
    const exits: number[] = [];
    const stop = stopOnSignals(worker, transport, logger, undefined, {
      stopTimeoutMs: 300,
      exit: (code) => void exits.push(code),
    });
    const began = Date.now();
    stop('test');
    await waitFor(() => exits.length > 0, 5_000);
    expect(exits).toEqual([1]);
    expect(Date.now() - began).toBeLessThan(2_000);
    const line = lines.find((l) =>
      String(l.msg).startsWith('the graceful stop did not finish within 300 ms'),
    );
    expect(line).toMatchObject({
      level: 50,
      phase: 'apps',
      stillRunning: [{ app: 'stuck', fn: 'f', partitions: [0] }],
    });
    expect(String(line?.msg)).toContain('not committed');
    release();
    await waitFor(() => worker.state === 'stopped', 5_000);
    expect(exits).toEqual([1]);
    await kafka.close();
  });

  it('exits 0 when the stop finishes in time', async () => {
    const { kafka, transport } = await setup('stuck-in');
    const { app } = stuckApp();
    const worker = new Worker({ transport, apps: [app], loadReportIntervalMs: 0 });
    await worker.start();
    const exits: number[] = [];
    stopOnSignals(worker, transport, capture().logger, undefined, {
      stopTimeoutMs: 5_000,
      exit: (code) => void exits.push(code),
    })('test');
    await waitFor(() => exits.length > 0, 5_000);
    expect(exits).toEqual([0]);
    await kafka.close();
  });
});

describe('a worker process with no app running', () => {
  it('logs why, stops and exits 1 once no app has been running for the grace period', async () => {
    const { kafka, transport, send } = await setup('poison-in');
    const app = defineApp({
      name: 'stopper',
      options: { onError: 'stop' },
      ingresses: [{ topic: 'poison-in', to: 'f' }],
      functions: {
        f: fn({
          handler() {
            throw new Error('boom');
          },
        }),
      },
    });
    const { logger, lines } = capture();
    const exits: number[] = [];
    const proc = createWorkerProcess({
      apps: [app],
      transport,
      logger,
      loadReportIntervalMs: 0,
      noAppExitMs: 300,
      exit: (code) => void exits.push(code),
    });
    const worker = await proc.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(exits).toEqual([]);
    await send('poison');
    await waitFor(() => worker.appStats().get('stopper')?.status === 'failed', 5_000);
    const failedAt = Date.now();
    await waitFor(() => exits.length > 0, 5_000);
    expect(exits).toEqual([1]);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(250);
    expect(lines.find((l) => String(l.msg).startsWith('no app is running on this worker'))).toMatchObject({
      level: 50,
      apps: { stopper: { status: 'failed' } },
    });
    expect(worker.state).toBe('stopped');
    await kafka.close();
  });
});

describe('broker lists', () => {
  it.each([
    [{ brokers: 'host' }, undefined, /^brokers: "host" is not host:port; add the port, e.g. host:9092/],
    [{ brokers: 'a:9092,b:0' }, undefined, /^brokers: "b:0" has port 0/],
    [{}, 'kafka1:9092,kafka2', /^KAFKA_BROKERS: "kafka2" is not host:port/],
    [{ brokers: ' , ' }, undefined, /^brokers: no broker in/],
  ])('%o (KAFKA_BROKERS=%s) fails before connecting', (options, env, message) => {
    const before = process.env.KAFKA_BROKERS;
    if (env === undefined) delete process.env.KAFKA_BROKERS;
    else process.env.KAFKA_BROKERS = env;
    try {
      const app = stuckApp().app;
      expect(() => createWorkerProcess({ apps: [app], ...options })).toThrow(ConfigError);
      expect(() => createWorkerProcess({ apps: [app], ...options })).toThrow(message);
    } finally {
      if (before === undefined) delete process.env.KAFKA_BROKERS;
      else process.env.KAFKA_BROKERS = before;
    }
  });
});

describe('transport choice', () => {
  const withEnv = <T>(value: string | undefined, run: () => T): T => {
    const before = process.env.DIRIGO_TRANSPORT;
    if (value === undefined) delete process.env.DIRIGO_TRANSPORT;
    else process.env.DIRIGO_TRANSPORT = value;
    try {
      return run();
    } finally {
      if (before === undefined) delete process.env.DIRIGO_TRANSPORT;
      else process.env.DIRIGO_TRANSPORT = before;
    }
  };
  const nameOf = (options: Partial<Parameters<typeof createWorkerProcess>[0]>, env?: string) =>
    withEnv(env, () => {
      const proc = createWorkerProcess({ apps: [stuckApp().app], brokers: '127.0.0.1:9', ...options });
      void proc.transport.close();
      return proc.transport.name;
    });

  it('is platformatic by default, else the `transport` option, else DIRIGO_TRANSPORT', () => {
    expect(nameOf({})).toBe('platformatic');
    expect(nameOf({ transport: 'kafkajs' })).toBe('kafkajs');
    expect(nameOf({}, 'kafkajs')).toBe('kafkajs');
    expect(nameOf({ transport: 'platformatic' }, 'kafkajs')).toBe('platformatic');
  });

  it('names the option or variable of an unknown transport', () => {
    expect(() => nameOf({ transport: 'rdkafka' as 'kafkajs' })).toThrow(
      /^transport: "rdkafka" is not a transport/,
    );
    expect(() => nameOf({}, 'x')).toThrow(ConfigError);
    expect(() => nameOf({}, 'x')).toThrow(
      /^DIRIGO_TRANSPORT: "x" is not a transport; use one of kafkajs, platformatic/,
    );
  });
});
