// SYNC, version 1: the lessor asks a lease slot for its partial state before running a critical message.
//
// Sent by the lessor to every slot of the key's lease, each on the lease topic's partition `slot`, as a
// control record (header dirigo-kind: control). Each slot finishes the forwarded messages of this lease it has
// already taken, replies to `replyTo` with a PARTIAL (final: false, same epoch and seq) carrying its partial
// state, resets its partial state to identity, and holds further forwarded messages of the key until the
// matching UNSYNC. A SYNC for an older epoch than the slot's lease, or for a seq the slot has already answered,
// is stale or a duplicate and is ignored.
//
// JSON schema (UTF-8 object):
//
//   field               type     constraints      meaning
//   v                   int      = 1              message version
//   type                string   = 'sync'         message type
//   app                 string   non-empty        the app's name
//   fn                  string   non-empty        the function's name within the app
//   key                 string   any, '' allowed  the actor key leased
//   epoch               int      >= 1             the lease's epoch (from its LEASE_GRANT)
//   seq                 int      >= 0             round number within the epoch, increasing per sync/revoke round
//   slot                int      >= 0             the lease slot asked (a partition of the lease topic)
//   replyTo             object                    where the PARTIAL goes
//   replyTo.topic       string   non-empty        topic of the reply
//   replyTo.partition   int      >= 0             partition of the reply
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import type { ReplyToV1 } from './lease-revoke.v1.ts';
import {
  checkEnvelope,
  checkInt,
  checkLeaseId,
  checkTopicPartition,
  isJsonObject,
  withPrefix,
} from './validate.ts';

/** SYNC v1: the lessor asks slot `slot` of key `key`'s lease (epoch `epoch`) for its partial state, round `seq`. */
export interface SyncV1 {
  readonly v: 1;
  readonly type: 'sync';
  /** The app's name. */
  readonly app: string;
  /** The function's name within the app. */
  readonly fn: string;
  /** The actor key leased ('' is a key). */
  readonly key: string;
  /** The lease's epoch, >= 1. */
  readonly epoch: number;
  /** Round number within the epoch, >= 0; the PARTIAL and the UNSYNC of this round echo it. */
  readonly seq: number;
  /** The lease slot asked, >= 0. */
  readonly slot: number;
  /** Where the PARTIAL goes. */
  readonly replyTo: ReplyToV1;
}

/**
 * Checks that `m` is a valid SYNC v1 message. Returns undefined when it is, otherwise the reason naming the
 * first invalid field ("sync v1: 'epoch' must be an integer >= 1"). Never throws.
 */
export function validateSyncV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'sync v1: not an object';
  return withPrefix(
    'sync',
    1,
    checkEnvelope(m, 'sync', 1) ??
      checkLeaseId(m) ??
      checkInt(m, 'seq', 0) ??
      checkInt(m, 'slot', 0) ??
      checkTopicPartition(m, 'replyTo'),
  );
}

/** True when `m` is a valid SYNC v1 message (see {@link validateSyncV1} for the reason). */
export function isSyncV1(m: unknown): m is SyncV1 {
  return validateSyncV1(m) === undefined;
}
