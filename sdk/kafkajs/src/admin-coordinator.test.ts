// fetchCommittedOffsets on a new broker: kafkajs does not retry an OffsetFetch answered NOT_COORDINATOR while
// __consumer_offsets is being created; the admin asks again (found by the container tests' fresh broker). And
// why kafkajs found no coordinator at all: the transport asks the broker (an ACL refusing the group or id).
import { AuthorizationError, silentLogger, TransportError } from '@dirigo/core';
import type { Admin } from 'kafkajs';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkajsAdmin } from './admin.ts';
import { mapError } from './errors.ts';
import { explainCoordinatorNotFound, type KafkajsInternals } from './internals.ts';

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

describe('explainCoordinatorNotFound (kafkajs drops why it found no coordinator)', () => {
  const notFound = () =>
    Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound' });
  const refusal = new KafkaJSProtocolError({
    message: 'Transactional Id authorization failed',
    type: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
    code: 53,
    retriable: false,
  } as unknown as Error);
  const probe = (answer: unknown) => {
    const asked: [string, number][] = [];
    const internals = {
      async coordinatorRefusal(key: string, type: number) {
        asked.push([key, type]);
        return answer;
      },
    } as unknown as KafkajsInternals;
    return { asked, get: () => internals };
  };

  it("asks the broker, and the broker's answer is what mapError sees", async () => {
    const p = probe(refusal);
    const explained = await explainCoordinatorNotFound(notFound(), p.get, 'g.w1', 1);
    expect(p.asked).toEqual([['g.w1', 1]]);
    const mapped = mapError(explained, { operation: 'connect producer', transactionalId: 'g.w1' });
    expect(mapped).toBeInstanceOf(AuthorizationError);
    expect((mapped as AuthorizationError).resourceName).toBe('g.w1');
  });

  it('leaves other errors, and a coordinator the broker finds, as they are', async () => {
    const other = new Error('boom');
    const p = probe(undefined);
    expect(await explainCoordinatorNotFound(other, p.get, 'g', 0)).toBe(other);
    expect(p.asked).toEqual([]);
    const e = notFound();
    expect(await explainCoordinatorNotFound(e, p.get, 'g', 0)).toBe(e);
    expect(p.asked).toEqual([['g', 0]]);
  });
});
