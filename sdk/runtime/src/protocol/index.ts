// The dual-mode actor protocol (Dirigo): control messages between a hot key's lessor and its lease slots,
// load reports, the lease header of forwarded messages, and the header names. Exports chosen by hand.
export {
  CONTROL_READS,
  CONTROL_VERSION,
  type ControlMessage,
  type ControlType,
  type Decoded,
  decodeControl,
  encodeControl,
} from './codec.ts';
export {
  decodeLeaseHeader,
  encodeLeaseHeader,
  type ForwardOriginV1,
  isLeaseHeaderV1,
  type LeaseHeaderV1,
  validateLeaseHeaderV1,
} from './forward.v1.ts';
export {
  CRITICAL,
  H_AT,
  H_CRITICAL,
  H_FIRED,
  H_KIND,
  H_LEASE,
  H_WATERMARK,
  KIND_CONTROL,
  KIND_FORWARD,
  type Kind,
} from './headers.ts';
export { isLeaseGrantV1, type LeaseGrantV1, validateLeaseGrantV1 } from './lease-grant.v1.ts';
export {
  isLeaseRevokeV1,
  type LeaseRevokeV1,
  type ReplyToV1,
  validateLeaseRevokeV1,
} from './lease-revoke.v1.ts';
export { isLoadV1, type LoadV1, validateLoadV1 } from './load.v1.ts';
export {
  decodeCells,
  decodeCellValue,
  encodeCell,
  encodeCells,
  isPartialV1,
  type PartialCellBytes,
  type PartialCellV1,
  type PartialV1,
  validatePartialV1,
} from './partial.v1.ts';
export { isSyncV1, type SyncV1, validateSyncV1 } from './sync.v1.ts';
export { isUnsyncV1, type UnsyncV1, validateUnsyncV1 } from './unsync.v1.ts';
export type { DecodeResult } from './validate.ts';
export { isWatermarkV1, validateWatermarkV1, type WatermarkV1 } from './watermark.v1.ts';
