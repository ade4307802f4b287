// LOAD, version 1: a worker's load report, published about twice a second on the control topic.
//
// Record key: the worker id. Other workers keep each peer's latest report and their scheduling policies see
// them as peers (e.g. laxity offloads toward a short queue). `slots`, `backlog` and `exactlyOnce` were added
// within version 1 and are optional: readers that predate them ignore them, and writers that predate them leave
// them out.
//
// JSON schema (UTF-8 object):
//
//   field         type                       constraints        meaning
//   v             int                        = 1                message version
//   type          string                     = 'load'           message type
//   worker        string                     non-empty          the reporting worker's id
//   at            number                     finite, >= 0       when measured, ms since the Unix epoch
//   queued        int                        >= 0               messages waiting in the worker's queues
//   inFlight      int                        >= 0               messages being processed
//   utilisation   number                     0..1               busy time / wall time over the recent window
//   backlog       int (optional)             >= 0               input records behind the queued ones (fetched, not
//                                                                yet queued, and the partitions' lag at the fetch)
//   slots         object (optional)          absent or object   lease slots this worker owns, per app name
//   slots[app]    int[]                      each >= 0          the app's lease-topic partitions it consumes
//   exactlyOnce   object (optional)          absent or object   the exactly-once protocol of each app the worker
//                                                                runs with guarantee 'exactly_once', per app name
//   exactlyOnce[app] string                  'v1' or 'v2'       (a mix is reported: control-channel.ts)
//
// Fields not listed are ignored (and kept by the decoder), so a v1 writer may add optional ones.
import {
  checkEnvelope,
  checkInt,
  checkNumber,
  checkString,
  clip,
  isIntAtLeast,
  isJsonObject,
  type JsonObject,
  withPrefix,
} from './validate.ts';

/** LOAD v1: a worker's load report. */
export interface LoadV1 {
  readonly v: 1;
  readonly type: 'load';
  /** The reporting worker's id. */
  readonly worker: string;
  /** When measured, ms since the Unix epoch. */
  readonly at: number;
  /** Messages waiting in the worker's queues, >= 0. */
  readonly queued: number;
  /** Messages being processed, >= 0. */
  readonly inFlight: number;
  /** Busy time / wall time over the recent window, in [0, 1]. */
  readonly utilisation: number;
  /** Input records behind the queued ones, >= 0. Optional: older writers omit it. */
  readonly backlog?: number;
  /** Lease slots (lease-topic partitions) this worker owns, per app name. Optional: older writers omit it. */
  readonly slots?: Readonly<Record<string, readonly number[]>>;
  /** The exactly-once protocol of each exactly-once app the worker runs. Optional: older writers omit it. */
  readonly exactlyOnce?: Readonly<Record<string, 'v1' | 'v2'>>;
}

function checkExactlyOnce(m: JsonObject): string | undefined {
  const eos = m.exactlyOnce;
  if (eos === undefined) return undefined;
  if (!isJsonObject(eos)) return "'exactlyOnce' must be an object { [app]: 'v1' | 'v2' } when present";
  for (const app in eos) {
    if (!Object.hasOwn(eos, app)) continue;
    if (eos[app] !== 'v1' && eos[app] !== 'v2') return `'exactlyOnce.${clip(app)}' must be 'v1' or 'v2'`;
  }
  return undefined;
}

function checkSlots(m: JsonObject): string | undefined {
  const slots = m.slots;
  if (slots === undefined) return undefined;
  if (!isJsonObject(slots)) return "'slots' must be an object { [app]: int[] } when present";
  for (const app in slots) {
    if (!Object.hasOwn(slots, app)) continue;
    const list = slots[app];
    if (!Array.isArray(list)) return `'slots.${clip(app)}' must be an array of integers >= 0`;
    for (let i = 0; i < list.length; i++) {
      if (!isIntAtLeast(list[i], 0)) return `'slots.${clip(app)}[${i}]' must be an integer >= 0`;
    }
  }
  return undefined;
}

/**
 * Checks that `m` is a valid LOAD v1 message. Returns undefined when it is, otherwise the reason naming the
 * first invalid field ("load v1: 'queued' must be an integer >= 0"). Never throws.
 */
export function validateLoadV1(m: unknown): string | undefined {
  if (!isJsonObject(m)) return 'load v1: not an object';
  return withPrefix(
    'load',
    1,
    checkEnvelope(m, 'load', 1) ??
      checkString(m, 'worker', true) ??
      checkNumber(m, 'at', 0, Number.POSITIVE_INFINITY) ??
      checkInt(m, 'queued', 0) ??
      checkInt(m, 'inFlight', 0) ??
      checkNumber(m, 'utilisation', 0, 1) ??
      (m.backlog === undefined ? undefined : checkInt(m, 'backlog', 0)) ??
      checkSlots(m) ??
      checkExactlyOnce(m),
  );
}

/** True when `m` is a valid LOAD v1 message (see {@link validateLoadV1} for the reason). */
export function isLoadV1(m: unknown): m is LoadV1 {
  return validateLoadV1(m) === undefined;
}
