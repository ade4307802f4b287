// LEASE_GRANT, version 1: the lessor of a hot key hands one lease slot a share of the key's work.
//
// Sent by the lessor (the worker that owns the key's input partition and its authoritative state) to the slot,
// on the lease topic's partition `slot`, as a control record (header dirigo-kind: control). From then on the
// slot processes the key's forwarded messages of this epoch against a partial state that starts empty
// (identity). A grant for an epoch lower than one the slot already saw for the key is stale and ignored; the
// same epoch again is a duplicate and ignored.
//
// JSON schema (UTF-8 object):
//
//   field    type     constraints      meaning
//   v        int      = 1              message version
//   type     string   = 'lease-grant'  message type
//   app      string   non-empty        the app's name
//   fn       string   non-empty        the function's name within the app
//   key      string   any, '' allowed  the actor key leased
//   epoch    int      >= 1             lease generation of this key: a new grant of the key has a higher epoch
//   slot     int      >= 0             the lease slot granted (a partition of the lease topic)
//   lessor   string   non-empty        worker id of the lessor
//   at       number   finite, >= 0     when the lessor granted it, ms since the Unix epoch
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import {
  checkEnvelope,
  checkInt,
  checkLeaseId,
  checkNumber,
  checkString,
  isJsonObject,
  withPrefix,
} from './validate.ts';

/** LEASE_GRANT v1: the lessor grants lease slot `slot` a share of key `key`'s work, for epoch `epoch`. */
export interface LeaseGrantV1 {
  readonly v: 1;
  readonly type: 'lease-grant';
  /** The app's name. */
  readonly app: string;
  /** The function's name within the app. */
  readonly fn: string;
  /** The actor key leased ('' is a key). */
  readonly key: string;
  /** Lease generation of this key, >= 1; a new grant of the same key has a higher epoch. */
  readonly epoch: number;
  /** The lease slot granted: a partition of the lease topic, >= 0. */
  readonly slot: number;
  /** Worker id of the lessor. */
  readonly lessor: string;
  /** Grant time, ms since the Unix epoch. */
  readonly at: number;
}

/**
 * Checks that `m` is a valid LEASE_GRANT v1 message. Returns undefined when it is, otherwise the reason naming
 * the first invalid field ("lease-grant v1: 'epoch' must be an integer >= 1"). Never throws.
 */
export function validateLeaseGrantV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'lease-grant v1: not an object';
  return withPrefix(
    'lease-grant',
    1,
    checkEnvelope(m, 'lease-grant', 1) ??
      checkLeaseId(m) ??
      checkInt(m, 'slot', 0) ??
      checkString(m, 'lessor', true) ??
      checkNumber(m, 'at', 0, Number.POSITIVE_INFINITY),
  );
}

/** True when `m` is a valid LEASE_GRANT v1 message (see {@link validateLeaseGrantV1} for the reason). */
export function isLeaseGrantV1(m: unknown): m is LeaseGrantV1 {
  return validateLeaseGrantV1(m) === undefined;
}
