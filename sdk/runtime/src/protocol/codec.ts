// The control-message codec: encodes any control message and decodes any record value into one, dispatching
// on the envelope `{ "v": <int>, "type": "<type>", ... }` (UTF-8 JSON) to the validator of that type and
// version. Control messages travel on the control topic (LOAD) and on lease topics (LEASE_GRANT,
// LEASE_REVOKE, SYNC, PARTIAL, UNSYNC; header dirigo-kind: control) and on function topics (PARTIAL replies,
// WATERMARK). Forwarded messages are not control
// messages: their protocol data is a header (forward.v1.ts).
//
// The decoder never throws: anything it does not understand (a null value, bad JSON, a non-object, an unknown
// type or version, a missing or invalid field) comes back as `{ kind: 'unknown', reason }`, the reason naming
// the field, so the worker can log and count it and go on. One JSON.parse per record, then field checks that
// allocate nothing unless they fail; the decoded message is the parsed object itself (extra fields kept).
//
// Adding a version: write `<type>.v<n>.ts` with its type and validator, add the type to ControlMessage and the
// validator to READERS below. Readers of older versions keep reading what they know.
import { type LeaseGrantV1, validateLeaseGrantV1 } from './lease-grant.v1.ts';
import { type LeaseRevokeV1, validateLeaseRevokeV1 } from './lease-revoke.v1.ts';
import { type LoadV1, validateLoadV1 } from './load.v1.ts';
import { type PartialV1, validatePartialV1 } from './partial.v1.ts';
import { type SyncV1, validateSyncV1 } from './sync.v1.ts';
import { type UnsyncV1, validateUnsyncV1 } from './unsync.v1.ts';
import { clip, type DecodeResult, isIntAtLeast, isJsonObject } from './validate.ts';
import { validateWatermarkV1, type WatermarkV1 } from './watermark.v1.ts';

/** Every control message this worker reads and writes (forwarded messages are not control messages). */
export type ControlMessage =
  | LoadV1
  | LeaseGrantV1
  | LeaseRevokeV1
  | SyncV1
  | PartialV1
  | UnsyncV1
  | WatermarkV1;

/** The `type` of a control message. */
export type ControlType = ControlMessage['type'];

/** What {@link decodeControl} returns: the message, or why it was not understood. */
export type Decoded = DecodeResult<ControlMessage>;

/** The version this worker writes for every control message type (all are at version 1). */
export const CONTROL_VERSION = 1;

type Validator = (m: unknown) => string | undefined;

/** Validators per type, per version. A Map, so a `type` such as 'constructor' finds nothing. */
const READERS: ReadonlyMap<string, ReadonlyMap<number, Validator>> = new Map<
  ControlType,
  Map<number, Validator>
>([
  ['lease-grant', new Map([[1, validateLeaseGrantV1]])],
  ['lease-revoke', new Map([[1, validateLeaseRevokeV1]])],
  ['load', new Map([[1, validateLoadV1]])],
  ['partial', new Map([[1, validatePartialV1]])],
  ['sync', new Map([[1, validateSyncV1]])],
  ['unsync', new Map([[1, validateUnsyncV1]])],
  ['watermark', new Map([[1, validateWatermarkV1]])],
]);

/** The (type, version) pairs this worker reads, e.g. `['lease-grant v1', ..., 'unsync v1']`. */
export const CONTROL_READS: readonly string[] = [...READERS].flatMap(([type, versions]) =>
  [...versions.keys()].map((v) => `${type} v${v}`),
);

const READS = `this worker reads ${CONTROL_READS.join(', ')}`;

/** Encodes a control message as UTF-8 JSON. Does not validate (the validators do; see index.ts). */
export function encodeControl(message: ControlMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

const unknown = (reason: string): Decoded => ({ kind: 'unknown', reason });

/**
 * Decodes a record value into a control message. Never throws: a null value, bad JSON, a non-object, an
 * unknown (type, version) pair ("type 'x' version 2: this worker reads ...") or a missing or invalid field
 * ("sync v1: 'epoch' must be an integer >= 1") comes back as `{ kind: 'unknown', reason }`.
 */
export function decodeControl(value: Buffer | null): Decoded {
  if (value === null) return unknown('null value');
  let m: unknown;
  try {
    m = JSON.parse(value.toString('utf8'));
  } catch {
    return unknown('not JSON');
  }
  if (!isJsonObject(m)) return unknown('not an object');
  const type = m.type;
  if (typeof type !== 'string') return unknown("'type' must be a string");
  const v = m.v;
  if (!isIntAtLeast(v, 1)) return unknown(`type '${clip(type)}': 'v' must be an integer >= 1`);
  const validate = READERS.get(type)?.get(v);
  if (validate === undefined) return unknown(`type '${clip(type)}' version ${v}: ${READS}`);
  const reason = validate(m);
  return reason === undefined ? { kind: 'known', message: m as unknown as ControlMessage } : unknown(reason);
}
