// Routes kafkajs's own logs into the injected pino logger, at levels that match what they mean to a Dirigo
// operator. kafkajs logs every protocol error response at ERROR and then throws the same error to its caller;
// most of those are part of normal operation (a rebalance, a coordinator move, a fenced zombie), and the caller
// (this package) decides what they mean. So:
// - "Response <api>" errors (the per-request error log) become debug: the error surfaces through the call.
// - rebalance chatter ("The group is rebalancing", "not aware of this member", join/sync protocol errors) becomes
//   info or debug;
// - retried failures (connection errors, "Failed to send messages", metadata refreshes) become warn;
// - expected conditions that kafkajs retries on its own ("The coordinator is loading", a crash of the consumer
//   on such an error, after which it restarts and re-joins) become debug: nothing to act on;
// - kafkajs INFO (joined group, pausing, stopping) becomes debug: this package logs the lifecycle it cares about.
// Only crashes and truly unexpected errors stay at error.
import type { Logger } from '@dirigo/core';
import type { LogEntry, logCreator } from 'kafkajs';

// kafkajs's numeric levels (its `logLevel` enum).
const KAFKAJS_NOTHING = 0;
const KAFKAJS_ERROR = 1;
const KAFKAJS_WARN = 2;
const KAFKAJS_INFO = 4;
const KAFKAJS_DEBUG = 5;

type PinoLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Error messages (kafkajs texts) that are expected during rebalances, failover and fencing. */
const EXPECTED_ERROR_FRAGMENTS = [
  'rebalanc', // "The group is rebalancing, so a rejoin is needed"
  'not aware of this member',
  'generation id is not valid',
  'not the correct coordinator',
  'coordinator is not available',
  'coordinator is loading',
  'valid member id before', // MEMBER_ID_REQUIRED on the first JoinGroup (always happens once)
  'newer producer with the same transactionalId', // INVALID_PRODUCER_EPOCH: fencing, surfaces as FencedError
  'producer has been fenced',
  'does not host this topic-partition',
  'leader',
  'not the leader',
  'concurrent transactions',
];

const isExpected = (text: string): boolean => {
  const lower = text.toLowerCase();
  for (const fragment of EXPECTED_ERROR_FRAGMENTS) if (lower.includes(fragment)) return true;
  return false;
};

/** Picks the pino level for one kafkajs log entry. Exported for tests. */
export function levelFor(entry: LogEntry): PinoLevel {
  const message = String(entry.log.message ?? '');
  const error = typeof entry.log.error === 'string' ? entry.log.error : '';
  switch (entry.level) {
    case KAFKAJS_ERROR:
      // The per-request error log: the same error is thrown to the caller, which maps and handles it.
      if (message.startsWith('Response ')) return 'debug';
      if (message.startsWith('The coordinator is not aware of this member')) return 'info';
      if (message.startsWith('Restarting the consumer'))
        return isExpected(message) || isExpected(error) ? 'debug' : 'warn';
      // CONCURRENT_TRANSACTIONS: the previous commit is still completing on the broker; kafkajs retries at once.
      if (message.includes('another concurrent operation on the same transaction')) return 'debug';
      if (message.startsWith('Failed to send messages') || message.startsWith('Connection')) return 'warn';
      if (message.startsWith('Crash:')) return isExpected(message) ? 'debug' : 'error';
      if (isExpected(message) || isExpected(error)) return 'debug';
      return 'error';
    case KAFKAJS_WARN:
      if (message.startsWith('The group is rebalancing')) return 'info';
      if (message.startsWith('Limiting retries for the idempotent producer')) return 'debug';
      return 'warn';
    case KAFKAJS_INFO:
      return 'debug';
    default:
      return 'trace';
  }
}

/**
 * The level of "the kafkajs consumer crashed" when kafkajs restarts it: debug when the error is one it retries
 * as part of normal operation (retriable, or an expected coordinator/rebalance condition), else warn.
 */
export function crashLevel(error: unknown): 'debug' | 'warn' {
  const e = error as { retriable?: unknown; message?: unknown; name?: unknown } | undefined;
  if (e?.retriable === true) return 'debug';
  return isExpected(`${String(e?.name ?? '')} ${String(e?.message ?? error)}`) ? 'debug' : 'warn';
}

/** The kafkajs level matching a pino level, so kafkajs skips building entries nobody will see. */
export function kafkajsLevelFor(logger: Logger): number {
  const pinoLevel = logger.levelVal;
  // pino: trace 10, debug 20, info 30, warn 40, error 50, fatal 60, silent Infinity.
  if (pinoLevel <= 20) return KAFKAJS_DEBUG;
  // kafkajs INFO maps to debug, and demoted ERROR entries may land on warn: keep ERROR and WARN.
  if (pinoLevel <= 50) return KAFKAJS_WARN;
  if (pinoLevel <= 60) return KAFKAJS_ERROR;
  return KAFKAJS_NOTHING;
}

/** A kafkajs `logCreator` writing to `logger` (a child with `component: 'kafkajs'`). */
export function pinoLogCreator(logger: Logger): logCreator {
  const log = logger.child({ component: 'kafkajs' });
  return () => (entry: LogEntry) => {
    const level = levelFor(entry);
    if (!log.isLevelEnabled(level)) return;
    const { message, timestamp: _timestamp, logger: _logger, ...extra } = entry.log;
    log[level]({ ...extra, namespace: entry.namespace }, String(message));
  };
}
