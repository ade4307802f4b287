// Balances: transfers `{ id, from, to, amount }` arrive on `transfers` keyed by transfer id. `transfer` asks
// the `account` actor of `from` to debit; the account rejects an overdraft or applies the debit and tells the
// `to` account to credit. Every balance change goes to `balances`; rejected transfers go to
// `rejected-transfers`. One minute after an account's first movement it emits a statement (a durable timer).
import { defineApp, fn, state } from '@dirigo/core';

export const TRANSFERS_TOPIC = 'transfers';
export const BALANCES_TOPIC = 'balances';
export const REJECTED_TOPIC = 'rejected-transfers';
export const STATEMENTS_TOPIC = 'statements';
/** New accounts start with this credit line (balance may go down to -limit). */
export const OVERDRAFT_LIMIT = 100;
export const STATEMENT_DELAY_MS = 60_000;

export interface Transfer {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
}

export type AccountMessage =
  | { readonly kind: 'debit'; readonly transfer: Transfer }
  | { readonly kind: 'credit'; readonly transfer: Transfer }
  | { readonly kind: 'statement' };

export interface BalanceUpdate {
  readonly account: string;
  readonly balance: number;
  readonly transferId: string;
}

/** Namespace and topic prefix, for running several isolated copies (the demo does). */
export interface BalancesOptions {
  readonly namespace?: string;
  /** Prepended to every topic name. Default ''. */
  readonly topicPrefix?: string;
}

/** Builds the app; the default export is `balancesApp()`. */
export const balancesApp = (o: BalancesOptions = {}) => {
  const t = (name: string) => `${o.topicPrefix ?? ''}${name}`;
  return defineApp({
    name: 'balances',
    options: { latencyTargetMs: 200, priority: 'high', ...(o.namespace ? { namespace: o.namespace } : {}) },
    ingresses: [{ topic: t(TRANSFERS_TOPIC), to: 'transfer' }],
    egresses: {
      balances: { topic: t(BALANCES_TOPIC) },
      rejected: { topic: t(REJECTED_TOPIC) },
      statements: { topic: t(STATEMENTS_TOPIC) },
    },
    functions: {
      transfer: fn({
        handler(ctx, t: Transfer) {
          if (
            typeof t.from !== 'string' ||
            typeof t.to !== 'string' ||
            !(Number.isFinite(t.amount) && t.amount > 0)
          ) {
            throw new Error(`invalid transfer ${JSON.stringify(t)}: needs from, to and a positive amount`);
          }
          ctx.send('account', t.from, { kind: 'debit', transfer: t } satisfies AccountMessage);
        },
      }),
      account: fn({
        state: { balance: state.value<number>(), movements: state.value<number>(), seen: state.map<true>() },
        handler(ctx, m: AccountMessage) {
          if (m.kind === 'statement') {
            ctx.emit('statements', ctx.key, {
              account: ctx.key,
              balance: ctx.state.balance.get() ?? 0,
              movements: ctx.state.movements.get() ?? 0,
            });
            return;
          }
          const t = m.transfer;
          // Idempotence against replays of the same transfer from upstream systems.
          const mark = `${m.kind}:${t.id}`;
          if (ctx.state.seen.has(mark)) return;
          ctx.state.seen.set(mark, true);
          const balance = ctx.state.balance.get() ?? 0;
          const movements = ctx.state.movements.get() ?? 0;
          if (m.kind === 'debit') {
            if (balance - t.amount < -OVERDRAFT_LIMIT) {
              ctx.emit('rejected', t.id, { ...t, reason: `insufficient funds: balance ${balance}` });
              return;
            }
            ctx.state.balance.set(balance - t.amount);
            ctx.send('account', t.to, { kind: 'credit', transfer: t } satisfies AccountMessage);
          } else {
            ctx.state.balance.set(balance + t.amount);
          }
          ctx.state.movements.set(movements + 1);
          if (movements === 0) {
            // First movement of this account: its statement is due in a minute (a durable timer).
            ctx.send('account', ctx.key, { kind: 'statement' } satisfies AccountMessage, {
              delayMs: STATEMENT_DELAY_MS,
            });
          }
          ctx.emit('balances', ctx.key, {
            account: ctx.key,
            balance: ctx.state.balance.get()!,
            transferId: t.id,
          } satisfies BalanceUpdate);
        },
      }),
    },
  });
};

export default balancesApp();
