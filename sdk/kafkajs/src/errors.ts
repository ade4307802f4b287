// Maps kafkajs errors onto the Dirigo error hierarchy. kafkajs wraps the broker's error in retrier errors
// (KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError with `cause`), so the whole cause chain is searched.
import {
  type AclResourceKind,
  aclResourceOfCode,
  authorizationError,
  DirigoError,
  FencedError,
  PartitionsRevokedError,
  ProducerStateError,
  TransportError,
  UnknownTopicError,
} from '@dirigo/core';

interface KafkaJSLikeError {
  readonly name?: string;
  readonly message?: string;
  readonly type?: string;
  readonly code?: number | string;
  readonly retriable?: boolean;
  readonly cause?: unknown;
  readonly errors?: readonly unknown[];
  /** KafkaJSDeleteTopicRecordsError: each partition's error. */
  readonly partitions?: readonly { readonly error?: unknown }[];
  /** The topic a per-partition error is about, where kafkajs-patches.ts put it (AddPartitionsToTxn). */
  readonly topic?: unknown;
}

// Broker error codes (kafkajs 2.2.4 predates PRODUCER_FENCED, which it reports as an unknown code).
const INVALID_PRODUCER_EPOCH = 47;
const PRODUCER_FENCED = 90;
const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);
const UNKNOWN_TOPIC_TYPES = new Set(['UNKNOWN_TOPIC_OR_PARTITION']);
/** The producer's sequence or transaction state is out of step with the broker's: a new producer is needed. */
const PRODUCER_STATE_TYPES = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID']);
const REVOKED_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

/** The error and every `cause` / aggregated error (and per-partition error) below it, outermost first. */
export function causeChain(error: unknown): KafkaJSLikeError[] {
  const chain: KafkaJSLikeError[] = [];
  const pending: unknown[] = [error];
  while (pending.length > 0 && chain.length < 32) {
    const e = pending.shift();
    if (e === null || typeof e !== 'object') continue;
    const k = e as KafkaJSLikeError;
    if (chain.includes(k)) continue;
    chain.push(k);
    if (k.cause !== undefined) pending.push(k.cause);
    if (Array.isArray(k.errors)) pending.push(...k.errors);
    if (Array.isArray(k.partitions)) {
      for (const p of k.partitions) if (p?.error != null) pending.push(p.error);
    }
  }
  return chain;
}

export function isFencedError(error: unknown): boolean {
  return causeChain(error).some(
    (e) =>
      (e.type !== undefined && FENCED_TYPES.has(e.type)) ||
      e.code === INVALID_PRODUCER_EPOCH ||
      e.code === PRODUCER_FENCED ||
      // kafkajs reports codes it does not know as "Unknown error code <n>" (code -99).
      (e.type === 'KAFKAJS_UNKNOWN_ERROR_CODE' && e.message === `Unknown error code ${PRODUCER_FENCED}`),
  );
}

export function isProducerStateError(error: unknown): boolean {
  return causeChain(error).some((e) => e.type !== undefined && PRODUCER_STATE_TYPES.has(e.type));
}

export function isUnknownTopicError(error: unknown): boolean {
  return causeChain(error).some((e) => e.type !== undefined && UNKNOWN_TOPIC_TYPES.has(e.type));
}

/** A partition without a leader right now (a topic being created, a broker failing over). */
export function isLeaderNotAvailable(error: unknown): boolean {
  return causeChain(error).some(
    (e) => e.type === 'LEADER_NOT_AVAILABLE' || e.type === 'NOT_LEADER_OR_FOLLOWER',
  );
}

const COORDINATOR_TYPES = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE']);
const CONNECTION_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
]);

/** The group coordinator moved or is gone (kafkajs only finds the new one by re-joining the group). */
export function isCoordinatorError(error: unknown): boolean {
  return causeChain(error).some((e) => e.type !== undefined && COORDINATOR_TYPES.has(e.type));
}

/** kafkajs's "Failed to find group coordinator": it drops the broker's answer, which says why (see `coordinatorRefusal`). */
export function isCoordinatorNotFound(error: unknown): boolean {
  return causeChain(error).some((e) => e.name === 'KafkaJSGroupCoordinatorNotFound');
}

/** The broker could not be reached (or did not answer in time). */
export function isConnectionError(error: unknown): boolean {
  return causeChain(error).some((e) => e.name !== undefined && CONNECTION_NAMES.has(e.name));
}

/**
 * The transaction coordinator is still completing this producer's previous transaction (writing its commit or abort
 * markers): the Java client retries the request; kafkajs does so for AddPartitionsToTxn (inside its send retries)
 * but not for AddOffsetsToTxn.
 */
export function isConcurrentTransactions(error: unknown): boolean {
  return causeChain(error).some((e) => e.type === 'CONCURRENT_TRANSACTIONS');
}

export function isRebalanceError(error: unknown): boolean {
  return causeChain(error).some((e) => e.type !== undefined && REVOKED_TYPES.has(e.type));
}

/** Whether repeating the call may succeed: the innermost kafkajs verdict wins (retrier wrappers say "no"). */
function retriableOf(error: unknown): boolean {
  const chain = causeChain(error);
  for (let i = chain.length - 1; i >= 0; i--) {
    const e = chain[i]!;
    if (typeof e.retriable === 'boolean') return e.retriable;
  }
  return false;
}

export function messageOfError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The kind of resource an ACL refused (TOPIC_, GROUP_, TRANSACTIONAL_ID_, CLUSTER_AUTHORIZATION_FAILED), if the error is such a refusal. */
export function refusedResource(error: unknown): AclResourceKind | undefined {
  for (const e of causeChain(error)) {
    const kind = aclResourceOfCode(e.code);
    if (kind !== undefined) return kind;
  }
  return undefined;
}

/** The topic a topic-authorization error in the chain names, if one does. */
function refusedTopic(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    if (aclResourceOfCode(e.code) === 'topic' && typeof e.topic === 'string') return e.topic;
  }
  return undefined;
}

export interface MapContext {
  /** What was being done, for the message, e.g. "produce" or "commit offsets". */
  readonly operation: string;
  /** The topic concerned, when one is (names the topic in `UnknownTopicError`). */
  readonly topic?: string;
  /** Map rebalance errors (ILLEGAL_GENERATION, ...) to `PartitionsRevokedError` (consumer offset commits). */
  readonly revocation?: boolean;
  /** The consumer group concerned, when one is (names the group in `AuthorizationError`). */
  readonly group?: string;
  /** The producer's transactional id, when it has one (names it in `AuthorizationError`). */
  readonly transactionalId?: string;
}

/** Converts anything kafkajs throws into a `DirigoError`. Dirigo errors pass through unchanged. */
export function mapError(error: unknown, context: MapContext): DirigoError {
  if (error instanceof DirigoError) return error;
  if (isFencedError(error)) {
    return new FencedError(
      `${context.operation}: this producer was fenced by a newer producer with the same transactional id`,
      { cause: error },
    );
  }
  const refused = refusedResource(error);
  if (refused !== undefined) {
    return authorizationError(context.operation, refused, context, error, refusedTopic(error));
  }
  if (context.revocation === true && isRebalanceError(error)) {
    return new PartitionsRevokedError(
      `${context.operation}: the group rebalanced; the partitions were revoked`,
      {
        cause: error,
      },
    );
  }
  if (isProducerStateError(error)) {
    return new ProducerStateError(
      `${context.operation}: ${messageOfError(error)}; the producer is to be replaced`,
      {
        cause: error,
        retriable: true,
      },
    );
  }
  if (isUnknownTopicError(error)) {
    return new UnknownTopicError(context.topic ?? '?', { cause: error });
  }
  return new TransportError(`${context.operation}: ${messageOfError(error)}`, {
    cause: error,
    retriable: retriableOf(error),
  });
}
