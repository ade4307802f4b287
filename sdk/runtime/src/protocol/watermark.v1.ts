// WATERMARK, version 1: an input partition tells the partitions it sends to how far its event time has come.
//
// Sent by the task of one partition of a function (or of an ingress router) of an app using event time, to
// every partition of every function it sends to, as a control record (header dirigo-kind: control) in the
// transaction of one of its steps, after the records of that step: every record it sends later has an event
// time at or after `wm`, unless it is late (the sender holds `wm` below the due time of the event-time timers it
// fired to itself and has not run yet, whose messages send records stamped with that time). The receiving
// partition's watermark is the lowest `wm` among the sources that can send to it and are not idle (when all are
// idle, the highest). `idle`: the source has had nothing to read for the app's `idleTimeoutMs` (and has no
// fired timer in flight) and holds nobody back until it sends a WATERMARK with `idle: false`.
//
// JSON schema (UTF-8 object):
//
//   field    type            constraints      meaning
//   v        int             = 1              message version
//   type     string          = 'watermark'    message type
//   app      string          non-empty        the app's name
//   source   string          non-empty        the sending partition: '<function>/<partition>' or
//                                             'ingress-<topic>/<partition>' for a router
//   wm       number | null   finite or null   its watermark, ms since epoch; null: none yet
//   idle     boolean                          nothing to read for the idle timeout
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import { checkBoolean, checkEnvelope, checkString, isJsonObject, quote, withPrefix } from './validate.ts';

/** WATERMARK v1: partition `source` of app `app` has event time up to `wm` (or is idle). */
export interface WatermarkV1 {
  readonly v: 1;
  readonly type: 'watermark';
  /** The app's name. */
  readonly app: string;
  /** The sending partition, '<function>/<partition>'. */
  readonly source: string;
  /** Its watermark, ms since epoch, or null when it has none yet. */
  readonly wm: number | null;
  /** It has had nothing to read for the idle timeout. */
  readonly idle: boolean;
}

/**
 * Checks that `m` is a valid WATERMARK v1 message. Returns undefined when it is, otherwise the reason naming the
 * first invalid field. Never throws.
 */
export function validateWatermarkV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'watermark v1: not an object';
  const wm = m.wm;
  return withPrefix(
    'watermark',
    1,
    checkEnvelope(m, 'watermark', 1) ??
      checkString(m, 'app', true) ??
      checkString(m, 'source', true) ??
      (wm === null || (typeof wm === 'number' && Number.isFinite(wm))
        ? undefined
        : `${quote('wm')} must be a finite number or null`) ??
      checkBoolean(m, 'idle'),
  );
}

/** True when `m` is a valid WATERMARK v1 message. */
export function isWatermarkV1(m: unknown): m is WatermarkV1 {
  return validateWatermarkV1(m) === undefined;
}
