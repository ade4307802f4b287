// The Kafka client of the integration suites and the chaos harness: the worker's default (platformatic) unless
// DIRIGO_TRANSPORT (or the harness's --transport flag) names another one. Worker processes the suites start inherit the same choice
// (`dirigo worker` reads DIRIGO_TRANSPORT), so a run exercises one client end to end.
import type { Logger, Transport } from '@dirigo/core';
import { DEFAULT_TRANSPORT } from '@dirigo/runtime/process';
import { benchTransport } from '../../bench/src/transports.ts';
import type { ExactlyOnceChoice } from './chaos/procs.ts';

export const TRANSPORT_NAMES = ['kafkajs', 'platformatic'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/**
 * The setups the chaos suites run on: both clients on the classic group protocol under exactly-once v2 (the
 * default on both), the platformatic client on KIP-848's, whose session timeout is the broker's (10 s on the test
 * broker, see @dirigo/local-kafka): freezes past the session are sized from `sessionTimeoutMs`; and exactly-once
 * v1 (a transactional producer per input partition) on kafkajs, the transport that ran it by default until
 * 2026-12-05; and both protocols at once on kafkajs (`mixed`: every other worker runs v1), a change of protocol
 * caught half way.
 */
export const CHAOS_SETUPS: readonly {
  transportName: TransportName;
  groupProtocol: 'classic' | 'consumer';
  sessionTimeoutMs: number;
  exactlyOnce: ExactlyOnceChoice;
}[] = [
  ...TRANSPORT_NAMES.map((transportName) => ({
    transportName,
    groupProtocol: 'classic' as const,
    sessionTimeoutMs: 6_000,
    exactlyOnce: 'v2' as const,
  })),
  {
    transportName: 'platformatic',
    groupProtocol: 'consumer',
    sessionTimeoutMs: 10_000,
    exactlyOnce: 'v2',
  },
  { transportName: 'kafkajs', groupProtocol: 'classic', sessionTimeoutMs: 6_000, exactlyOnce: 'v1' },
  { transportName: 'kafkajs', groupProtocol: 'classic', sessionTimeoutMs: 6_000, exactlyOnce: 'mixed' },
];

/** DIRIGO_TRANSPORT, checked; the worker's default transport when unset. */
export function transportFromEnv(): TransportName {
  const env = process.env.DIRIGO_TRANSPORT;
  if (env === undefined || env === '') return DEFAULT_TRANSPORT;
  if (!(TRANSPORT_NAMES as readonly string[]).includes(env)) {
    throw new Error(`DIRIGO_TRANSPORT: '${env}' is not one of ${TRANSPORT_NAMES.join(', ')}`);
  }
  return env as TransportName;
}

/** The transport named `name` on `brokers` (comma-separated), as the benches make it. */
export const makeTransport = (
  name: TransportName,
  brokers: string,
  clientId: string,
  logger: Logger,
): Transport => benchTransport(name, brokers, clientId, logger);
