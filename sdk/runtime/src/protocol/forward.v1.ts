// FORWARD, version 1: an ordinary message of a leased key, forwarded by the lessor to a lease slot.
//
// The forwarded record is the original record, its key, value and headers kept byte for byte, produced to the
// lease topic's partition `slot` with the header `dirigo-lease` (H_LEASE) added, whose value is the JSON
// object below. (Whether the runtime also marks it `dirigo-kind: forward`, see headers.ts, is the runtime's
// choice: the `dirigo-lease` header alone identifies a forwarded record.) The slot processes it against its partial state of the key's lease `epoch`; a record whose
// epoch is older than the slot's lease of the key is stale and is not processed there. `origin` says where
// the record was read, so the lessor's progress and the slot's work can be matched up.
//
// JSON schema of the `dirigo-lease` header value (UTF-8 object):
//
//   field              type     constraints   meaning
//   v                  int      = 1           header version
//   app                string   non-empty     the app's name
//   fn                 string   non-empty     the function's name within the app
//   epoch              int      >= 1          the lease's epoch (from its LEASE_GRANT)
//   slot               int      >= 0          the lease slot it is forwarded to (a partition of the lease topic)
//   origin             object                where the lessor read the original record
//   origin.topic       string   non-empty     its topic
//   origin.partition   int      >= 0          its partition
//   origin.offset      int      >= 0          its offset
//   at                 int      >= 0          optional: when the lessor forwarded it (its wall clock, ms since
//                                             the epoch), so the slot can tell how long the hop took; only a
//                                             measure, so an invalid one is dropped by the decoder, not refused
//
// There is no `type` (the header name says what it is). Fields not listed are ignored (and kept by the
// decoder), so a v1 writer may add optional ones.
import {
  checkInt,
  checkString,
  type DecodeResult,
  isIntAtLeast,
  isJsonObject,
  type JsonObject,
  withPrefix,
} from './validate.ts';

/** Where the lessor read a forwarded record. */
export interface ForwardOriginV1 {
  /** Its topic, non-empty. */
  readonly topic: string;
  /** Its partition, >= 0. */
  readonly partition: number;
  /** Its offset, >= 0. */
  readonly offset: number;
}

/** The value of the `dirigo-lease` header of a forwarded record, version 1. */
export interface LeaseHeaderV1 {
  readonly v: 1;
  /** The app's name. */
  readonly app: string;
  /** The function's name within the app. */
  readonly fn: string;
  /** The lease's epoch, >= 1. */
  readonly epoch: number;
  /** The lease slot the record is forwarded to, >= 0. */
  readonly slot: number;
  /** Where the lessor read the original record. */
  readonly origin: ForwardOriginV1;
  /** Optional: when the lessor forwarded it (its wall clock, ms since the epoch; added 2026-12-04). */
  readonly at?: number;
}

function checkOrigin(m: JsonObject): string | undefined {
  const o = m.origin;
  if (!isJsonObject(o)) return "'origin' must be an object { topic, partition, offset }";
  return (
    checkString(o, 'topic', true, 'origin.topic') ??
    checkInt(o, 'partition', 0, 'origin.partition') ??
    checkInt(o, 'offset', 0, 'origin.offset')
  );
}

/**
 * Checks that `m` is a valid `dirigo-lease` header value, version 1. Returns undefined when it is, otherwise
 * the reason naming the first invalid field ("lease header v1: 'origin.offset' must be an integer >= 0").
 * Never throws.
 */
export function validateLeaseHeaderV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'lease header v1: not an object';
  return withPrefix(
    'lease header',
    1,
    (m.v === 1 ? undefined : "'v' must be 1") ??
      checkString(m, 'app', true) ??
      checkString(m, 'fn', true) ??
      checkInt(m, 'epoch', 1) ??
      checkInt(m, 'slot', 0) ??
      checkOrigin(m),
  );
}

/** True when `m` is a valid `dirigo-lease` header value, version 1. */
export function isLeaseHeaderV1(m: unknown): m is LeaseHeaderV1 {
  return validateLeaseHeaderV1(m) === undefined;
}

/** The `dirigo-lease` header versions this worker reads, for reasons. */
const LEASE_HEADER_VERSIONS = 'this worker reads lease header v1';

/** Encodes the value of the `dirigo-lease` header (UTF-8 JSON). Does not validate. */
export function encodeLeaseHeader(header: LeaseHeaderV1): Buffer {
  return Buffer.from(JSON.stringify(header));
}

/**
 * Decodes the value of a `dirigo-lease` header. Never throws: an absent header, bad JSON, a non-object, another
 * version or an invalid field comes back as `{ kind: 'unknown', reason }`, the reason naming the field.
 */
export function decodeLeaseHeader(value: Buffer | null | undefined): DecodeResult<LeaseHeaderV1> {
  if (value === undefined || value === null) return { kind: 'unknown', reason: 'no dirigo-lease header' };
  let m: unknown;
  try {
    m = JSON.parse(value.toString('utf8'));
  } catch {
    return { kind: 'unknown', reason: 'lease header: not JSON' };
  }
  if (!isJsonObject(m)) return { kind: 'unknown', reason: 'lease header: not an object' };
  if (!isIntAtLeast(m.v, 1)) return { kind: 'unknown', reason: "lease header: 'v' must be an integer >= 1" };
  if (m.v !== 1) {
    return { kind: 'unknown', reason: `lease header version ${m.v}: ${LEASE_HEADER_VERSIONS}` };
  }
  const reason = validateLeaseHeaderV1(m);
  if (reason !== undefined) return { kind: 'unknown', reason };
  if (m.at !== undefined && !isIntAtLeast(m.at, 0)) {
    const { at: _invalid, ...rest } = m;
    return { kind: 'known', message: rest as unknown as LeaseHeaderV1 };
  }
  return { kind: 'known', message: m as unknown as LeaseHeaderV1 };
}
