// The control topic's codec, kept for existing importers: the codec itself is the protocol's
// (../protocol/codec.ts, where the schemas are). This module is the load-report view of it: its
// ControlMessage is the LOAD report only, and decodeControl reports the protocol's other control messages
// (LEASE_GRANT, SYNC, ...) as unknown, as it did before they existed, so a reader of load reports that gets
// one on the control topic counts and skips it. Code that handles the lease protocol imports
// ../protocol/index.ts instead.
import { decodeControl as decodeAny } from '../protocol/codec.ts';
import type { LoadV1 } from '../protocol/load.v1.ts';

export { CONTROL_VERSION, encodeControl } from '../protocol/codec.ts';

/**
 * A worker's load, published about twice a second (LOAD v1, see ../protocol/load.v1.ts), with the optional
 * field `incarnation` (a v1 writer may add fields; older readers ignore it): a random nonce the worker draws at
 * start and sends with every report, so readers can tell its reports from another process's under the same
 * worker id (see control-channel.ts).
 */
export type LoadReport = LoadV1 & { readonly incarnation?: string };

/** The control messages this module's readers handle: load reports. */
export type ControlMessage = LoadReport;

/** What {@link decodeControl} returns: a load report, or why the value is not one. */
export type Decoded =
  | { readonly kind: 'known'; readonly message: ControlMessage }
  | { readonly kind: 'unknown'; readonly reason: string };

/**
 * Decodes a control record's value as a load report. Never throws: anything else, including a valid control
 * message of another type, comes back as `{ kind: 'unknown', reason }`.
 */
export function decodeControl(value: Buffer | null): Decoded {
  const d = decodeAny(value);
  if (d.kind === 'unknown') return d;
  const m = d.message;
  if (m.type !== 'load')
    return { kind: 'unknown', reason: `type '${m.type}' version ${m.v}: not a load report` };
  return { kind: 'known', message: m };
}
