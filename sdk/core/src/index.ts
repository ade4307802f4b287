// Public exports of @dirigo/core, chosen by hand.
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
export { murmur2, partitionFor } from './partitioner.ts';
