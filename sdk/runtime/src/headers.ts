// Kafka header names Dirigo sets, and helpers to read them. Scheduling metadata travels on every hop so
// latency is measured end to end at the egress; dead-letter headers say why and where a record failed.
import type { RecordHeaders } from '@dirigo/core';

/** Ingest time (ms since epoch, decimal): the timestamp of the record that entered the app. */
export const H_INGEST = 'dirigo-ingest';
/** Absolute deadline (ms since epoch, decimal): ingest time + the app's latency target. */
export const H_DEADLINE = 'dirigo-deadline';
/** Priority class of the app that produced the record. */
export const H_PRIORITY = 'dirigo-priority';

export const H_ERROR = 'dirigo-error';
export const H_ERROR_CLASS = 'dirigo-error-class';
export const H_ERROR_STAGE = 'dirigo-error-stage';
export const H_ORIGIN_TOPIC = 'dirigo-origin-topic';
export const H_ORIGIN_PARTITION = 'dirigo-origin-partition';
export const H_ORIGIN_OFFSET = 'dirigo-origin-offset';
export const H_APP = 'dirigo-app';
export const H_FUNCTION = 'dirigo-function';
/** On a dead letter whose value was cut to fit the broker's limit: the original value's size in bytes. */
export const H_TRUNCATED = 'dirigo-truncated';

/** Reads a header as text, or undefined. */
export function headerString(headers: RecordHeaders, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : v.toString('utf8');
}

/** How far in the past a record's ingest time may lie; older ones count as this old (a day). */
export const MAX_INGEST_AGE_MS = 86_400_000;

/**
 * A record's ingest time for scheduling and latency: its `dirigo-ingest` header, else its timestamp, clamped
 * to [now - MAX_INGEST_AGE_MS, now]. Headers are untrusted input (any producer can set them): a future or
 * absurd value cannot make a record look fresher or older than that range.
 */
export function ingestOf(headers: RecordHeaders, timestamp: number, now: number): number {
  return clampIngest(headerNumber(headers, H_INGEST) ?? timestamp, now);
}

/** An ingest time (`dirigo-ingest`, else the timestamp) clamped as `ingestOf` does. */
export function clampIngest(v: number, now: number): number {
  const oldest = now - MAX_INGEST_AGE_MS;
  return v > now ? now : v < oldest || Number.isNaN(v) ? oldest : v;
}

/**
 * A record's deadline for scheduling: its `dirigo-deadline` header, else ingest + the app's latency target,
 * clamped to [now - targetMs, now + targetMs] (now: when it arrives at this hop). An honest deadline always
 * lies in that range unless the record is already more than one target late, and such a record misses its
 * deadline either way. So a forged deadline (say -1e308 from a hostile producer) can make a record look at
 * most one latency target late: under EDF it overtakes only messages whose deadlines are less than one target
 * after its arrival, and cannot starve other apps.
 */
export function deadlineOf(headers: RecordHeaders, ingest: number, now: number, targetMs: number): number {
  return clampDeadline(headerNumber(headers, H_DEADLINE) ?? ingest + targetMs, now, targetMs);
}

/** A deadline (`dirigo-deadline`, else ingest + target) clamped as `deadlineOf` does. */
export function clampDeadline(v: number, now: number, targetMs: number): number {
  return v < now - targetMs ? now - targetMs : Math.min(v, now + targetMs);
}

/** Reads a decimal header as a number, or undefined when absent or not a number. */
export function headerNumber(headers: RecordHeaders, name: string): number | undefined {
  const v = headers[name];
  return v === undefined ? undefined : decimalOf(v);
}

/**
 * A header value read as JavaScript's `Number` reads its Latin-1 text, or undefined when that is not a finite
 * number. Integers of up to 15 digits (what Dirigo writes: times in ms) are read from the bytes without making a
 * string: every record of a later hop has two such headers, and the string made for each cost that hop as much
 * as the rest of its scheduling.
 */
export function decimalOf(v: Buffer): number | undefined {
  const n = v.length;
  if (n > 0 && n <= 15) {
    const negative = v[0] === 0x2d; // '-'
    let i = negative ? 1 : 0;
    if (i < n) {
      let x = 0;
      for (; i < n; i++) {
        const d = v[i]! - 0x30;
        if (d < 0 || d > 9) break;
        x = x * 10 + d;
      }
      if (i === n) return negative ? -x : x;
    }
  }
  const x = Number(v.toString('latin1'));
  return Number.isFinite(x) ? x : undefined;
}
