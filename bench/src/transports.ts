// The Kafka client of a bench, by name: kafkajs or @platformatic/kafka (classic group protocol; exactly-once v2
// there by default).
import type { Logger, Transport } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { PlatformaticTransport } from '@dirigo/platformatic';

export type TransportName = 'kafkajs' | 'platformatic';

export function benchTransport(
  name: TransportName,
  brokers: string,
  clientId: string,
  logger: Logger,
): Transport {
  const list = brokers.split(',');
  return name === 'kafkajs'
    ? new KafkajsTransport({ brokers: list, clientId, logger })
    : new PlatformaticTransport({ brokers: list, clientId, logger });
}
