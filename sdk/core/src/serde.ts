// Serdes: how message values, keys and state values become bytes and back. JSON is the default; any object
// with `serialize`/`deserialize` plugs in. Serdes that need a schema registry (`@dirigo/avro`) stay synchronous
// on the record path: their optional `open` and `prepare` fetch what they need before records are handled.
import { SerdeError } from './errors.ts';

/** Turns values of type `T` into bytes and back. `deserialize` throws `SerdeError` on bad input. */
export interface Serde<T> {
  /** Short name used in error messages, e.g. 'json'. */
  readonly name: string;
  serialize(value: T): Buffer;
  deserialize(data: Buffer): T;
  /**
   * Optional. Called once when a worker (or the TestDriver) starts, before any record is read or written, for
   * every serde of its apps (messages, keys, ingresses, egresses, state): a schema-registry serde registers or
   * looks up its writer schema here, so `serialize` never waits. A rejection fails the worker's start.
   */
  open?(): Promise<void>;
  /**
   * Optional. Called before a step on the value (or key) of each record this serde is about to decode: returns
   * a promise when `deserialize(data)` needs something fetched first (the writer schema of a schema id not yet
   * cached), `undefined` when it is ready (the common case: no promise, no allocation). A rejected promise fails
   * the step, which is retried (the registry is unreachable); an answer that makes the record undecodable (an
   * unknown schema id) should resolve and let `deserialize` throw a `SerdeError` with the reason, so the record
   * follows the app's error policy (dead letter). Serdes without it (JSON and the other built-ins) cost nothing.
   */
  prepare?(data: Buffer): Promise<void> | undefined;
}

/**
 * The JSON text of a safe integer (its decimal digits, with '-' when negative; -0 is "0", as JSON.stringify
 * writes it) as bytes, written digit by digit: about a third of the time of `JSON.stringify` and a UTF-8 encode
 * (a count's state and its output are such integers, two per record).
 */
export function integerJson(value: number): Buffer {
  const negative = value < 0;
  let rest = negative ? -value : value;
  let length = negative ? 2 : 1;
  for (let x = rest; x >= 10; x = Math.floor(x / 10)) length++;
  const bytes = Buffer.allocUnsafe(length);
  for (let i = length - 1; i >= (negative ? 1 : 0); i--) {
    bytes[i] = 48 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  if (negative) bytes[0] = 45;
  return bytes;
}

/** JSON (UTF-8). The default serde for messages and state. */
export function json<T = unknown>(): Serde<T> {
  return {
    name: 'json',
    serialize: (value) => {
      if (typeof value === 'number' && Number.isSafeInteger(value)) return integerJson(value);
      const text = JSON.stringify(value);
      if (text === undefined) throw new SerdeError(`json: cannot serialize ${typeof value}`);
      return Buffer.from(text);
    },
    deserialize: (data) => {
      try {
        return JSON.parse(data.toString('utf8')) as T;
      } catch (e) {
        throw new SerdeError(`json: not valid JSON (${(e as Error).message}): ${preview(data)}`, {
          cause: e,
        });
      }
    },
  };
}

/** UTF-8 text. */
export function string(): Serde<string> {
  return {
    name: 'string',
    serialize: (value) => Buffer.from(value, 'utf8'),
    deserialize: (data) => data.toString('utf8'),
  };
}

/**
 * Raw bytes, untouched. A message's bytes may be a view of a larger buffer (the fetched answer it came in): copy
 * them (`Buffer.from(b)`) before keeping them in state for long, or the whole answer stays in memory with them.
 * State restored from a changelog is copied by the runtime.
 */
export function bytes(): Serde<Buffer> {
  return { name: 'bytes', serialize: (value) => value, deserialize: (data) => data };
}

/** Signed 64-bit big-endian integers as JS numbers (Kafka's LongSerializer layout). */
export function int64(): Serde<number> {
  return {
    name: 'int64',
    serialize: (value) => {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(BigInt(value));
      return b;
    },
    deserialize: (data) => {
      if (data.length !== 8)
        throw new SerdeError(`int64: expected 8 bytes, got ${data.length}: ${preview(data)}`);
      return Number(data.readBigInt64BE());
    },
  };
}

const preview = (data: Buffer): string => {
  const hex = data.subarray(0, 16).toString('hex');
  return `${data.length} bytes, starting 0x${hex}${data.length > 16 ? '...' : ''}`;
};

/** The built-in serdes. */
export const serdes = { json, string, bytes, int64 } as const;
