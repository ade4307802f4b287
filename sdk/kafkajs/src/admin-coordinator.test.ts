// fetchCommittedOffsets on a new broker: kafkajs does not retry an OffsetFetch answered NOT_COORDINATOR while
// __consumer_offsets is being created; the admin asks again (found by the container tests' fresh broker).
import { silentLogger, TransportError } from '@dirigo/core';
import type { Admin } from 'kafkajs';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkajsAdmin } from './admin.ts';

const { KafkaJSProtocolError } = kafkajs;
const notCoordinator = () =>
  new KafkaJSProtocolError({
    message: 'This is not the correct coordinator for this group',
    type: 'NOT_COORDINATOR_FOR_GROUP',
    code: 16,
    retriable: true,
  } as unknown as Error);

function adminFailing(times: number, error: () => Error) {
  let calls = 0;
  const admin = {
    async fetchOffsets() {
      calls++;
      if (calls <= times) throw error();
      return [
        {
          topic: 't',
          partitions: [
            { partition: 1, offset: '5' },
            { partition: 0, offset: '-1' },
          ],
        },
      ];
    },
  };
  const wrapped = new KafkajsAdmin(
    {
      logger: silentLogger(),
      knownTopics: new Map(),
      internals: () => {
        throw new Error('not used');
      },
      closed: () => {},
    },
    admin as unknown as Admin,
  );
  return { wrapped, calls: () => calls };
}

describe('fetchCommittedOffsets while the group coordinator is not there yet', () => {
  it('asks again after NOT_COORDINATOR', async () => {
    const { wrapped, calls } = adminFailing(2, notCoordinator);
    expect(await wrapped.fetchCommittedOffsets('g', 't')).toEqual([
      { topic: 't', partition: 0, offset: -1 },
      { topic: 't', partition: 1, offset: 5 },
    ]);
    expect(calls()).toBe(3);
  });

  it('gives up after about 5 s with a retriable TransportError', async () => {
    const { wrapped, calls } = adminFailing(100, notCoordinator);
    const error = await wrapped.fetchCommittedOffsets('g', 't').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).retriable).toBe(true);
    expect(calls()).toBe(8);
  }, 15_000);

  it('does not retry other errors', async () => {
    const { wrapped, calls } = adminFailing(1, () => new Error('boom'));
    await expect(wrapped.fetchCommittedOffsets('g', 't')).rejects.toThrow(/boom/);
    expect(calls()).toBe(1);
  });
});
