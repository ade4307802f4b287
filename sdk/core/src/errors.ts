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

/** A record could not be decoded by the declared serde. */
export class SerdeError extends DirigoError {}

export const isRetriable = (e: unknown): boolean => e instanceof DirigoError && e.retriable;
export const isFenced = (e: unknown): e is FencedError => e instanceof FencedError;
