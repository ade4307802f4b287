import { describe, expect, it } from 'vitest';
import '../src/index.ts';
import { groupingPatched, groupMessagesPerPartition } from './kafkajs-patches.ts';

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
