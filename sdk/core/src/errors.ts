// The error hierarchy. An error's class says what the caller should do next (retry, restore, stop); use the
// `is*` guards or `instanceof`, never string comparison of names.

/** Base of every error Dirigo throws. `retriable` says whether repeating the same call may succeed. */
export class DirigoError extends Error {
  readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options?.retriable ?? false;
  }
}

/** A user option or definition is wrong. `field` names it; the message says how to fix it. */
export class ConfigError extends DirigoError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/**
 * A newer producer with the same transactional id exists: this process is a zombie for the partitions it was
 * writing. Recovery: drop local state of those partitions and rejoin; never retry the same transaction.
 */
export class FencedError extends DirigoError {}

/** The topic does not exist (or is not yet known to the cluster). */
export class UnknownTopicError extends DirigoError {
  readonly topic: string;
  constructor(topic: string, options?: { cause?: unknown }) {
    super(`unknown topic '${topic}': create it first (the worker creates the topics of the apps it runs)`, {
      ...options,
      retriable: true,
    });
    this.topic = topic;
  }
}

/**
 * The partitions being processed were taken away by a rebalance (generation changed, commit rejected). Recovery:
 * abandon the in-flight batch; the new owner re-processes from the last commit.
 */
export class PartitionsRevokedError extends DirigoError {}

/** A transport-level failure (connection, timeout, broker error). `retriable` comes from the client. */
export class TransportError extends DirigoError {}

/**
 * A producer's sequence state no longer matches the broker's (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID),
 * typically after a partition leader failed over in the middle of a send. Nothing of the transaction commits. Recovery: abort, and make the next transaction with a new
 * producer (its registration starts a new epoch with fresh sequence numbers). Always retriable.
 */
export class ProducerStateError extends TransportError {}

/**
 * TLS or SASL failed: the broker's certificate is not trusted, the broker rejected the client's certificate or
 * credentials, or the client and the listener disagree on the protocol. Never retriable: the settings must
 * change. The message names the cause and the settings to look at; it never contains a secret.
 */
export class SecurityError extends TransportError {}

/** The kinds of Kafka resource an ACL guards, as an `AuthorizationError` names them. */
export type AclResourceKind = 'topic' | 'group' | 'transactionalId' | 'cluster';

/** Each kind of refusal: the broker's error code and name, and how a message says the resource. */
const ACL_REFUSALS: Readonly<Record<AclResourceKind, { code: number; error: string; words: string }>> = {
  topic: { code: 29, error: 'TOPIC_AUTHORIZATION_FAILED', words: 'topic' },
  group: { code: 30, error: 'GROUP_AUTHORIZATION_FAILED', words: 'consumer group' },
  cluster: { code: 31, error: 'CLUSTER_AUTHORIZATION_FAILED', words: 'cluster' },
  transactionalId: { code: 53, error: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', words: 'transactional id' },
};

/**
 * The broker refused an operation to the client's principal: an ACL is missing (or denies it). Never retriable:
 * the ACLs must change. `resource` says what kind of resource was refused and `resourceName` which one, when the
 * caller knew it (the topic of a send, the transactional id of a producer, the group of a consumer). The message
 * names both and the fix; docs/operations.md ("ACLs") lists what a worker needs.
 */
export class AuthorizationError extends TransportError {
  readonly resource: AclResourceKind;
  readonly resourceName: string | undefined;
  constructor(
    operation: string,
    resource: AclResourceKind,
    resourceName: string | undefined,
    options?: { cause?: unknown },
  ) {
    const refusal = ACL_REFUSALS[resource];
    const what =
      resource === 'cluster' || resourceName === undefined
        ? `the ${refusal.words}`
        : `${refusal.words} '${resourceName}'`;
    super(
      `${operation}: not authorized: the broker refused ${what} to this client's principal (${refusal.error}); ` +
        'grant the principal the ACLs a worker needs (docs/operations.md, "ACLs")',
      { ...(options?.cause === undefined ? {} : { cause: options.cause }), retriable: false },
    );
    this.resource = resource;
    this.resourceName = resourceName;
  }
}

/**
 * The `AuthorizationError` of a refusal of `resource` in a call about these resources: the one of the kind refused
 * is named (a cluster never is), a topic by `refusedTopic` when the broker's answer said which. For transports'
 * error mapping.
 */
export function authorizationError(
  operation: string,
  resource: AclResourceKind,
  about: { readonly topic?: string; readonly group?: string; readonly transactionalId?: string },
  cause: unknown,
  refusedTopic?: string,
): AuthorizationError {
  // A refused topic the broker's answer names (one of several in a transaction) beats the call's first topic.
  const name =
    resource === 'cluster'
      ? undefined
      : resource === 'topic'
        ? (refusedTopic ?? about.topic)
        : about[resource];
  return new AuthorizationError(operation, resource, name, { cause });
}

/** The kind of resource a broker's authorization error code refuses, if the code is one (29, 30, 31, 53). */
export function aclResourceOfCode(code: unknown): AclResourceKind | undefined {
  for (const [kind, refusal] of Object.entries(ACL_REFUSALS)) {
    if (refusal.code === code) return kind as AclResourceKind;
  }
  return undefined;
}

/**
 * Runs `describe` over `names`; when the broker refuses a topic (`AuthorizationError` on a topic) and several
 * were asked for, asks for each alone, so that the error thrown names the refused one (the answer to the batch
 * does not say which). For transports' admin calls over several topics.
 */
export async function namingRefusedTopic<T>(
  names: readonly string[],
  describe: (names: readonly string[]) => Promise<T>,
): Promise<T> {
  try {
    return await describe(names);
  } catch (e) {
    if (!(e instanceof AuthorizationError) || e.resource !== 'topic' || names.length < 2) throw e;
    for (const name of names) await describe([name]);
    throw e;
  }
}

/** A record could not be decoded by the declared serde. */
export class SerdeError extends DirigoError {}

export const isRetriable = (e: unknown): boolean => e instanceof DirigoError && e.retriable;
export const isFenced = (e: unknown): e is FencedError => e instanceof FencedError;
