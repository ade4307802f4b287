// Public exports of @dirigo/core, chosen by hand.

export {
  type AppDefinition,
  type AppOptions,
  type Context,
  defineApp,
  type EgressDefinition,
  type ErrorPolicy,
  type FunctionDefinition,
  fn,
  type IngressDefinition,
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
  SerdeError,
  TransportError,
  UnknownTopicError,
} from './errors.ts';
export { createLogger, type Logger, type LoggerOptions, silentLogger } from './logging.ts';
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
  type ResolvedFunction,
  type ResolvedIngress,
  type ResolvedOptions,
  type ResolvedState,
  resolveApp,
  resolveOptions,
} from './options.ts';
export { murmur2, partitionFor } from './partitioner.ts';
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
