// The lessor's durable lease bookkeeping, in internal state cells of the function's space (so it is written to
// the changelog with the step that changes it, and a new lessor after a rebalance continues where the old one
// committed):
// - `__leases` (map under actor key ''): per leased key, its LeaseRecord;
// - `__blocked` (map under the actor's key): the messages of a BLOCKED key, in input order, waiting for the
//   barrier.
import type { IncomingRecord, RecordHeaders, ResolvedState } from '@dirigo/core';
import type { ActorMode } from '../actor/mode.ts';
import { internalMap } from '../state/catalog.ts';
import { storeKey } from '../state/cell-key.ts';
import type { StateLayer, UndoEntry } from '../state/state-layer.ts';

const LEASES = '__leases';
const BLOCKED = '__blocked';

/** Internal states of a leasable function at its lessor. */
export const LESSOR_STATES: readonly ResolvedState[] = [internalMap(LEASES), internalMap(BLOCKED)];

/**
 * A reply the lessor waits for: a PARTIAL from `slot` for round `seq` of lease `epoch` (final: the slot is
 * being revoked). A key may be leased again under a new epoch while final replies of the old one are awaited.
 */
export interface SlotWait {
  readonly slot: number;
  readonly seq: number;
  readonly final: boolean;
  readonly epoch: number;
}

/** The lease of one key, as its lessor keeps it. */
export interface LeaseRecord {
  /** The lease's epoch: bumped by every grant after the key was without lessees. */
  readonly epoch: number;
  /** Slots that receive forwards now. */
  readonly slots: readonly number[];
  /** Slots that received forwards since their last sync round (a critical message must sync them first). */
  readonly dirty: readonly number[];
  /** The last sync/revoke round. */
  readonly seq: number;
  /** Replies still awaited. */
  readonly waiting: readonly SlotWait[];
  /** RUNNABLE, or BLOCKED while messages wait for replies (CRITICAL is never committed: it lasts one run). */
  readonly mode: ActorMode;
  /** When the key blocked (ms), for the time-blocked metric. */
  readonly blockedSince: number;
  /** Next id of the blocked queue. */
  readonly queued: number;
  /** When a message was last forwarded (ms). (Idleness is measured in memory from the end of the step.) */
  readonly lastForward: number;
  /** Round-robin position among `slots`. */
  readonly next: number;
}

/** A message waiting in a BLOCKED key's queue (bytes base64). */
export interface QueuedMessage {
  readonly k: string | null;
  readonly v: string | null;
  readonly h: Record<string, string>;
  readonly t: string;
  readonly p: number;
  readonly o: number;
  readonly ts: number;
  readonly c: boolean;
}

export class LeaseTable {
  private readonly layer: StateLayer;
  private readonly prefix: string;
  private readonly leasesCk: string;

  /** `prefix`: the store-key prefix of the function's space at its lessor. */
  constructor(layer: StateLayer, prefix: string) {
    this.layer = layer;
    this.prefix = prefix;
    this.leasesCk = storeKey(prefix, LEASES, '');
  }

  get(key: string): LeaseRecord | undefined {
    return this.layer.getEntry(this.leasesCk, key) as LeaseRecord | undefined;
  }

  put(key: string, record: LeaseRecord, undo: UndoEntry[]): void {
    this.layer.setEntry(this.leasesCk, key, record, undo);
  }

  /** Every key with a lease record. */
  all(): [string, LeaseRecord][] {
    return this.layer.entries(this.leasesCk) as [string, LeaseRecord][];
  }

  /** Appends a message to a BLOCKED key's queue; returns the record with its queue counter advanced. */
  enqueue(
    key: string,
    record: LeaseRecord,
    message: IncomingRecord,
    critical: boolean,
    undo: UndoEntry[],
  ): LeaseRecord {
    const h: Record<string, string> = {};
    for (const name in message.headers) h[name] = message.headers[name]!.toString('base64');
    const queued: QueuedMessage = {
      k: message.key === null ? null : message.key.toString('base64'),
      v: message.value === null ? null : message.value.toString('base64'),
      h,
      t: message.topic,
      p: message.partition,
      o: message.offset,
      ts: message.timestamp,
      c: critical,
    };
    this.layer.setEntry(
      storeKey(this.prefix, BLOCKED, key),
      String(record.queued).padStart(12, '0'),
      queued,
      undo,
    );
    return { ...record, queued: record.queued + 1 };
  }

  /** Takes a key's queued messages out of its queue, in arrival order. */
  drain(key: string, undo: UndoEntry[]): { record: IncomingRecord; critical: boolean }[] {
    const ck = storeKey(this.prefix, BLOCKED, key);
    const entries = this.layer.entries(ck).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const out: { record: IncomingRecord; critical: boolean }[] = [];
    for (const [id, value] of entries) {
      const q = value as QueuedMessage;
      const headers: RecordHeaders = {};
      for (const name in q.h) headers[name] = Buffer.from(q.h[name]!, 'base64');
      out.push({
        record: {
          topic: q.t,
          partition: q.p,
          offset: q.o,
          key: q.k === null ? null : Buffer.from(q.k, 'base64'),
          value: q.v === null ? null : Buffer.from(q.v, 'base64'),
          headers,
          timestamp: q.ts,
        },
        critical: q.c,
      });
      this.layer.setEntry(ck, id, undefined, undo);
    }
    return out;
  }
}
