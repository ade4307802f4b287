// LEASE_REVOKE, version 1: the lessor takes a lease slot's share of a hot key back.
//
// Sent by the lessor to the slot, on the lease topic's partition `slot`, as a control record (header
// dirigo-kind: control). The slot finishes the forwarded messages of this lease it has already taken, replies
// to `replyTo` with a final PARTIAL (final: true, same epoch and seq) carrying its partial state, and forgets
// the lease. A revoke for an older epoch than the slot's lease of the key, or with a seq the slot has already
// answered, is stale or a duplicate and is ignored (the lessor matches replies by epoch and seq).
//
// JSON schema (UTF-8 object):
//
//   field               type     constraints       meaning
//   v                   int      = 1               message version
//   type                string   = 'lease-revoke'  message type
//   app                 string   non-empty         the app's name
//   fn                  string   non-empty         the function's name within the app
//   key                 string   any, '' allowed   the actor key leased
//   epoch               int      >= 1              the lease's epoch (from its LEASE_GRANT)
//   seq                 int      >= 0              round number within the epoch (sync and revoke rounds share it)
//   slot                int      >= 0              the lease slot revoked (a partition of the lease topic)
//   replyTo             object                     where the final PARTIAL goes
//   replyTo.topic       string   non-empty         topic of the reply
//   replyTo.partition   int      >= 0              partition of the reply
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import {
  checkEnvelope,
  checkInt,
  checkLeaseId,
  checkTopicPartition,
  isJsonObject,
  withPrefix,
} from './validate.ts';

/** Where a slot sends its reply: a topic partition. */
export interface ReplyToV1 {
  /** Topic of the reply, non-empty. */
  readonly topic: string;
  /** Partition of the reply, >= 0. */
  readonly partition: number;
}

/** LEASE_REVOKE v1: the lessor revokes slot `slot`'s lease of key `key` (epoch `epoch`) in round `seq`. */
export interface LeaseRevokeV1 {
  readonly v: 1;
  readonly type: 'lease-revoke';
  /** The app's name. */
  readonly app: string;
  /** The function's name within the app. */
  readonly fn: string;
  /** The actor key leased ('' is a key). */
  readonly key: string;
  /** The lease's epoch, >= 1. */
  readonly epoch: number;
  /** Round number within the epoch, >= 0; the final PARTIAL echoes it. */
  readonly seq: number;
  /** The lease slot revoked, >= 0. */
  readonly slot: number;
  /** Where the final PARTIAL goes. */
  readonly replyTo: ReplyToV1;
}

/**
 * Checks that `m` is a valid LEASE_REVOKE v1 message. Returns undefined when it is, otherwise the reason naming
 * the first invalid field ("lease-revoke v1: 'replyTo.partition' must be an integer >= 0"). Never throws.
 */
export function validateLeaseRevokeV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'lease-revoke v1: not an object';
  return withPrefix(
    'lease-revoke',
    1,
    checkEnvelope(m, 'lease-revoke', 1) ??
      checkLeaseId(m) ??
      checkInt(m, 'seq', 0) ??
      checkInt(m, 'slot', 0) ??
      checkTopicPartition(m, 'replyTo'),
  );
}

/** True when `m` is a valid LEASE_REVOKE v1 message (see {@link validateLeaseRevokeV1} for the reason). */
export function isLeaseRevokeV1(m: unknown): m is LeaseRevokeV1 {
  return validateLeaseRevokeV1(m) === undefined;
}
