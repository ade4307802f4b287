// PARTIAL, version 1: a lease slot's partial state of a hot key, its reply to a SYNC or a LEASE_REVOKE.
//
// Sent by the slot to the SYNC's or LEASE_REVOKE's `replyTo` partition as a control record (header
// dirigo-kind: control). It carries, per state of the function, what the slot's forwarded messages of this
// lease folded into the key's partial state since the last reply, as the state value's serialized bytes
// (the state's serde) in base64; the lessor merges every slot's PARTIAL of the round into the authoritative
// state. `final` is true for the reply to a LEASE_REVOKE (the slot has forgotten the lease). The lessor
// ignores a PARTIAL whose epoch and seq are not those of a round it is waiting for (stale or duplicate).
//
// JSON schema (UTF-8 object):
//
//   field           type            constraints                 meaning
//   v               int             = 1                         message version
//   type            string          = 'partial'                 message type
//   app             string          non-empty                   the app's name
//   fn              string          non-empty                   the function's name within the app
//   key             string          any, '' allowed             the actor key leased
//   epoch           int             >= 1                        the lease's epoch (echoed from the request)
//   seq             int             >= 0                        the round answered (echoed from the request)
//   slot            int             >= 0                        the replying lease slot
//   final           boolean                                     true: reply to LEASE_REVOKE, the lease is gone
//   processed       int             >= 0                        forwarded messages folded into this partial
//   cells           array                                       one entry per state with something to merge
//   cells[i].state  string          non-empty, unique in cells  the state's name (as declared by the function)
//   cells[i].value  string | null   canonical padded base64     the partial value's serialized bytes;
//                                                               null: identity, nothing to merge
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import {
  checkBoolean,
  checkEnvelope,
  checkInt,
  checkLeaseId,
  checkString,
  clip,
  isJsonObject,
  type JsonObject,
  withPrefix,
} from './validate.ts';

/** One state's partial value in a PARTIAL v1: the serialized bytes in base64, or null for identity. */
export interface PartialCellV1 {
  /** The state's name, as declared by the function. */
  readonly state: string;
  /** The partial value's serialized bytes (the state's serde) in base64; null: identity, nothing to merge. */
  readonly value: string | null;
}

/** PARTIAL v1: slot `slot`'s partial state of key `key` (lease epoch `epoch`), its reply to round `seq`. */
export interface PartialV1 {
  readonly v: 1;
  readonly type: 'partial';
  /** The app's name. */
  readonly app: string;
  /** The function's name within the app. */
  readonly fn: string;
  /** The actor key leased ('' is a key). */
  readonly key: string;
  /** The lease's epoch, echoed from the SYNC or LEASE_REVOKE, >= 1. */
  readonly epoch: number;
  /** The round answered, echoed from the SYNC or LEASE_REVOKE, >= 0. */
  readonly seq: number;
  /** The replying lease slot, >= 0. */
  readonly slot: number;
  /** True for the reply to a LEASE_REVOKE: the slot has forgotten the lease. */
  readonly final: boolean;
  /** Forwarded messages folded into this partial, >= 0. */
  readonly processed: number;
  /** One entry per state with a partial value; state names are unique. */
  readonly cells: readonly PartialCellV1[];
}

/** A partial cell with its value as bytes, as the runtime holds it (see {@link encodeCells}). */
export interface PartialCellBytes {
  /** The state's name. */
  readonly state: string;
  /** The partial value's serialized bytes; null: identity, nothing to merge. */
  readonly value: Uint8Array | null;
}

/** Canonical, padded base64 (what `Buffer#toString('base64')` writes); the length is checked apart. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64.test(s);

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Builds one cell: `value`'s bytes in base64, or null (identity). */
export function encodeCell(state: string, value: Uint8Array | null): PartialCellV1 {
  return { state, value: value === null ? null : asBuffer(value).toString('base64') };
}

/** The bytes of a cell's value, or null (identity). Use on validated cells: bad base64 is not rejected here. */
export function decodeCellValue(cell: PartialCellV1): Buffer | null {
  return cell.value === null ? null : Buffer.from(cell.value, 'base64');
}

/** Builds the `cells` of a PARTIAL v1 from states' partial values as bytes (null: identity). */
export function encodeCells(cells: Iterable<PartialCellBytes>): PartialCellV1[] {
  const out: PartialCellV1[] = [];
  for (const c of cells) out.push(encodeCell(c.state, c.value));
  return out;
}

/** Reads the `cells` of a validated PARTIAL v1 back as bytes: `{ state, value: Buffer | null }` each. */
export function decodeCells(cells: readonly PartialCellV1[]): { state: string; value: Buffer | null }[] {
  return cells.map((c) => ({ state: c.state, value: decodeCellValue(c) }));
}

function checkCells(m: JsonObject): string | undefined {
  const cells = m.cells;
  if (!Array.isArray(cells)) return "'cells' must be an array";
  // A handful of states per function: a quadratic duplicate check allocates nothing; a Set past that.
  const seen = cells.length > 16 ? new Set<string>() : undefined;
  for (let i = 0; i < cells.length; i++) {
    const c: unknown = cells[i];
    if (!isJsonObject(c)) return `'cells[${i}]' must be an object { state, value }`;
    const bad = checkString(c, 'state', true, `cells[${i}].state`);
    if (bad !== undefined) return bad;
    const state = c.state as string;
    if (seen === undefined) {
      for (let j = 0; j < i; j++) {
        if ((cells[j] as JsonObject).state === state)
          return `'cells[${i}].state' duplicates state '${clip(state)}'`;
      }
    } else {
      if (seen.has(state)) return `'cells[${i}].state' duplicates state '${clip(state)}'`;
      seen.add(state);
    }
    const value = c.value;
    if (value !== null && (typeof value !== 'string' || !isBase64(value))) {
      return `'cells[${i}].value' must be a base64 string or null`;
    }
  }
  return undefined;
}

/**
 * Checks that `m` is a valid PARTIAL v1 message, cells included (names unique, values base64 or null).
 * Returns undefined when it is, otherwise the reason naming the first invalid field
 * ("partial v1: 'cells[0].value' must be a base64 string or null"). Never throws.
 */
export function validatePartialV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'partial v1: not an object';
  return withPrefix(
    'partial',
    1,
    checkEnvelope(m, 'partial', 1) ??
      checkLeaseId(m) ??
      checkInt(m, 'seq', 0) ??
      checkInt(m, 'slot', 0) ??
      checkBoolean(m, 'final') ??
      checkInt(m, 'processed', 0) ??
      checkCells(m),
  );
}

/** True when `m` is a valid PARTIAL v1 message (see {@link validatePartialV1} for the reason). */
export function isPartialV1(m: unknown): m is PartialV1 {
  return validatePartialV1(m) === undefined;
}
