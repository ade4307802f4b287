// UNSYNC, version 1: the lessor lets a lease slot go on after a sync round.
//
// Sent by the lessor to every slot of the key's lease, each on the lease topic's partition `slot`, as a
// control record (header dirigo-kind: control), once the partial states of round `seq` are merged and the
// critical message(s) have run. The slot resumes the key's forwarded messages it held, against a partial state
// that starts again from identity. An UNSYNC whose epoch or seq does not match the slot's pending sync round is
// stale or a duplicate and is ignored.
//
// JSON schema (UTF-8 object):
//
//   field    type     constraints      meaning
//   v        int      = 1              message version
//   type     string   = 'unsync'       message type
//   app      string   non-empty        the app's name
//   fn       string   non-empty        the function's name within the app
//   key      string   any, '' allowed  the actor key leased
//   epoch    int      >= 1             the lease's epoch (from its LEASE_GRANT)
//   seq      int      >= 0             the sync round this ends (the SYNC's seq)
//   slot     int      >= 0             the lease slot released (a partition of the lease topic)
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import { checkEnvelope, checkInt, checkLeaseId, isJsonObject, withPrefix } from './validate.ts';

/** UNSYNC v1: the lessor ends sync round `seq` of key `key`'s lease (epoch `epoch`) at slot `slot`. */
export interface UnsyncV1 {
  readonly v: 1;
  readonly type: 'unsync';
  /** The app's name. */
  readonly app: string;
  /** The function's name within the app. */
  readonly fn: string;
  /** The actor key leased ('' is a key). */
  readonly key: string;
  /** The lease's epoch, >= 1. */
  readonly epoch: number;
  /** The sync round this ends (the SYNC's seq), >= 0. */
  readonly seq: number;
  /** The lease slot released, >= 0. */
  readonly slot: number;
}

/**
 * Checks that `m` is a valid UNSYNC v1 message. Returns undefined when it is, otherwise the reason naming the
 * first invalid field ("unsync v1: 'seq' must be an integer >= 0"). Never throws.
 */
export function validateUnsyncV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'unsync v1: not an object';
  return withPrefix(
    'unsync',
    1,
    checkEnvelope(m, 'unsync', 1) ?? checkLeaseId(m) ?? checkInt(m, 'seq', 0) ?? checkInt(m, 'slot', 0),
  );
}

/** True when `m` is a valid UNSYNC v1 message (see {@link validateUnsyncV1} for the reason). */
export function isUnsyncV1(m: unknown): m is UnsyncV1 {
  return validateUnsyncV1(m) === undefined;
}
