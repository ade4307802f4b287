// Shared field checks for the protocol's validators, and the result type every decoder returns.
//
// Each check looks at one field of a JSON-parsed object and returns `undefined` when it is fine, or the
// reason when it is not ("'epoch' must be an integer >= 1"), naming the field by its path. Checks chain with
// `??`, so a valid message allocates nothing here: only a failure builds a string. Nothing in this file
// throws on a value JSON.parse can produce.

/** What a decoder returns: the message when it understood it, otherwise why not. Decoders never throw. */
export type DecodeResult<T> =
  | { readonly kind: 'known'; readonly message: T }
  | { readonly kind: 'unknown'; readonly reason: string };

/** A JSON object as JSON.parse returns it (not null, not an array). */
export type JsonObject = Readonly<Record<string, unknown>>;

/** True for a plain JSON object: not null, not an array. */
export function isJsonObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** True for a safe integer >= `min`. */
export function isIntAtLeast(x: unknown, min: number): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min;
}

/** A string from the input, cut to 40 characters for a reason (reasons are logged and counted). */
export function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/** The field path in reasons: `'a'`, `'a.b'`, `'a[2].b'`. */
export const quote = (path: string): string => `'${path}'`;

/** Checks `m.v === v` and `m.type === type`, the envelope a validator is called for. */
export function checkEnvelope(m: JsonObject, type: string, v: number): string | undefined {
  if (m.v !== v) return `${quote('v')} must be ${v}`;
  if (m.type !== type) return `${quote('type')} must be '${type}'`;
  return undefined;
}

/** A string field; with `nonEmpty`, also not ''. */
export function checkString(
  m: JsonObject,
  field: string,
  nonEmpty: boolean,
  path = field,
): string | undefined {
  const x = m[field];
  if (typeof x !== 'string') return `${quote(path)} must be a ${nonEmpty ? 'non-empty ' : ''}string`;
  if (nonEmpty && x.length === 0) return `${quote(path)} must be a non-empty string`;
  return undefined;
}

/** An integer field >= `min` (a safe integer: JSON numbers beyond 2^53 lose precision). */
export function checkInt(m: JsonObject, field: string, min: number, path = field): string | undefined {
  return isIntAtLeast(m[field], min) ? undefined : `${quote(path)} must be an integer >= ${min}`;
}

/** A finite number field in [min, max]. */
export function checkNumber(
  m: JsonObject,
  field: string,
  min: number,
  max: number,
  path = field,
): string | undefined {
  const x = m[field];
  if (typeof x === 'number' && Number.isFinite(x) && x >= min && x <= max) return undefined;
  return max === Number.POSITIVE_INFINITY
    ? `${quote(path)} must be a number >= ${min}`
    : `${quote(path)} must be a number in [${min}, ${max}]`;
}

/** A boolean field. */
export function checkBoolean(m: JsonObject, field: string, path = field): string | undefined {
  return typeof m[field] === 'boolean' ? undefined : `${quote(path)} must be a boolean`;
}

/** A `{ topic: non-empty string, partition: int >= 0 }` field. */
export function checkTopicPartition(m: JsonObject, field: string): string | undefined {
  const tp = m[field];
  if (!isJsonObject(tp)) return `${quote(field)} must be an object { topic, partition }`;
  return (
    checkString(tp, 'topic', true, `${field}.topic`) ?? checkInt(tp, 'partition', 0, `${field}.partition`)
  );
}

/** The fields naming a lease, in every lease message: app, fn (non-empty), key (any string), epoch >= 1. */
export function checkLeaseId(m: JsonObject): string | undefined {
  return (
    checkString(m, 'app', true) ??
    checkString(m, 'fn', true) ??
    checkString(m, 'key', false) ??
    checkInt(m, 'epoch', 1)
  );
}

/** Prefixes a failed check with the message's type and version: "sync v1: 'epoch' must be ...". */
export function withPrefix(type: string, v: number, reason: string | undefined): string | undefined {
  return reason === undefined ? undefined : `${type} v${v}: ${reason}`;
}
