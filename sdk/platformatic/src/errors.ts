// Maps @platformatic/kafka errors onto the Dirigo error hierarchy. The client wraps broker errors in
// MultipleErrors (one per retry, `errors`) and ResponseErrors (one ProtocolError per failing path), sometimes with
// a `cause`, so the whole tree is searched. Broker errors carry `apiId` (e.g. 'PRODUCER_FENCED') and `canRetry`.
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

interface PlatformaticLikeError {
  readonly message?: string;
  readonly code?: string;
  readonly apiId?: string;
  /** The broker's numeric error code (broker errors only). */
  readonly apiCode?: number;
  readonly canRetry?: boolean;
  readonly cause?: unknown;
  readonly errors?: readonly unknown[];
  /** A ProtocolError of a ResponseError: where in the answer its error code was, e.g. `/topics/1/partitions/0`. */
  readonly path?: string;
  /** A ResponseError: the decoded answer its errors were in. */
  readonly response?: unknown;
}

/** The error and every `cause` / aggregated error below it, outermost first. */
export function errorTree(error: unknown): PlatformaticLikeError[] {
  const all: PlatformaticLikeError[] = [];
  const pending: unknown[] = [error];
  while (pending.length > 0 && all.length < 64) {
    const e = pending.shift();
    if (e === null || typeof e !== 'object') continue;
    const p = e as PlatformaticLikeError;
    if (all.includes(p)) continue;
    all.push(p);
    if (p.cause !== undefined) pending.push(p.cause);
    if (Array.isArray(p.errors)) pending.push(...p.errors);
  }
  return all;
}

const hasApiId = (error: unknown, ids: ReadonlySet<string>): boolean =>
  errorTree(error).some((e) => e.apiId !== undefined && ids.has(e.apiId));

/** Whether a broker error with this id (e.g. 'TOPIC_ALREADY_EXISTS') is anywhere in the error's tree. */
export const hasErrorId = (error: unknown, apiId: string): boolean =>
  errorTree(error).some((e) => e.apiId === apiId);

// INVALID_PRODUCER_EPOCH answers produce requests of a fenced producer, PRODUCER_FENCED the transaction
// coordinator's requests (EndTxn, AddPartitionsToTxn, InitProducerId of an older epoch). The client itself only
// recognises the first one as fencing.
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);
const UNKNOWN_TOPIC = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID']);
/** The producer's sequence or transaction state is out of step with the broker's: a new producer is needed. */
const PRODUCER_STATE = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID']);
const REJOIN = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
  'MEMBER_ID_REQUIRED',
]);
/** REJOIN, and KIP-848's answers to a member epoch that moved on or a member that is gone. */
const PAST_GENERATION = new Set([...REJOIN, 'STALE_MEMBER_EPOCH', 'FENCED_MEMBER_EPOCH']);
const NO_LEADER = new Set(['LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER', 'FENCED_LEADER_EPOCH']);
/** The client's own text for a topic missing from metadata (it names the topic). */
const UNKNOWN_TOPIC_TEXT = /^Unknown topic (.+)\.$/;

export const isFencedError = (error: unknown): boolean => hasApiId(error, FENCED);

export const isProducerStateError = (error: unknown): boolean => hasApiId(error, PRODUCER_STATE);

export const isRebalanceError = (error: unknown): boolean => hasApiId(error, REJOIN);

/** A member's offsets refused because its generation (KIP-848: member epoch) moved on, or it is no member. */
export const isPastGenerationError = (error: unknown): boolean => hasApiId(error, PAST_GENERATION);

export const isLeaderNotAvailable = (error: unknown): boolean => hasApiId(error, NO_LEADER);

/**
 * The brokers do not serve KIP-848's ConsumerGroupHeartbeat: Kafka before 3.7 does not list it (the client refuses
 * to send it: PLT_KFK_UNSUPPORTED_API); 3.7-3.9 list it but answer UNSUPPORTED_VERSION unless the protocol is
 * enabled on the broker.
 */
export const consumerProtocolUnserved = (error: unknown): boolean =>
  hasErrorId(error, 'UNSUPPORTED_VERSION') ||
  errorTree(error).some(
    (e) => e.code === 'PLT_KFK_UNSUPPORTED_API' && /ConsumerGroupHeartbeat/.test(String(e.message)),
  );

/** The topic named by the client's "Unknown topic" error, if the error is one. */
export function unknownTopicOf(error: unknown): string | undefined {
  for (const e of errorTree(error)) {
    const m = e.message === undefined ? null : UNKNOWN_TOPIC_TEXT.exec(e.message);
    if (m !== null) return m[1];
  }
  return undefined;
}

export const isUnknownTopicError = (error: unknown): boolean =>
  error instanceof UnknownTopicError || hasApiId(error, UNKNOWN_TOPIC) || unknownTopicOf(error) !== undefined;

/**
 * Whether repeating the call may succeed: a network failure (also a request timeout, which the client marks as
 * final) may, otherwise every broker error in the tree must allow a retry.
 */
function retriableOf(error: unknown): boolean {
  const tree = errorTree(error);
  if (tree.some((e) => e.code === 'PLT_KFK_NETWORK')) return true;
  let verdict: boolean | undefined;
  for (const e of tree) {
    if (typeof e.canRetry !== 'boolean') continue;
    if (!e.canRetry) return false;
    verdict = true;
  }
  return verdict ?? false;
}

function messageOf(error: unknown): string {
  const tree = errorTree(error);
  // The innermost broker message says most ("The producer has been fenced..."); keep the outer one too.
  const outer = tree[0]?.message ?? String(error);
  const inner = tree.findLast((e) => e.apiId !== undefined)?.message;
  return inner === undefined || inner === outer ? outer : `${outer} (${inner})`;
}

/** The kind of resource an ACL refused (TOPIC_, GROUP_, TRANSACTIONAL_ID_, CLUSTER_AUTHORIZATION_FAILED), if the error is such a refusal. */
export function refusedResource(error: unknown): AclResourceKind | undefined {
  for (const e of errorTree(error)) {
    const kind = aclResourceOfCode(e.apiCode);
    if (kind !== undefined) return kind;
  }
  return undefined;
}

/**
 * The topic a broker error of a ResponseError is about, read from the answer (`response`) at the error's `path`:
 * the entry of the first array on the path whose name mentions topics (AddPartitionsToTxn's
 * `/results_by_transaction/0/topic_results/1/...` is the answer's second topic), or undefined.
 */
export function topicOfPath(path: unknown, response: unknown): string | undefined {
  if (typeof path !== 'string' || response === null || typeof response !== 'object') return undefined;
  let node: unknown = response;
  let inTopics = false;
  for (const segment of path.split('/')) {
    if (segment === '') continue;
    const index = /^\d+$/.test(segment) ? Number(segment) : undefined;
    const key = index ?? segment.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    node = (node as Record<string | number, unknown>)[key];
    if (node === null || typeof node !== 'object') return undefined;
    if (index !== undefined && inTopics) {
      const named = node as { name?: unknown; topic?: unknown };
      const name = named.name ?? named.topic;
      if (typeof name === 'string') return name;
    }
    inTopics = index === undefined && /topic/i.test(segment);
  }
  return undefined;
}

/** The topic a topic-authorization error in the tree is about, when its answer says (see `topicOfPath`). */
function refusedTopic(error: unknown): string | undefined {
  for (const e of errorTree(error)) {
    if (e.response === undefined || !Array.isArray(e.errors)) continue;
    for (const inner of e.errors as PlatformaticLikeError[]) {
      if (aclResourceOfCode(inner?.apiCode) !== 'topic') continue;
      const topic = topicOfPath(inner.path, e.response);
      if (topic !== undefined) return topic;
    }
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

/** Converts anything the client throws into a `DirigoError`. Dirigo errors pass through unchanged. */
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
      { cause: error },
    );
  }
  if (isProducerStateError(error)) {
    return new ProducerStateError(
      `${context.operation}: ${messageOf(error)}; the producer is to be replaced`,
      {
        cause: error,
        retriable: true,
      },
    );
  }
  if (isUnknownTopicError(error)) {
    return new UnknownTopicError(unknownTopicOf(error) ?? context.topic ?? '?', { cause: error });
  }
  return new TransportError(`${context.operation}: ${messageOf(error)}`, {
    cause: error,
    retriable: retriableOf(error),
  });
}
