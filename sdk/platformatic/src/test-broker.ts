// The real broker of this package's integration tests (the integration global setup starts one, or
// KAFKA_BROKERS), and their logger. Without a broker a test file FAILS on purpose: a green run must mean the
// transport was checked against Kafka.
import { createLogger, type Logger } from '@dirigo/core';
import { inject } from 'vitest';

/** The bootstrap address; throws with the fix when there is none. */
export function testBrokers(): string {
  const brokers = process.env.KAFKA_BROKERS ?? inject('kafkaBrokers');
  if (brokers === undefined || brokers.trim() === '') {
    throw new Error(
      'KAFKA_BROKERS is not set: the platformatic transport tests need a real broker. Start one with ' +
        '`npm run kafka -- start` and set KAFKA_BROKERS to its bootstrap address (e.g. 127.0.0.1:19092).',
    );
  }
  return brokers;
}

/** Logs of the transport under test: silent unless DIRIGO_LOG_LEVEL asks for them. */
export const testLogger = (): Logger => createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'silent' });
