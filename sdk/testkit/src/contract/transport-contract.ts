// The transport contract suite: one set of vitest tests that every Transport implementation (memory, kafkajs,
// ...) must pass. Written to pass against a real Kafka 4 broker too: unique names, condition-based waits.
import { describe } from 'vitest';
import { adminContract } from './admin-contract.ts';
import { consumerContract } from './consumer-contract.ts';
import { groupContract } from './group-contract.ts';
import { type ContractOptions, contractContext, type TransportFactory } from './harness.ts';
import { producerContract } from './producer-contract.ts';
import { readToEndContract } from './read-to-end-contract.ts';
import { transactionContract } from './transaction-contract.ts';

export type { ContractOptions, TransportFactory } from './harness.ts';

/**
 * Declares the transport contract tests (vitest `describe`/`it`) for one implementation. `factory` is called
 * before every test; the transport it returns is closed (and `cleanup` awaited) after the test. Topics and groups
 * get unique names and are deleted afterwards, so a shared broker works.
 *
 * Options: `slow` (default false) raises the timeouts to 3 min per test and 60 s per wait, for real brokers;
 * `compact` (default none) lets the compacted-topic test compact for real.
 */
export function transportContract(
  name: string,
  factory: TransportFactory,
  options: ContractOptions = {},
): void {
  describe(`transport contract: ${name}`, () => {
    const ctx = contractContext(factory, options);
    adminContract(ctx);
    producerContract(ctx);
    consumerContract(ctx);
    groupContract(ctx);
    transactionContract(ctx);
    readToEndContract(ctx);
  });
}

export { eosV2Contract } from './eos-v2-contract.ts';
