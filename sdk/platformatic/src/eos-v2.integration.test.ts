// Exactly-once v2 (KIP-447) primitives on the real broker, on both group protocols (the contract in
// @dirigo/testkit/contract, shared with the kafkajs transport).
import { eosV2Contract } from '@dirigo/testkit/contract';
import { describe } from 'vitest';
import { PlatformaticTransport } from './index.ts';
import { testBrokers, testLogger } from './test-broker.ts';

const brokers = testBrokers();
const logger = testLogger();

describe.each(['classic', 'consumer'] as const)('platformatic, %s group protocol', (protocol) => {
  eosV2Contract(
    `platformatic, ${protocol} group protocol`,
    () => new PlatformaticTransport({ brokers, logger, groupProtocol: protocol }),
  );
});
