// The record file of `dirigo record` / `dirigo replay` / `TestDriver.pipeFile`: JSON Lines, one Kafka record a
// line, bytes kept exactly (base64), so a replay reproduces keys, values, headers and timestamps byte for byte.
//
//   {"v":1,"topic":"bids","partition":0,"offset":42,"timestamp":1767225600000,
//    "key":"AAAAAAE=","value":"eyJ…","headers":{"trace":"YWJj"}}
//
// `key`/`value` are base64, or null for a null key / a tombstone; `headers` maps a name to base64 bytes (Kafka
// allows a header name twice; the Transport contract keeps the last one). Lines starting with `#` and blank
// lines are skipped.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigError, type IncomingRecord, type RecordHeaders } from '@dirigo/core';

/** One line of a record file, decoded. */
export interface RecordedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
}

/** The line (without the newline) of a consumed record. */
export function encodeRecordLine(r: IncomingRecord): string {
  const headers: Record<string, string> = {};
  for (const name in r.headers) headers[name] = r.headers[name]!.toString('base64');
  return JSON.stringify({
    v: 1,
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key === null ? null : r.key.toString('base64'),
    value: r.value === null ? null : r.value.toString('base64'),
    headers,
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bytes(v: unknown, field: string, where: string): Buffer | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string' || !BASE64.test(v))
    throw new ConfigError(where, `${field} must be base64 text or null`);
  return Buffer.from(v, 'base64');
}

/** Decodes one line; `where` (e.g. `file.jsonl:3`) names it in errors. Undefined for a blank or `#` line. */
export function parseRecordLine(line: string, where: string): RecordedRecord | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(
      where,
      `not JSON (${(e as Error).message}); a record file has one JSON record a line`,
    );
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new ConfigError(where, 'expected a JSON object');
  if (o.v !== 1)
    throw new ConfigError(where, `unknown record line version ${JSON.stringify(o.v)} (this reads v 1)`);
  const num = (f: string): number => {
    const n = o[f];
    if (typeof n !== 'number' || !Number.isInteger(n))
      throw new ConfigError(where, `${f} must be an integer`);
    return n;
  };
  if (typeof o.topic !== 'string') throw new ConfigError(where, 'topic must be a string');
  const headers: Record<string, Buffer> = {};
  const h = o.headers ?? {};
  if (h === null || typeof h !== 'object' || Array.isArray(h))
    throw new ConfigError(where, 'headers must be an object');
  for (const [name, v] of Object.entries(h as Record<string, unknown>)) {
    const b = bytes(v, `headers.${name}`, where);
    if (b !== null) headers[name] = b;
  }
  return {
    topic: o.topic,
    partition: num('partition'),
    offset: num('offset'),
    timestamp: num('timestamp'),
    key: bytes(o.key, 'key', where),
    value: bytes(o.value, 'value', where),
    headers,
  };
}

/** Every record of a record file, in file order. */
export async function readRecordFile(path: string): Promise<RecordedRecord[]> {
  const out: RecordedRecord[] = [];
  const lines = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let n = 0;
  for await (const line of lines) {
    n++;
    const r = parseRecordLine(line, `${path}:${n}`);
    if (r !== undefined) out.push(r);
  }
  return out;
}
