// The exactly-once v2 commit unit against a scripted producer and consumer: group commit (steps that finish while a
// transaction commits share the next one), ownership (a revoked partition's step never commits), the retry in a
// new generation, failures failing every step of the transaction, and a fenced producer being replaced.
import {
  AuthorizationError,
  type Consumer,
  FencedError,
  ProducerStateError,
  type GroupMetadata,
  type OutgoingRecord,
  PartitionsRevokedError,
  type Producer,
  silentLogger,
  type TopicPartitionOffset,
  type Transaction,
  type Transport,
  TransportError,
} from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { TransactionUnit } from './transaction-unit.ts';

interface Committed {
  records: string[];
  offsets: TopicPartitionOffset[];
  generation: number;
}

/** A group member and transactional producers whose answers the test scripts. */
class Script {
  generation = 1;
  owned = new Set([0, 1, 2]);
  /** Partitions the membership covers beyond the assignment (being revoked in a graceful leave). */
  leaving: number[] | undefined;
  committed: Committed[] = [];
  producers = 0;
  /** The next producer's connect fails (once). */
  failConnect = false;
  /** Fails the next sendOffsets with this error (once). */
  failOffsets: Error | undefined;
  /** Runs when that failure is thrown (e.g. the member learns a new generation meanwhile). */
  afterFail: (() => void) | undefined;
  /** Holds commits until released. */
  gate: Promise<void> = Promise.resolve();
  /** Generations the broker accepts. */
  current = () => this.generation;

  consumer(): Consumer {
    return {
      groupMetadata: (): GroupMetadata => ({
        groupId: 'g',
        generationId: this.generation,
        memberId: 'm',
        ...(this.leaving === undefined
          ? {}
          : {
              partitions: [...this.owned, ...this.leaving].map((partition) => ({ topic: 'in', partition })),
            }),
      }),
      assignment: () => [...this.owned].map((partition) => ({ topic: 'in', partition })),
    } as unknown as Consumer;
  }

  transport(): Transport {
    return { producer: () => this.producer() } as unknown as Transport;
  }

  private producer(): Producer {
    this.producers++;
    // A producer that failed a transaction fails every later call the same way (fenced; sequences out of step; a
    // client that keeps asking a coordinator that moved), unless the failure was a refusal for the generation.
    let broken: Error | undefined;
    return {
      connect: async () => {
        if (this.failConnect) {
          this.failConnect = false;
          throw new Error('broker unreachable');
        }
      },
      disconnect: async () => {},
      send: async () => {},
      beginTransaction: async (): Promise<Transaction> => {
        if (broken !== undefined) throw broken;
        const records: string[] = [];
        let offsets: TopicPartitionOffset[] = [];
        let generation = -1;
        return {
          send: async (rs: readonly OutgoingRecord[]) => {
            for (const r of rs) records.push(String(r.value));
          },
          sendOffsets: async (_g: string, os: readonly TopicPartitionOffset[], member?: GroupMetadata) => {
            const fail = this.failOffsets;
            this.failOffsets = undefined;
            if (fail !== undefined) {
              this.afterFail?.();
              if (!(fail instanceof PartitionsRevokedError)) broken = fail;
              throw fail;
            }
            if (member!.generationId !== this.current()) throw new PartitionsRevokedError('past generation');
            offsets = [...os];
            generation = member!.generationId;
          },
          commit: async () => {
            await this.gate;
            this.committed.push({ records, offsets, generation });
          },
          abort: async () => {},
        };
      },
    };
  }
}

const unitOf = (s: Script) =>
  new TransactionUnit({
    transport: s.transport(),
    consumer: s.consumer(),
    group: 'g',
    topic: 'in',
    transactionalId: 'g.w1',
    logger: silentLogger(),
  });
const rec = (v: string): OutgoingRecord => ({ topic: 'out', key: null, value: Buffer.from(v) });
const at = (partition: number, offset: number): TopicPartitionOffset => ({ topic: 'in', partition, offset });

describe('TransactionUnit (exactly-once v2)', () => {
  it('commits the steps that arrive together as one transaction, and those arriving during a commit in the next', async () => {
    const s = new Script();
    const unit = unitOf(s);
    await unit.open();
    let release!: () => void;
    s.gate = new Promise((r) => {
      release = r;
    });
    const first = [unit.commit([rec('a')], at(0, 1)), unit.commit([rec('b')], at(1, 5))];
    await new Promise((r) => setTimeout(r, 20)); // the first transaction is committing (held by the gate)
    const second = [unit.commit([rec('c')], at(2, 3)), unit.commit([], at(0, 2))];
    release();
    await Promise.all([...first, ...second]);
    expect(s.committed).toEqual([
      { records: ['a', 'b'], offsets: [at(0, 1), at(1, 5)], generation: 1 },
      { records: ['c'], offsets: [at(2, 3), at(0, 2)], generation: 1 },
    ]);
    expect(unit.stats).toEqual({ transactions: 2, steps: 4, failed: 0 });
  });

  it('never commits a step of a partition the member no longer owns; the others commit', async () => {
    const s = new Script();
    const unit = unitOf(s);
    await unit.open();
    s.owned.delete(1);
    const kept = unit.commit([rec('a')], at(0, 1));
    const revoked = unit.commit([rec('b')], at(1, 1));
    await expect(revoked).rejects.toBeInstanceOf(PartitionsRevokedError);
    await kept;
    expect(s.committed).toEqual([{ records: ['a'], offsets: [at(0, 1)], generation: 1 }]);
  });

  it('survives failing to register its transactional id at open: the first commit registers it', async () => {
    const s = new Script();
    s.failConnect = true;
    const unit = unitOf(s);
    await unit.open();
    await unit.commit([rec('a')], at(0, 1));
    expect(s.producers).toBe(2);
    expect(s.committed).toEqual([{ records: ['a'], offsets: [at(0, 1)], generation: 1 }]);
  });

  it("commits a partition being revoked while the membership still covers it (a graceful leave's close)", async () => {
    const s = new Script();
    const unit = unitOf(s);
    await unit.open();
    s.owned.delete(1);
    s.leaving = [1];
    await unit.commit([], at(1, 7));
    expect(s.committed).toEqual([{ records: [], offsets: [at(1, 7)], generation: 1 }]);
  });

  it('tries again in the new generation when the member kept every partition, and fails the steps otherwise', async () => {
    const s = new Script();
    const unit = unitOf(s);
    await unit.open();
    // The broker moved on to generation 2 and the member learns it during the commit: tried again, committed.
    s.current = () => 2;
    s.failOffsets = new PartitionsRevokedError('past generation');
    s.afterFail = () => {
      s.generation = 2;
    };
    await unit.commit([rec('a')], at(0, 1));
    expect(s.committed).toEqual([{ records: ['a'], offsets: [at(0, 1)], generation: 2 }]);
    // The member has not heard of the new generation: the step fails (its task re-runs it).
    s.afterFail = undefined;
    s.current = () => 3;
    await expect(unit.commit([rec('b')], at(0, 2))).rejects.toBeInstanceOf(PartitionsRevokedError);
    expect(s.committed).toHaveLength(1);
    expect(unit.stats.failed).toBe(1);
  });

  it('fails every step of a failed transaction, and replaces a fenced producer for the next one', async () => {
    const s = new Script();
    const unit = unitOf(s);
    await unit.open();
    s.failOffsets = new FencedError('transaction timed out');
    const a = unit.commit([rec('a')], at(0, 1));
    const b = unit.commit([rec('b')], at(1, 1));
    await expect(a).rejects.toBeInstanceOf(FencedError);
    await expect(b).rejects.toBeInstanceOf(FencedError);
    expect(s.producers).toBe(1);
    await unit.commit([rec('c')], at(0, 1));
    expect(s.producers).toBe(2);
    expect(s.committed).toEqual([{ records: ['c'], offsets: [at(0, 1)], generation: 1 }]);
    await unit.close();
    await expect(unit.commit([], at(0, 2))).rejects.toThrow(/closed/);
  });

  it.each([
    [
      'whose sequence state fell out of step with the broker',
      new ProducerStateError('out of order', { retriable: true }),
    ],
    [
      'that failed a transaction any other way (a coordinator that moved)',
      new TransportError('NOT_COORDINATOR', { retriable: true }),
    ],
  ])('replaces a producer %s (a failover), and goes on', async (_, failure) => {
    const s = new Script();
    const unit = unitOf(s);
    await unit.open();
    s.failOffsets = failure;
    const a = unit.commit([rec('a')], at(0, 1));
    await expect(a).rejects.toBe(failure);
    expect(s.producers).toBe(1);
    // Without a new producer every later transaction would fail the same way (the app stopped after three).
    await unit.commit([rec('a')], at(0, 1));
    await unit.commit([rec('b')], at(0, 2));
    expect(s.producers).toBe(2);
    expect(s.committed.map((c) => c.records)).toEqual([['a'], ['b']]);
    await unit.close();
  });
});

describe('TransactionUnit.fenceV1 (a v1 zombie of the partition)', () => {
  /** A transport whose producers record the transactional ids they register; `refuse` fails their connect. */
  const registering = (refuse?: () => Error) => {
    const registered: string[] = [];
    let disconnected = 0;
    const transport = {
      producer: (o: { transactionalId?: string }) => ({
        connect: async () => {
          if (refuse !== undefined) throw refuse();
          registered.push(o.transactionalId!);
        },
        disconnect: async () => {
          disconnected++;
        },
      }),
    } as unknown as Transport;
    const unit = (fenceV1?: boolean) =>
      new TransactionUnit({
        transport,
        consumer: new Script().consumer(),
        group: 'g',
        topic: 'in',
        transactionalId: 'g.w1',
        logger: silentLogger(),
        ...(fenceV1 === undefined ? {} : { fenceV1 }),
      });
    return { registered, disconnected: () => disconnected, unit };
  };

  it("registers the partition's v1 transactional id and lets it go; not with fenceV1: false", async () => {
    const r = registering();
    await r.unit().fenceV1(3);
    expect(r.registered).toEqual(['g.3']);
    expect(r.disconnected()).toBe(1);
    await r.unit(false).fenceV1(4);
    expect(r.registered).toEqual(['g.3']);
  });

  it('goes on when the credentials may not use the id, and fails on anything else', async () => {
    // What both transports map TRANSACTIONAL_ID_AUTHORIZATION_FAILED to (their mapError tests prove it).
    const denied = () => new AuthorizationError('connect producer', 'transactionalId', 'g.1');
    // Another refusal is not this one: the worker cannot run without its topics.
    const topicDenied = () => new AuthorizationError('connect producer', 'topic', 'in');
    const r = registering(denied);
    await r.unit().fenceV1(1);
    expect(r.disconnected()).toBe(1);
    await expect(registering(topicDenied).unit().fenceV1(1)).rejects.toThrow(AuthorizationError);
    const down = registering(() => new TransportError('broker unreachable', { retriable: true }));
    await expect(down.unit().fenceV1(1)).rejects.toThrow('broker unreachable');
    expect(down.disconnected()).toBe(1);
  });
});
