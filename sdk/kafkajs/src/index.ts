// Public exports of @dirigo/kafkajs. The kafkajs fix must load before kafkajs itself: keep it first.
import './kafkajs-patches.ts';

export { KafkajsTransport, type KafkajsTransportOptions } from './kafkajs-transport.ts';
export type { ReadToEndOptions } from './read-to-end.ts';
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
} from './security.ts';
