// Test helper: fault and timing hooks on the transactions of a memory transport's transactional producers.
import type { Producer, Transaction } from '@dirigo/core';
import type { MemoryTransport } from '../memory/transport.ts';

/**
 * Runs every transaction of `transport`'s transactional producers through `hook(txn)`: the methods it returns
 * replace the transaction's own (call `txn`'s from them), the others are `txn`'s. Producers without a transactional
 * id are left alone.
 */
export function hookTransactions(
  transport: MemoryTransport,
  hook: (txn: Transaction) => Partial<Transaction>,
): void {
  const made = transport.producer.bind(transport);
  transport.producer = (options) => {
    const p = made(options);
    if (options?.transactionalId === undefined) return p;
    const wrapped: Producer = {
      connect: () => p.connect(),
      send: (records) => p.send(records),
      disconnect: () => p.disconnect(),
      beginTransaction: async (): Promise<Transaction> => {
        const txn = await p.beginTransaction();
        return {
          send: (records) => txn.send(records),
          sendOffsets: (groupId, offsets, member) => txn.sendOffsets(groupId, offsets, member),
          abort: () => txn.abort(),
          commit: () => txn.commit(),
          ...hook(txn),
        };
      },
    };
    return wrapped;
  };
}
