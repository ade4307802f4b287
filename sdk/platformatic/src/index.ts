// Public exports of @dirigo/platformatic.
export {
  type GroupProtocol,
  PlatformaticTransport,
  type PlatformaticTransportOptions,
  type ProduceEncoder,
} from './platformatic-transport.ts';
export type { ReadToEndOptions } from './read-to-end.ts';
export { ProducerWithOwnEncoder } from './producer.ts';
