import { describe, expect, it } from 'vitest';
import { AuthorizationError, aclResourceOfCode, namingRefusedTopic, TransportError } from './errors.ts';

describe('AuthorizationError', () => {
  it('names the resource, the broker code and the fix, and is never retriable', () => {
    const e = new AuthorizationError('produce', 'topic', 'orders');
    expect(e.message).toBe(
      "produce: not authorized: the broker refused topic 'orders' to this client's principal (TOPIC_AUTHORIZATION_FAILED); grant the principal the ACLs a worker needs (docs/operations.md, \"ACLs\")",
    );
    expect(e).toBeInstanceOf(TransportError);
    expect(e.retriable).toBe(false);
    expect(new AuthorizationError('x', 'transactionalId', undefined).message).toContain(
      'the transactional id to',
    );
    expect([29, 30, 31, 53, 1].map(aclResourceOfCode)).toEqual([
      'topic',
      'group',
      'cluster',
      'transactionalId',
      undefined,
    ]);
  });
});

describe('namingRefusedTopic', () => {
  /** A describe of several topics that the broker refuses when `refused` is among them, naming the first asked. */
  const describer = (refused: string) => {
    const calls: string[][] = [];
    const describe = async (names: readonly string[]) => {
      calls.push([...names]);
      if (names.includes(refused)) throw new AuthorizationError('describe', 'topic', names[0]);
      return names.length;
    };
    return { calls, describe };
  };

  it('asks for each topic alone after a refusal of several, so that the error names the refused one', async () => {
    const d = describer('b');
    const error = await namingRefusedTopic(['a', 'b', 'c'], d.describe).catch((e: unknown) => e);
    expect((error as AuthorizationError).resourceName).toBe('b');
    expect(d.calls).toEqual([['a', 'b', 'c'], ['a'], ['b']]);
  });

  it('passes answers and other errors through', async () => {
    expect(await namingRefusedTopic(['a', 'b'], describer('z').describe)).toBe(2);
    const other = new TransportError('down');
    await expect(namingRefusedTopic(['a', 'b'], () => Promise.reject(other))).rejects.toBe(other);
  });
});
