// Kafka header names (and their values) of the dual-mode actor protocol.
//
// A record on a lease topic is either a control message (LEASE_GRANT, LEASE_REVOKE, SYNC, PARTIAL, UNSYNC; the
// record value is the encoded control message, see codec.ts) or a forwarded message (the original record plus
// a `dirigo-lease` header, see forward.v1.ts); `dirigo-kind` tells them apart. `dirigo-critical` marks a
// message that must run at the lessor against the authoritative state, after a sync round.

/** Header naming what a record carries: {@link KIND_CONTROL} or {@link KIND_FORWARD}. */
export const H_KIND = 'dirigo-kind';

/** {@link H_KIND} value: the record value is a control message (decode it with `decodeControl`). */
export const KIND_CONTROL = 'control';

/** {@link H_KIND} value: the record is a message forwarded to a lease slot. */
export const KIND_FORWARD = 'forward';

/** The values of {@link H_KIND}. */
export type Kind = typeof KIND_CONTROL | typeof KIND_FORWARD;

/** Header of a forwarded record: the lease it was forwarded under, JSON (see `encodeLeaseHeader`). */
export const H_LEASE = 'dirigo-lease';

/** Header marking a critical message: it runs at the lessor after a sync round. Its value is {@link CRITICAL}. */
export const H_CRITICAL = 'dirigo-critical';

/** The value of {@link H_CRITICAL}. */
export const CRITICAL = '1';

/**
 * Header of a forwarded record: the lessor's event-time watermark when it forwarded it (decimal ms), which the
 * lessee's handler sees as `ctx.watermark`.
 */
export const H_WATERMARK = 'dirigo-watermark';

/**
 * Header of a message sent with `atEventTime` by a handler at a lessee: the event time (decimal ms) at which it
 * is due. The key's lessor, which owns the partition's watermark, keeps it as an event-time timer instead of
 * running it.
 */
export const H_AT = 'dirigo-at';

/**
 * Header of the record an event-time timer sends to its own partition when it fires: the timer's due time
 * (decimal ms). Until that record has run there, the partition holds the watermark it sends on below the due
 * time (see time/watermarks.ts), so what the record's handler sends is not behind it downstream.
 */
export const H_FIRED = 'dirigo-fired';
