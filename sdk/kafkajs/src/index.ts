// Public exports of @dirigo/kafkajs. The kafkajs fix must load before kafkajs itself: keep it first.
import './kafkajs-patches.ts';

export { KafkajsTransport, type KafkajsTransportOptions } from './kafkajs-transport.ts';
export type { ReadToEndOptions } from './read-to-end.ts';
// The security settings, shared by both transports, as they were exported from here before they moved to core.
export {
  type KafkaSaslOptions,
  type KafkaSecurity,
  type KafkaTlsOptions,
  type Pem,
  type ResolvedSasl,
  type ResolvedSecurity,
  resolveSecurity,
  SECURITY_PROTOCOLS,
  type SecurityDescription,
  type SecurityProtocol,
} from '@dirigo/core';
