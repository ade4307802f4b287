// Control messages on the control topic (WorkerOptions.controlTopic, default `dirigo.control`), versioned. Schema, version 1 (JSON, UTF-8):
//
//   { "v": 1, "type": "load", "worker": string, "at": ms-since-epoch,
//     "queued": int >= 0, "inFlight": int >= 0, "utilisation": 0..1 }
//
// Record key: the worker id. A decoder never throws: anything it does not understand (bad JSON, another
// version, an unknown type, a missing field) comes back as `{ kind: 'unknown', reason }` so the worker can log
// and count it and go on.

/** A worker's load, published about twice a second. */
export interface LoadReport {
  readonly v: 1;
  readonly type: 'load';
  readonly worker: string;
  readonly at: number;
  readonly queued: number;
  readonly inFlight: number;
  readonly utilisation: number;
}

export type ControlMessage = LoadReport;

export type Decoded =
  | { readonly kind: 'known'; readonly message: ControlMessage }
  | { readonly kind: 'unknown'; readonly reason: string };

export const CONTROL_VERSION = 1;

export function encodeControl(message: ControlMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

export function decodeControl(value: Buffer | null): Decoded {
  if (value === null) return { kind: 'unknown', reason: 'null value' };
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { kind: 'unknown', reason: 'not JSON' };
  }
  if (m === null || typeof m !== 'object') return { kind: 'unknown', reason: 'not an object' };
  if (m.v !== CONTROL_VERSION)
    return { kind: 'unknown', reason: `version ${String(m.v)} (this worker reads ${CONTROL_VERSION})` };
  if (m.type !== 'load') return { kind: 'unknown', reason: `type '${String(m.type)}'` };
  if (
    typeof m.worker !== 'string' ||
    typeof m.at !== 'number' ||
    !isCount(m.queued) ||
    !isCount(m.inFlight) ||
    typeof m.utilisation !== 'number'
  ) {
    return { kind: 'unknown', reason: 'load report with missing or invalid fields' };
  }
  return { kind: 'known', message: m as unknown as LoadReport };
}
