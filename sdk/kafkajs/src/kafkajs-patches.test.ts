import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import '../src/index.ts';
import {
  abortFilterPatched,
  cancelRejoin,
  filterAbortedMessages,
  groupingPatched,
  groupMessagesPerPartition,
  requestRejoin,
  staleSeeksDropped,
} from './kafkajs-patches.ts';

describe('kafkajs grouping fix', () => {
  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(groupingPatched()).toBe(true);
  });
  it('groups like kafkajs: partition -> messages in send order, and nothing without metadata', () => {
    const messages = Array.from({ length: 10 }, (_, i) => ({ i }));
    const partitioner = ({ message }: { message: unknown }) => (message as { i: number }).i % 3;
    expect(
      groupMessagesPerPartition({ topic: 't', partitionMetadata: [1, 2, 3], messages, partitioner }),
    ).toEqual({
      0: [{ i: 0 }, { i: 3 }, { i: 6 }, { i: 9 }],
      1: [{ i: 1 }, { i: 4 }, { i: 7 }],
      2: [{ i: 2 }, { i: 5 }, { i: 8 }],
    });
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner })).toEqual(
      {},
    );
  });
});

describe('kafkajs aborted-transaction filter fix', () => {
  const msg = (
    offset: number,
    producerId: string,
    opts: { control?: 'abort' | 'commit'; txn?: boolean } = {},
  ) => ({
    offset: String(offset),
    key:
      opts.control === undefined
        ? Buffer.from('k')
        : Buffer.from([0, 0, 0, opts.control === 'abort' ? 0 : 1]),
    isControlRecord: opts.control !== undefined,
    batchContext: { producerId, inTransaction: opts.txn ?? true },
  });
  const kept = (messages: ReturnType<typeof msg>[], aborted: { producerId: string; firstOffset: string }[]) =>
    filterAbortedMessages({ messages, abortedTransactions: aborted })
      .filter((m) => !m.isControlRecord)
      .map((m) => Number(m.offset));

  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(abortFilterPatched()).toBe(true);
  });

  it('hides every aborted transaction that began before the fetch, not only the first one listed', () => {
    // A (producer 1) from offset 0 and B (producer 2) from offset 1 both abort; the fetch starts at offset 3.
    const messages = [
      msg(3, '2'),
      msg(4, '9', { txn: false }),
      msg(5, '1', { control: 'abort' }),
      msg(6, '2', { control: 'abort' }),
      msg(7, '3'),
    ];
    const aborted = [
      { producerId: '1', firstOffset: '0' },
      { producerId: '2', firstOffset: '1' },
    ];
    expect(kept(messages, aborted)).toEqual([4, 7]);
  });

  it('takes aborted transactions in as their first offset is reached and ends them at the ABORT marker', () => {
    const messages = [
      msg(0, '1'), // committed transaction of producer 1
      msg(1, '1', { control: 'commit' }),
      msg(2, '1'), // aborted
      msg(3, '2'), // committed, interleaved
      msg(4, '1', { control: 'abort' }),
      msg(5, '1'), // a later, committed transaction of producer 1
      msg(6, '2', { control: 'commit' }),
      msg(7, '1', { control: 'commit' }),
    ];
    expect(kept(messages, [{ producerId: '1', firstOffset: '2' }])).toEqual([0, 3, 5]);
    expect(kept(messages, [])).toEqual([0, 2, 3, 5]);
  });

  it('never takes a data record for an ABORT marker, whatever its key', () => {
    const messages = [msg(0, '1'), { ...msg(1, '1'), key: Buffer.from([0, 0, 0, 0]) }, msg(2, '1')];
    expect(kept(messages, [{ producerId: '1', firstOffset: '0' }])).toEqual([]);
  });
});

describe('kafkajs re-join request', () => {
  const require = createRequire(import.meta.url);
  type Group = { memberId: string | null; heartbeat(args: unknown): Promise<unknown> };
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as {
    prototype: { heartbeat(args: unknown): Promise<unknown> };
  };
  /** A ConsumerGroup whose real heartbeat would need a coordinator: a stand-in `this` for the patched method. */
  const member = (memberId: string | null): Group => {
    const g = Object.create(ConsumerGroup.prototype) as Group;
    g.memberId = memberId;
    return g;
  };

  it('fails the next heartbeat of that member only, once, with the error given', async () => {
    const error = new Error('re-join');
    requestRejoin('m-1', error);
    // A member with another id goes on to kafkajs's own heartbeat (which fails here without a coordinator).
    await expect(member('m-2').heartbeat({ interval: 0 })).rejects.not.toBe(error);
    await expect(member('m-1').heartbeat({ interval: 0 })).rejects.toBe(error);
    await expect(member('m-1').heartbeat({ interval: 0 })).rejects.not.toBe(error);
  });

  it('is withdrawn by cancelRejoin', async () => {
    const error = new Error('re-join');
    requestRejoin('m-3', error);
    cancelRejoin('m-3');
    await expect(member('m-3').heartbeat({ interval: 0 })).rejects.not.toBe(error);
  });
});

describe('kafkajs seeks queued before a re-join', () => {
  const require = createRequire(import.meta.url);
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as {
    prototype: { joinAndSync(): Promise<void> };
  };
  const SeekOffsets = require('kafkajs/src/consumer/seekOffsets.js') as new () => Map<string, string> & {
    set(topic: string, partition: number, offset: string): void;
  };

  it('is active once @dirigo/kafkajs is loaded', () => {
    expect(staleSeeksDropped()).toBe(true);
  });

  it('are dropped when a join starts, before kafkajs joins', async () => {
    // A stand-in `this`: kafkajs's own join needs a coordinator and fails here, after the seeks were dropped.
    const group = Object.create(ConsumerGroup.prototype) as { seekOffset: Map<string, string> } & {
      joinAndSync(): Promise<void>;
    };
    const seeks = new SeekOffsets();
    seeks.set('t', 0, '1098');
    seeks.set('t', 3, '7');
    group.seekOffset = seeks;
    await Promise.resolve()
      .then(() => group.joinAndSync())
      .catch(() => {});
    expect(seeks.size).toBe(0);
  });
});
