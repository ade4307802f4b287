// TLS and SASL for the kafkajs transport: the shared settings (`KafkaSecurity`, checked by `resolveSecurity` in
// @dirigo/core) mapped onto kafkajs's `ssl` / `sasl`, and the facts of a failed first connection read from
// kafkajs's errors (an untrusted certificate, a rejected password), so that a worker stops at once with the
// cause instead of retrying "Connection error" for half a minute.
import type { ConnectionOptions } from 'node:tls';
import {
  diagnoseConnectionFailure,
  isNotTlsFailure,
  type ResolvedSecurity,
  type SecurityDiagnosis,
} from '@dirigo/core';
import type { SASLOptions } from 'kafkajs';
import { causeChain } from './errors.ts';

/** kafkajs's `ssl` and `sasl` settings for resolved security settings. */
export function kafkajsSecurity(security: ResolvedSecurity): {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
} {
  const s = security.sasl;
  let sasl: SASLOptions | undefined;
  if (s?.mechanism === 'oauthbearer') {
    const token = s.token;
    sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: await token() }) };
  } else if (s !== undefined) {
    sasl = { mechanism: s.mechanism, username: s.username, password: s.password } as SASLOptions;
  }
  return {
    ...(security.tls === undefined ? {} : { ssl: security.tls }),
    ...(sasl === undefined ? {} : { sasl }),
  };
}

/**
 * Explains a failed connection (kafkajs's error and its causes) as a TLS or SASL problem, or returns
 * undefined when it is something else (a broker down, a timeout). Never includes a secret.
 */
export function diagnoseSecurityFailure(
  error: unknown,
  security: ResolvedSecurity,
): SecurityDiagnosis | undefined {
  const chain = causeChain(error);
  const broker = chain.map((e) => (e as { broker?: unknown }).broker).find((b) => typeof b === 'string');
  const innermost = chain.at(-1);
  const codes = chain.map((e) => (typeof e.code === 'string' ? e.code : undefined));
  const sasl = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError');
  const mechanism = chain.find((e) => e.type === 'UNSUPPORTED_SASL_MECHANISM');
  return diagnoseConnectionFailure(
    {
      ...(typeof broker === 'string' ? { broker } : {}),
      detail: innermost?.message ?? String(error),
      codes,
      ...(sasl === undefined ? {} : { saslRejected: sasl.message ?? '' }),
      ...(mechanism === undefined ? {} : { unsupportedMechanism: mechanism.message ?? '' }),
      notTls: isNotTlsFailure(
        codes,
        chain.map((e) => e.message ?? ''),
      ),
      closedRightAway: chain.some((e) => e.name === 'KafkaJSConnectionClosedError'),
    },
    security.description,
  );
}
