// Public exports of @dirigo/core, chosen by hand.

export {
  type AppDefinition,
  type AppOptions,
  type Context,
  defineApp,
  type EgressDefinition,
  type ErrorPolicy,
  type EventTimeOptions,
  type FunctionDefinition,
  fn,
  type IngressDefinition,
  type LeasingOptions,
  type MapState,
  type MergeableState,
  type MessageOrigin,
  type PriorityClass,
  type ProcessingGuarantee,
  type SendOptions,
  type StateAccessors,
  type StateKind,
  type StateSpec,
  state,
  type ValueState,
} from './app.ts';
export {
  ConfigError,
  DirigoError,
  FencedError,
  isFenced,
  isRetriable,
  PartitionsRevokedError,
  SecurityError,
  SerdeError,
  TransportError,
  UnknownTopicError,
} from './errors.ts';
export {
  actorId,
  actorKeyBytes,
  DEFAULT_KEY_SERDE,
  isNullActor,
  type KeySerde,
  keys,
} from './keys.ts';
export {
  createLogger,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  logFormat,
  silentLogger,
} from './logging.ts';
export {
  type CheckMergeableOptions,
  checkMergeable,
  type Mergeable,
  merge,
  sameValue,
} from './mergeable.ts';
export {
  APP_DEFAULTS,
  type ResolvedApp,
  type ResolvedEgress,
  type ResolvedEventTime,
  type ResolvedFunction,
  type ResolvedIngress,
  type ResolvedLease,
  type ResolvedLeasing,
  type ResolvedOptions,
  type ResolvedState,
  resolveApp,
  resolveOptions,
} from './options.ts';
export { murmur2, partitionFor } from './partitioner.ts';
export { INTERNAL_TOPICS, MAX_PARTITION_BATCH_BYTES, recordBytes } from './record-batch.ts';
export { bytes, int64, json, type Serde, serdes, string } from './serde.ts';
export type {
  Admin,
  Consumer,
  ConsumerHandlers,
  ConsumerOptions,
  IncomingRecord,
  Isolation,
  OutgoingRecord,
  PartitionOffsets,
  Producer,
  ProducerOptions,
  ReadFrom,
  RecordBatch,
  RecordHeaders,
  TopicDescription,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
  Transaction,
  Transport,
} from './transport.ts';
