// Unit tests of the kafkajs side of the security options (no broker): their mapping onto kafkajs's settings, and
// the diagnosis of failed connections from the errors kafkajs really throws (shapes taken from kafkajs 2.2.4 against Kafka 4.2).
import { ConfigError, resolveSecurity } from '@dirigo/core';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkajsTransport } from './kafkajs-transport.ts';
import { diagnoseSecurityFailure, kafkajsSecurity } from './security.ts';

// kafkajs's typings lack these constructors' arguments (and the closed-connection error altogether).
const { KafkaJSConnectionError, KafkaJSConnectionClosedError, KafkaJSSASLAuthenticationError } =
  kafkajs as unknown as {
    KafkaJSSASLAuthenticationError: new (message: string) => Error;
    KafkaJSConnectionError: new (message: string, options: object) => Error;
    KafkaJSConnectionClosedError: new (message: string, options: object) => Error;
  };
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';

describe('the kafkajs mapping of the security settings', () => {
  it('turns an OAUTHBEARER token callback into a kafkajs provider, and passes TLS options as ssl', async () => {
    const mapped = kafkajsSecurity(
      resolveSecurity({ tls: { ca: CA }, sasl: { mechanism: 'oauthbearer', token: async () => 'jwt' } }),
    );
    const sasl = mapped.sasl as { oauthBearerProvider: () => Promise<{ value: string }> };
    expect(await sasl.oauthBearerProvider()).toEqual({ value: 'jwt' });
    expect(mapped.ssl).toEqual({ ca: [CA] });
    expect(
      kafkajsSecurity(resolveSecurity({ sasl: { mechanism: 'plain', username: 'u', password: 'p' } })).sasl,
    ).toEqual({ mechanism: 'plain', username: 'u', password: 'p' });
  });

  it('is checked when the transport is created, and not mixed with the raw kafkajs options', () => {
    expect(() => new KafkajsTransport({ brokers: 'b:9092', security: { protocol: 'SASL_SSL' } })).toThrow(
      ConfigError,
    );
    expect(() => new KafkajsTransport({ brokers: 'b:9092', security: { tls: {} }, ssl: true })).toThrow(
      /either `security` or the raw kafkajs/,
    );
  });
});

describe('diagnoseSecurityFailure', () => {
  const saslSsl = resolveSecurity({
    tls: { ca: CA },
    sasl: { mechanism: 'scram-sha-256', username: 'app', password: 'pass-secret' },
  });
  const connectionError = (message: string, code: string) =>
    new KafkaJSConnectionError(`Connection error: ${message}`, { broker: 'b:9093', code });

  it('names a rejected password, the mechanism and the user, never the password', () => {
    const d = diagnoseSecurityFailure(
      new KafkaJSSASLAuthenticationError('SASL SCRAM SHA256 authentication failed: invalid credentials'),
      saslSsl,
    );
    expect(d?.confidence).toBe('certain');
    expect(d?.message).toContain('SASL authentication failed (mechanism SCRAM-SHA-256, user "app")');
    expect(d?.message).toContain('KAFKA_SASL_PASSWORD');
    expect(d?.message).not.toContain('pass-secret');
  });

  it('names an untrusted broker certificate and where to give the CA', () => {
    const d = diagnoseSecurityFailure(
      connectionError('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'),
      saslSsl,
    );
    expect(d?.confidence).toBe('certain');
    expect(d?.message).toContain("TLS: the broker's certificate at b:9093 is not trusted");
    expect(d?.message).toContain('KAFKA_SSL_CA_LOCATION');
  });

  it('names a failed hostname verification and how to turn it off', () => {
    const d = diagnoseSecurityFailure(
      connectionError("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'),
      saslSsl,
    );
    expect(d?.message).toContain('hostname verification failed');
    expect(d?.message).toContain('KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none');
  });

  it('tells a missing client certificate from a rejected one', () => {
    const alert = connectionError('ssl/tls alert bad certificate', 'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE');
    expect(diagnoseSecurityFailure(alert, resolveSecurity({ tls: {} }))?.message).toContain(
      'requires a client certificate',
    );
    expect(
      diagnoseSecurityFailure(alert, resolveSecurity({ tls: { cert: CA, key: KEY } }))?.message,
    ).toContain('rejected the client certificate');
  });

  it('suspects a protocol mismatch (to be confirmed by another attempt)', () => {
    const reset = connectionError(
      'Client network socket disconnected before secure TLS connection was established',
      'ECONNRESET',
    );
    expect(diagnoseSecurityFailure(reset, saslSsl)).toMatchObject({ confidence: 'likely' });
    const closed = new KafkaJSConnectionClosedError('Closed connection', { host: 'b', port: 1 });
    const plaintext = diagnoseSecurityFailure(closed, resolveSecurity(undefined));
    expect(plaintext).toMatchObject({ confidence: 'likely' });
    expect(plaintext?.message).toContain('KAFKA_SECURITY_PROTOCOL');
  });

  it('leaves other failures (a broker down) to the retries', () => {
    expect(diagnoseSecurityFailure(connectionError('connect ECONNREFUSED', 'ECONNREFUSED'), saslSsl)).toBe(
      undefined,
    );
    expect(diagnoseSecurityFailure(new KafkaJSConnectionClosedError('Closed connection', {}), saslSsl)).toBe(
      undefined,
    );
  });
});
