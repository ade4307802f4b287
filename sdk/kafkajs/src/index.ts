// Public exports of @dirigo/kafkajs.
export { KafkajsTransport, type KafkajsTransportOptions } from './kafkajs-transport.ts';
export type { ReadToEndOptions } from './read-to-end.ts';
