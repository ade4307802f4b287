// Public exports of @dirigo/platformatic.
export {
  type GroupProtocol,
  PlatformaticTransport,
  type PlatformaticTransportOptions,
} from './platformatic-transport.ts';
export type { ReadToEndOptions } from './read-to-end.ts';
export {
  type FetchedPartition,
  type FetchRoundOptions,
  type FetchTarget,
  fetchRound,
  type MetadataClient,
} from './fetch.ts';
export {
  type ProduceEncoder,
  ProducerWithClientApis,
  ProducerWithOwnEncoder,
  Partitioner,
  packRecordChunks,
  produceEncoderOf,
  producerClassFor,
} from './producer.ts';
