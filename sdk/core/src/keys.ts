// Actor keys. An actor's identity is the exact bytes of its record key: two different keys never share state,
// and outputs keyed by the same key keep those bytes (so they land on the same partitions a Java producer would
// pick). Inside the runtime an identity is a string (state cells, the scheduler's per-key order, the lease
// protocol): `actorId` maps key bytes to it injectively. Handlers see `ctx.key`, the key as text, decoded by the
// function's key serde (UTF-8 by default; `keys.int64()`, `keys.bytes()`, `keys.json()` or any Serde<string>).
import { isUtf8 } from 'node:buffer';
import { SerdeError } from './errors.ts';
import type { Serde } from './serde.ts';

/** First character of an escaped identity (a key that is not UTF-8, starts with it, or is null). */
const ESCAPE = '\u0001';
const ESCAPE_CODE = 1;
/** What UTF-8 decoding puts in place of an invalid sequence. */
const REPLACEMENT = '\uFFFD';

/**
 * The actor identity of a record key: the key as text when it is valid UTF-8 (and does not start with U+0001),
 * else U+0001 followed by the key's bytes in base64; a null key is U+0001 alone. Injective: different byte
 * strings (and null) always get different identities, and `actorKeyBytes` gives the bytes back.
 */
export function actorId(key: Buffer | null): string {
  if (key === null) return ESCAPE;
  const n = key.length;
  if (n === 0) return '';
  if (n <= 8) {
    // Short ASCII keys (most keys: ids, names) are built in JS: several times cheaper than a native decode.
    let bits = 0;
    for (let i = 0; i < n; i++) bits |= key[i]!;
    if (bits < 0x80 && key[0] !== ESCAPE_CODE) return shortAscii(key, n);
  }
  if (key[0] !== ESCAPE_CODE) {
    // Decoding replaces every invalid sequence with U+FFFD: a text without one came from valid UTF-8 (one pass
    // over the key instead of a check and a decode); a text with one is checked (the key may hold U+FFFD itself).
    const text = key.toString();
    if (text.indexOf(REPLACEMENT) < 0 || isUtf8(key)) return text;
  }
  return ESCAPE + key.toString('base64');
}

const fromCode = String.fromCharCode;

/** The text of an ASCII key of 1 to 8 bytes. */
function shortAscii(k: Buffer, n: number): string {
  switch (n) {
    case 1:
      return fromCode(k[0]!);
    case 2:
      return fromCode(k[0]!, k[1]!);
    case 3:
      return fromCode(k[0]!, k[1]!, k[2]!);
    case 4:
      return fromCode(k[0]!, k[1]!, k[2]!, k[3]!);
    case 5:
      return fromCode(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!);
    case 6:
      return fromCode(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!, k[5]!);
    case 7:
      return fromCode(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!, k[5]!, k[6]!);
    default:
      return fromCode(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!, k[5]!, k[6]!, k[7]!);
  }
}

/** The record key bytes of an actor identity (the inverse of `actorId`); null for the null key. */
export function actorKeyBytes(id: string): Buffer | null {
  if (id.charCodeAt(0) !== ESCAPE_CODE) return Buffer.from(id, 'utf8');
  return id.length === 1 ? null : Buffer.from(id.slice(1), 'base64');
}

/** True when `id` is the identity of the null key. */
export const isNullActor = (id: string): boolean => id === ESCAPE;

/**
 * How a function's record keys look to its handler (`ctx.key`) and how a key given to `send`/`emit` becomes
 * bytes. A Serde of strings: `deserialize` may throw `SerdeError` (the record then fails like a bad value).
 */
export type KeySerde = Serde<string>;

/** UTF-8 text (the default). Bytes that are not UTF-8 show with U+FFFD; their actor is still their own. */
function stringKey(): KeySerde {
  return {
    name: 'string',
    serialize: (key) => Buffer.from(key, 'utf8'),
    deserialize: (data) => data.toString('utf8'),
  };
}

/** Signed 64-bit big-endian integers (Java's LongSerializer), as decimal text: `ctx.key` is e.g. '-42'. */
function int64Key(): KeySerde {
  return {
    name: 'int64',
    serialize: (key) => {
      if (!/^-?\d+$/.test(key)) throw new SerdeError(`int64 key: expected a decimal integer, got '${key}'`);
      const n = BigInt(key);
      if (n < -(2n ** 63n) || n >= 2n ** 63n)
        throw new SerdeError(`int64 key: ${key} is outside the signed 64-bit range`);
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(n);
      return b;
    },
    deserialize: (data) => {
      if (data.length !== 8)
        throw new SerdeError(`int64 key: expected 8 bytes, got ${data.length} (0x${data.toString('hex')})`);
      return data.readBigInt64BE().toString();
    },
  };
}

/** Raw bytes as lowercase hex text: `ctx.key` is e.g. '00ff10'. */
function bytesKey(): KeySerde {
  return {
    name: 'bytes',
    serialize: (key) => {
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(key))
        throw new SerdeError(`bytes key: expected hex text (pairs of 0-9a-f), got '${key}'`);
      return Buffer.from(key, 'hex');
    },
    deserialize: (data) => data.toString('hex'),
  };
}

/**
 * JSON keys (e.g. `{"region":"eu","id":7}`) as their JSON text. A key sent with `send`/`emit` must be JSON text;
 * it is written as given.
 */
function jsonKey(): KeySerde {
  return {
    name: 'json',
    serialize: (key) => {
      try {
        JSON.parse(key);
      } catch (e) {
        throw new SerdeError(`json key: not valid JSON text: '${key}'`, { cause: e });
      }
      return Buffer.from(key, 'utf8');
    },
    deserialize: (data) => {
      const text = data.toString('utf8');
      try {
        JSON.parse(text);
      } catch (e) {
        throw new SerdeError(`json key: not valid JSON (${(e as Error).message})`, { cause: e });
      }
      return text;
    },
  };
}

/** The built-in key serdes. */
export const keys = { string: stringKey, int64: int64Key, bytes: bytesKey, json: jsonKey } as const;

/** The default key serde (UTF-8). One instance: `keySerde === DEFAULT_KEY_SERDE` means "UTF-8 keys". */
export const DEFAULT_KEY_SERDE: KeySerde = stringKey();
