// Conversion of kafkajs fetched messages into Dirigo records: one object per record and nothing else on the
// common path (header objects are reused from kafkajs when they already hold one Buffer per key).
import type { IncomingRecord, RecordHeaders } from '@dirigo/core';
import type { IHeaders, KafkaMessage } from 'kafkajs';

const EMPTY_HEADERS: RecordHeaders = Object.freeze({}) as RecordHeaders;
const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * kafkajs decodes header values as Buffers, but a key that occurs more than once becomes an array (and the
 * declared type also allows strings). Dirigo headers hold one Buffer per key: the last value wins, as with the
 * Java client's `lastHeader`.
 */
export function normalizeHeaders(headers: IHeaders | undefined): RecordHeaders {
  if (headers === undefined) return EMPTY_HEADERS;
  for (const key in headers) {
    if (!Buffer.isBuffer(headers[key])) return copyHeaders(headers);
  }
  return headers as RecordHeaders;
}

function toBuffer(value: Buffer | string | null | undefined): Buffer {
  if (value === null || value === undefined) return EMPTY_BUFFER;
  return typeof value === 'string' ? Buffer.from(value) : value;
}

function copyHeaders(headers: IHeaders): RecordHeaders {
  const out: Record<string, Buffer> = {};
  for (const key in headers) {
    const value = headers[key];
    out[key] = Array.isArray(value) ? toBuffer(value[value.length - 1]) : toBuffer(value);
  }
  return out;
}

/**
 * The records of `messages` with offsets in [fromOffset, toOffset) (pass 0 and Infinity for all), as Dirigo
 * records.
 */
export function toIncomingRecords(
  topic: string,
  partition: number,
  messages: readonly KafkaMessage[],
  fromOffset = 0,
  toOffset = Number.POSITIVE_INFINITY,
): IncomingRecord[] {
  const n = messages.length;
  const out: IncomingRecord[] = [];
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    const offset = Number(m.offset);
    if (offset < fromOffset || offset >= toOffset) continue;
    out.push({
      topic,
      partition,
      offset,
      key: m.key,
      value: m.value,
      headers: normalizeHeaders(m.headers),
      timestamp: Number(m.timestamp),
    });
  }
  return out;
}
