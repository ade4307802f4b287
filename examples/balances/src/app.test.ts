import { TestDriver } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import app, {
  BALANCES_TOPIC,
  type BalanceUpdate,
  OVERDRAFT_LIMIT,
  REJECTED_TOPIC,
  STATEMENT_DELAY_MS,
  STATEMENTS_TOPIC,
  TRANSFERS_TOPIC,
  type Transfer,
} from './app.ts';

const transfer = (id: string, from: string, to: string, amount: number) => ({
  key: id,
  value: { id, from, to, amount } satisfies Transfer,
});

describe('balances on the test driver', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('moves money between accounts and conserves the total', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(TRANSFERS_TOPIC, [
      transfer('t1', 'alice', 'bob', 30),
      transfer('t2', 'bob', 'carol', 10),
      transfer('t3', 'carol', 'alice', 5),
    ]);
    expect(await driver.state('balances', 'account', 'alice', 'balance')).toBe(-25);
    expect(await driver.state('balances', 'account', 'bob', 'balance')).toBe(20);
    expect(await driver.state('balances', 'account', 'carol', 'balance')).toBe(5);
    const latest = await driver.latest<BalanceUpdate>(BALANCES_TOPIC);
    expect([...latest.values()].reduce((s, b) => s + b.balance, 0)).toBe(0);
  });

  it('rejects an overdraft without touching either account', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(TRANSFERS_TOPIC, [transfer('big', 'dave', 'erin', OVERDRAFT_LIMIT + 1)]);
    const rejected = await driver.output<Transfer & { reason: string }>(REJECTED_TOPIC);
    expect(rejected.map((r) => r.value.id)).toEqual(['big']);
    expect(await driver.state('balances', 'account', 'dave', 'balance')).toBeUndefined();
    expect(await driver.state('balances', 'account', 'erin', 'balance')).toBeUndefined();
  });

  it('applies a replayed transfer once', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(TRANSFERS_TOPIC, [transfer('t1', 'a', 'b', 7), transfer('t1', 'a', 'b', 7)]);
    expect(await driver.state('balances', 'account', 'a', 'balance')).toBe(-7);
    expect(await driver.state('balances', 'account', 'b', 'balance')).toBe(7);
  });

  it('dead-letters an invalid transfer with the reason and origin in headers', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(TRANSFERS_TOPIC, [
      { key: 'bad', value: { id: 'bad', from: 'a', to: 'b', amount: -1 } },
      transfer('ok', 'a', 'b', 1),
    ]);
    const dlq = await driver.deadLetters('balances');
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers['dirigo-error']?.toString()).toContain('positive amount');
    expect(dlq[0]!.headers['dirigo-origin-topic']?.toString()).toBe(TRANSFERS_TOPIC);
    expect(dlq[0]!.headers['dirigo-error-stage']?.toString()).toBe('handler');
    expect(await driver.state('balances', 'account', 'b', 'balance')).toBe(1);
  });

  it('dead-letters an undecodable record and goes on', async () => {
    driver = await TestDriver.start(app);
    await driver.pipeRaw(TRANSFERS_TOPIC, 'x', Buffer.from('{not json'));
    await driver.pipe(TRANSFERS_TOPIC, [transfer('ok', 'a', 'b', 2)]);
    const dlq = await driver.deadLetters('balances');
    expect(dlq.map((r) => r.headers['dirigo-error-stage']?.toString())).toEqual(['decode']);
    expect(await driver.state('balances', 'account', 'b', 'balance')).toBe(2);
  });

  it('schedules no statement for a rejected first debit', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(TRANSFERS_TOPIC, [transfer('big', 'dave', 'erin', OVERDRAFT_LIMIT + 1)]);
    await driver.advance(STATEMENT_DELAY_MS);
    expect(await driver.output(STATEMENTS_TOPIC)).toHaveLength(0);
  });

  it('emits a statement one minute (test clock) after the first movement, not before', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(TRANSFERS_TOPIC, [transfer('t1', 'a', 'b', 3)]);
    await driver.advance(STATEMENT_DELAY_MS - 1);
    expect(await driver.output(STATEMENTS_TOPIC)).toHaveLength(0);
    await driver.advance(1);
    await driver.settle();
    const statements = await driver.latest<{ balance: number; movements: number }>(STATEMENTS_TOPIC);
    expect(statements.get('a')).toEqual({ account: 'a', balance: -3, movements: 1 });
    expect(statements.get('b')).toEqual({ account: 'b', balance: 3, movements: 1 });
  });
});
