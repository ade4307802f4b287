// TLS and SASL for the platformatic transport: the shared settings (`KafkaSecurity`, checked by `resolveSecurity`
// in @dirigo/core) mapped onto @platformatic/kafka's `tls` / `sasl`, the facts of a failed first connection read
// from the client's error tree, and a TLS probe for the one failure the client reports without its cause: a
// broker that rejects the client's certificate (or its absence) after the handshake closes the connection, and
// the client says only "Connection closed".
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import {
  diagnoseConnectionFailure,
  isClientCertificateAlert,
  isNotTlsFailure,
  type ResolvedSecurity,
  type SecurityDiagnosis,
} from '@dirigo/core';
import type { SASLOptions } from '@platformatic/kafka';
import { errorTree } from './errors.ts';

/** @platformatic/kafka's `tls` and `sasl` settings for resolved security settings. */
export function platformaticSecurity(security: ResolvedSecurity): {
  tls?: ConnectionOptions;
  sasl?: SASLOptions;
} {
  const s = security.sasl;
  let sasl: SASLOptions | undefined;
  if (s?.mechanism === 'oauthbearer') {
    sasl = { mechanism: 'OAUTHBEARER', token: s.token };
  } else if (s !== undefined) {
    // The client names the mechanisms as Kafka does: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.
    const mechanism = s.mechanism.toUpperCase() as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
    sasl = { mechanism, username: s.username, password: s.password };
  }
  return {
    ...(security.tls === undefined ? {} : { tls: security.tls }),
    ...(sasl === undefined ? {} : { sasl }),
  };
}

const BROKER_IN_MESSAGE = /^Connection to (\S+:\d+) failed\.$/;

/**
 * Explains a failed connection (the client's error tree) as a TLS or SASL problem, or returns undefined when it
 * is something else (a broker down, a timeout). `alertCode` is what `tlsAlert` found, when the client reported a
 * TLS connection closed without saying why. Never includes a secret.
 */
export function diagnoseSecurityFailure(
  error: unknown,
  security: ResolvedSecurity,
  alertCode?: string,
): SecurityDiagnosis | undefined {
  const tree = errorTree(error);
  const messages = tree.map((e) => e.message ?? '');
  const broker = messages.map((m) => BROKER_IN_MESSAGE.exec(m)?.[1]).find((b) => b !== undefined);
  const codes: (string | undefined)[] = tree.map((e) => e.code);
  if (alertCode !== undefined) codes.push(alertCode);
  const rejected = tree.find((e) => e.apiId === 'SASL_AUTHENTICATION_FAILED');
  const mechanism = tree.find((e) => e.apiId === 'UNSUPPORTED_SASL_MECHANISM');
  const usesTls = security.tls !== undefined;
  return diagnoseConnectionFailure(
    {
      ...(broker === undefined ? {} : { broker }),
      detail: messages.at(-1) ?? String(error),
      codes,
      ...(rejected === undefined ? {} : { saslRejected: rejected.message ?? '' }),
      ...(mechanism === undefined ? {} : { unsupportedMechanism: mechanism.message ?? '' }),
      notTls: isNotTlsFailure(codes, messages),
      // The client's words when a plain connection meets a TLS listener (it sees a TLS record come back).
      closedRightAway:
        !usesTls && messages.some((m) => m === 'Broker requires TLS.' || m === 'Connection closed'),
    },
    security.description,
  );
}

/**
 * Whether the client reported a TLS connection closed without a cause: what it says when the broker rejects the
 * client's certificate (TLS 1.3 sends that alert after the handshake, which the client took as done).
 */
export function isBareTlsClose(error: unknown, security: ResolvedSecurity): boolean {
  if (security.tls === undefined) return false;
  const tree = errorTree(error);
  return (
    tree.some(
      (e) => e.message === 'Connection closed' || e.message === 'Connection closed while waiting for ready.',
    ) && !tree.some((e) => e.code !== undefined && !e.code.startsWith('PLT_KFK_'))
  );
}

/**
 * Opens one TLS connection to `broker` with `tls` and waits up to `waitMs` after the handshake for the broker's
 * alert. Resolves with the alert's error code when the broker rejects the client's certificate, else undefined.
 */
export function tlsAlert(
  broker: string,
  tls: ConnectionOptions,
  waitMs = 2_000,
): Promise<string | undefined> {
  const colon = broker.lastIndexOf(':');
  const host = broker.slice(0, colon);
  const port = Number(broker.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = tlsConnect({ ...tls, host, port });
    const done = (code: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    const timer = setTimeout(() => done(undefined), waitMs);
    socket.on('secureConnect', () => socket.resume());
    socket.on('error', (e: NodeJS.ErrnoException) =>
      done(isClientCertificateAlert(e.code) ? e.code : undefined),
    );
    socket.on('close', () => done(undefined));
  });
}
