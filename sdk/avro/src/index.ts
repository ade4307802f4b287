// Public exports of @dirigo/avro, chosen by hand.

/** An Avro schema as JSON (avsc's `Schema`). */
export type { Schema as AvroSchema } from 'avsc';
export { type AvroOptions, type AvroSerde, avro, avroKey } from './avro-serde.ts';
export {
  type ConfluentRegistryOptions,
  confluentRegistry,
  MemoryRegistry,
  type RegistryClient,
  registryUrl,
} from './registry.ts';
export { frame, schemaIdOf } from './wire.ts';
