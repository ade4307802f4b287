// Public exports of @dirigo/runtime, chosen by hand.
export {
  type AclBinding,
  type AclOperation,
  kafkaAclsCommands,
  type WorkerAclOptions,
  workerAcls,
} from './acls.ts';
export { type Clock, systemClock } from './clock.ts';
export type { ControlStats } from './control/control-channel.ts';
export { AppStoppedError, InternalError } from './errors.ts';
export {
  H_APP,
  H_DEADLINE,
  H_ERROR,
  H_ERROR_CLASS,
  H_ERROR_STAGE,
  H_FUNCTION,
  H_INGEST,
  H_ORIGIN_OFFSET,
  H_ORIGIN_PARTITION,
  H_ORIGIN_TOPIC,
  H_PRIORITY,
  H_TRUNCATED,
  headerNumber,
  headerString,
} from './headers.ts';
export {
  type ActorAddress,
  actorAddress,
  type LeaseSlot,
  leaseSlot,
  type WorkerId,
  workerId,
} from './ids.ts';
export { pendingRecords } from './lag.ts';
export type { LeaseCounters } from './lease/lease-metrics.ts';
export type { LeasingFaults } from './lease/leasing.ts';
export type { LeaseView } from './lease/lessor.ts';
export { parseBound, type RecordBound, type RecordOptions, recordTopic } from './replay/record.ts';
// `runWorkerProcess` and `loadApps` (they bring the kafkajs transport) are in `@dirigo/runtime/process`.
export {
  encodeRecordLine,
  parseRecordLine,
  type RecordedRecord,
  readRecordFile,
} from './replay/record-file.ts';
export { type ReplayOptions, replayRecords } from './replay/replay.ts';
export {
  type AppSnapshot,
  type ArrivalDecision,
  BUILTIN_POLICIES,
  type CompletionInfo,
  createPolicy,
  DEFAULT_CLASS_WEIGHTS,
  type HistogramSummary,
  type PeerLoad,
  type PolicyFactory,
  type PolicyOptions,
  type QueueView,
  registeredPolicies,
  registerPolicy,
  type ScheduledMessage,
  type SchedulerSnapshot,
  type SchedulingPolicy,
  type SendDecision,
  type SendTarget,
  unregisterPolicy,
  type WorkerView,
} from './scheduler/index.ts';
export { type CellAddress, type ChangelogKey, decodeChangelogKey } from './state/cell-key.ts';
export type { TracingOptions } from './trace/tracing.ts';
export {
  type AppStats,
  type AppStatus,
  type SchedulerOptions,
  type StopProgress,
  Worker,
  type WorkerHealth,
  type WorkerOptions,
  type WorkerState,
} from './worker.ts';
