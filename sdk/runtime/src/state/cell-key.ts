// The one codec of state cell keys. A cell is addressed by its space (app, function, and the lease slot when
// the cell is a lessee's partial state), its state name and the actor key; a map cell's entries add an entry
// key. Two encodings of the same address:
// - store key (a string, in the local store): `app \0 fn \0 slot \0 state \0 actorKey` (slot empty for a
//   lessor's cell). App, function and state names never contain \0 (they are validated), so the first four \0
//   are separators and the actor key may contain anything.
// - changelog key (bytes, the record key in the compacted changelog): JSON
//   `[app, fn, slot, state, actorKey]` or `[app, fn, slot, state, actorKey, entryKey]`, slot null for a lessor.
//   Legacy changelogs written before the space was part of the key (`[state, actorKey]` /
//   `[state, actorKey, entryKey]`) are read too, in the space of the task reading them.
import type { LeaseSlot } from '../ids.ts';

/** Whose cells: a function's (slot null, at its lessor) or a lease slot's partials of that function. */
export interface CellSpace {
  readonly app: string;
  readonly fn: string;
  readonly slot: LeaseSlot | null;
}

/** A decoded cell address. */
export interface CellAddress extends CellSpace {
  readonly state: string;
  readonly key: string;
}

/** The store-key prefix of a space: `storeKey(prefix, state, key)` is then one concatenation. */
export const spacePrefix = (space: CellSpace): string =>
  `${space.app}\u0000${space.fn}\u0000${space.slot === null ? '' : space.slot}\u0000`;

/**
 * The head of the store keys of one state of the space whose prefix is `prefix` (`app \0 fn \0 slot \0 state \0`):
 * a cell's store key is its head followed by the actor key. Value cells are addressed by head and actor key apart
 * (see KeyValueStore), so a message's lookup hashes its short actor key, not a long concatenation.
 */
export const storeHead = (prefix: string, state: string): string => `${prefix}${state}\u0000`;

/** A function env's cell addressing (FunctionEnv.cellPrefix and cellHeads) in the space whose prefix is `prefix`. */
export const cellAddressing = (
  prefix: string,
  states: readonly { readonly name: string }[],
): { cellPrefix: string; cellHeads: readonly string[] } => ({
  cellPrefix: prefix,
  cellHeads: states.map((s) => storeHead(prefix, s.name)),
});

/** The store key of a cell of the space whose prefix is `prefix`. */
export const storeKey = (prefix: string, state: string, key: string): string =>
  storeHead(prefix, state) + key;

/** Splits a store key into its address. */
export function parseStoreKey(ck: string): CellAddress {
  const a = ck.indexOf('\u0000');
  const b = ck.indexOf('\u0000', a + 1);
  const c = ck.indexOf('\u0000', b + 1);
  const d = ck.indexOf('\u0000', c + 1);
  if (a < 0 || b < 0 || c < 0 || d < 0)
    throw new Error(`internal: malformed state cell key ${JSON.stringify(ck)}`);
  const slot = ck.slice(b + 1, c);
  return {
    app: ck.slice(0, a),
    fn: ck.slice(a + 1, b),
    slot: slot === '' ? null : (Number(slot) as LeaseSlot),
    state: ck.slice(c + 1, d),
    key: ck.slice(d + 1),
  };
}

/** The state name of a store key (for error messages). */
export const stateOfStoreKey = (ck: string): string => {
  try {
    return parseStoreKey(ck).state;
  } catch {
    return ck;
  }
};

/** Where the actor key of a store key starts (after the fourth \0), or -1 for a malformed store key. */
export function actorKeyStart(ck: string): number {
  let at = -1;
  for (let i = 0; i < 4; i++) {
    at = ck.indexOf('\u0000', at + 1);
    if (at < 0) return -1;
  }
  return at + 1;
}

/** A store key split at its actor key: its head (`storeHead`) and the actor key. */
function splitStoreKey(ck: string): [head: string, key: string] {
  const start = actorKeyStart(ck);
  if (start < 0) throw new Error(`internal: malformed state cell key ${JSON.stringify(ck)}`);
  return [ck.slice(0, start), ck.slice(start)];
}

/**
 * The changelog keys of the cells of one space and state, from their store keys: the JSON of the address up
 * to the actor key is made once (`head`: the store key's text before the actor key), so a cell's changelog key
 * costs one JSON string of its actor key and one buffer, not a parse of the store key. Byte for byte
 * `changelogKey(parseStoreKey(ck), entry)`.
 */
export class ChangelogKeys {
  /** Per head (`app \0 fn \0 slot \0 state \0`): the JSON of the address before the actor key, and the state. */
  private readonly heads = new Map<string, { readonly json: string; readonly cell: CellAddress }>();

  /** The changelog key of the cell `ck` (or of its map entry `entry`). */
  of(ck: string, entry?: string): Buffer {
    const [head, key] = splitStoreKey(ck);
    return this.ofCell(head, key, entry);
  }

  /** The changelog key of the cell of actor `key` under store-key head `head` (or of its map entry `entry`). */
  ofCell(head: string, key: string, entry?: string): Buffer {
    const json = this.head(head).json;
    const k = JSON.stringify(key);
    return Buffer.from(entry === undefined ? `${json}${k}]` : `${json}${k},${JSON.stringify(entry)}]`);
  }

  /** The address of `ck` up to its state (app, function, slot, state; `key` empty), made once per head. */
  cellOf(ck: string): CellAddress {
    return this.head(splitStoreKey(ck)[0]).cell;
  }

  /** The address of the cells under store-key head `head` (`key` empty). */
  cellOfHead(head: string): CellAddress {
    return this.head(head).cell;
  }

  private head(head: string): { readonly json: string; readonly cell: CellAddress } {
    let h = this.heads.get(head);
    if (h === undefined) {
      const cell = parseStoreKey(head);
      const json = JSON.stringify([cell.app, cell.fn, cell.slot, cell.state]);
      h = { json: `${json.slice(0, -1)},`, cell };
      this.heads.set(head, h);
    }
    return h;
  }
}

/** The changelog record key of a cell (or of one entry of a map cell). */
export function changelogKey(cell: CellAddress, entry?: string): Buffer {
  const parts: (string | number | null)[] = [cell.app, cell.fn, cell.slot, cell.state, cell.key];
  if (entry !== undefined) parts.push(entry);
  return Buffer.from(JSON.stringify(parts));
}

/** A decoded changelog key: the cell, and the entry key for a map cell's entry. */
export interface ChangelogKey extends CellAddress {
  readonly entry: string | undefined;
}

/**
 * Decodes a changelog record key; `legacy` is the space of a legacy key (`[state, key(, entry)]`). Returns
 * undefined for a key that is none of these (the caller skips the record).
 */
export function decodeChangelogKey(key: Buffer, legacy?: CellSpace): ChangelogKey | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(key.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts)) return undefined;
  const str = (i: number): string | undefined =>
    typeof parts[i] === 'string' ? (parts[i] as string) : undefined;
  if (parts.length === 5 || parts.length === 6) {
    const [app, fn, state, actor] = [str(0), str(1), str(3), str(4)];
    const slot = parts[2];
    const entry = parts.length === 6 ? str(5) : undefined;
    if (app === undefined || fn === undefined || state === undefined || actor === undefined) return undefined;
    if (slot !== null && !(typeof slot === 'number' && Number.isInteger(slot) && slot >= 0)) return undefined;
    if (parts.length === 6 && entry === undefined) return undefined;
    return { app, fn, slot: slot as LeaseSlot | null, state, key: actor, entry };
  }
  if ((parts.length === 2 || parts.length === 3) && legacy !== undefined) {
    const [state, actor] = [str(0), str(1)];
    const entry = parts.length === 3 ? str(2) : undefined;
    if (state === undefined || actor === undefined || (parts.length === 3 && entry === undefined))
      return undefined;
    return { ...legacy, state, key: actor, entry };
  }
  return undefined;
}
