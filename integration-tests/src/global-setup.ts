// vitest globalSetup of the integration suites: one real Kafka broker for the whole run.
// KAFKA_BROKERS wins; else a cluster from `npm run kafka -- start`; else a local one (Java 17+ and Maven);
// else Docker. Without any of them this throws: integration tests never skip for want of a broker.
import { ensureKafka } from '@dirigo/local-kafka';
// The augmentation below needs 'vitest' among this file's imports to find the module.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers, comma-separated host:port. */
    kafkaBrokers: string;
    /** Kafka version, or 'unknown' for a KAFKA_BROKERS cluster without KAFKA_VERSION. */
    kafkaVersion: string;
  }
}

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  const kafka = await ensureKafka({ nodes: 1 });
  provide('kafkaBrokers', kafka.brokers);
  provide('kafkaVersion', kafka.version);
  // For child processes the tests start (workers, CLIs): they find the same broker.
  process.env.KAFKA_BROKERS = kafka.brokers;
  process.stderr.write(`Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  return async () => {
    await kafka.stop();
  };
}
