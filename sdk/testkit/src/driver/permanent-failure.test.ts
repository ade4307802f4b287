// A step that keeps failing with a non-retriable transport error (e.g. a record larger than the broker
// accepts) stops its app with an error naming the partition and offset, instead of retrying forever; so does a
// partition that cannot open because of an internal error.
import { type Admin, defineApp, fn, type Producer, type ProducerOptions, TransportError } from '@dirigo/core';
import { InternalError, Worker } from '@dirigo/runtime';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../memory/kafka.ts';
import { MemoryTransport } from '../memory/transport.ts';
import { waitFor } from '../wait.ts';

/** A transport whose transactional sends fail as a broker rejecting an oversized record would (or with `error`). */
class RejectingTransport extends MemoryTransport {
  sends = 0;
  error: () => Error = () => new TransportError('produce: message too large', { retriable: false });
  override producer(options: ProducerOptions = {}): Producer {
    const inner = super.producer(options);
    if (options.transactionalId === undefined) return inner;
    return {
      connect: () => inner.connect(),
      disconnect: () => inner.disconnect(),
      send: (records) => inner.send(records),
      beginTransaction: async () => {
        const txn = await inner.beginTransaction();
        return {
          ...txn,
          send: async () => {
            this.sends++;
            throw this.error();
          },
          sendOffsets: (g, o) => txn.sendOffsets(g, o),
          commit: () => txn.commit(),
          abort: () => txn.abort(),
        };
      },
    };
  }
}

describe('permanent step failures', () => {
  it('stop the app after a few attempts with the partition and offset in the error', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new RejectingTransport(kafka);
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 1 }]);
    const app = defineApp({
      name: 'big',
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: { f: fn({ handler: (ctx, m: unknown) => ctx.emit('out', ctx.key, m) }) },
    });
    const worker = new Worker({ transport, apps: [app], tickIntervalMs: 0 });
    await worker.start();
    const producer = transport.producer();
    await producer.connect();
    await producer.send([{ topic: 'in', key: Buffer.from('k'), value: Buffer.from('1') }]);
    await waitFor(() => worker.appStats().get('big')?.status === 'failed', 5_000);
    expect(worker.appStats().get('big')?.error).toMatch(
      /failed 3 times in a row on in\/0 from offset 0 .*message too large/,
    );
    expect(transport.sends).toBe(3);
    expect(worker.state).toBe('running');
    await worker.stop();
    await kafka.close();
  });

  it('stop the app on an error nobody classified as transient (a bug), instead of retrying forever', async () => {
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new RejectingTransport(kafka);
    transport.error = () => new TypeError("Cannot read properties of undefined (reading 'x')");
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 1 }]);
    const app = defineApp({
      name: 'bug',
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: { f: fn({ handler: (ctx, m: unknown) => ctx.emit('out', ctx.key, m) }) },
    });
    const worker = new Worker({ transport, apps: [app], tickIntervalMs: 0 });
    await worker.start();
    const producer = transport.producer();
    await producer.connect();
    await producer.send([{ topic: 'in', key: Buffer.from('k'), value: Buffer.from('1') }]);
    await waitFor(() => worker.appStats().get('bug')?.status === 'failed', 5_000);
    expect(worker.appStats().get('bug')?.error).toMatch(/failed 3 times in a row .*reading 'x'/);
    expect(transport.sends).toBe(3);
    await worker.stop();
    await kafka.close();
  });

  it('stop the app when a partition cannot open because of an internal error, instead of retrying forever', async () => {
    // The committed position of function f's group cannot be read: an internal error (standing for a bug of
    // the runtime, e.g. a topic whose partition count it does not know).
    class BrokenOpen extends MemoryTransport {
      opens = 0;
      override async admin(): Promise<Admin> {
        const admin = await super.admin();
        const fetch = admin.fetchCommittedOffsets.bind(admin);
        admin.fetchCommittedOffsets = async (group, topic) => {
          if (group !== 'dirigo.broken.f') return fetch(group, topic);
          this.opens++;
          throw new InternalError(`no committed offsets for '${group}'`);
        };
        return admin;
      }
    }
    const kafka = new MemoryKafka({ retryBackoffMs: 1 });
    const transport = new BrokenOpen(kafka);
    await (await transport.admin()).createTopics([{ name: 'in', partitions: 1 }]);
    const app = defineApp({
      name: 'broken',
      ingresses: [{ topic: 'in', to: 'f' }],
      egresses: { out: { topic: 'out' } },
      functions: { f: fn({ handler: (ctx, m: unknown) => ctx.emit('out', ctx.key, m) }) },
    });
    const worker = new Worker({ transport, apps: [app], tickIntervalMs: 0 });
    await worker.start();
    const producer = transport.producer();
    await producer.connect();
    await producer.send([{ topic: 'in', key: Buffer.from('k'), value: Buffer.from('1') }]);
    await waitFor(() => worker.appStats().get('broken')?.status === 'failed', 5_000);
    expect(worker.appStats().get('broken')?.error).toBe(
      "app 'broken' stopped: 'f' could not open partition in/0: internal: no committed offsets for 'dirigo.broken.f'",
    );
    const opens = transport.opens;
    await new Promise((r) => setTimeout(r, 50));
    expect(transport.opens).toBe(opens); // no more attempts
    expect(worker.state).toBe('running');
    await worker.stop();
    await kafka.close();
  });
});
