// Unit tests of the security options (no broker): one test per resolution rule, and the diagnosis of failed
// connections from the errors kafkajs really throws (shapes taken from kafkajs 2.2.4 against Kafka 4.2).
import { ConfigError } from '@dirigo/core';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkajsTransport } from './kafkajs-transport.ts';
import { diagnoseSecurityFailure, type KafkaSecurity, resolveSecurity } from './security.ts';

// kafkajs's typings lack these constructors' arguments (and the closed-connection error altogether).
const { KafkaJSConnectionError, KafkaJSConnectionClosedError, KafkaJSSASLAuthenticationError } =
  kafkajs as unknown as {
    KafkaJSSASLAuthenticationError: new (message: string) => Error;
    KafkaJSConnectionError: new (message: string, options: object) => Error;
    KafkaJSConnectionClosedError: new (message: string, options: object) => Error;
  };
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';

function configError(security: KafkaSecurity): ConfigError {
  try {
    resolveSecurity(security);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveSecurity', () => {
  it('is PLAINTEXT with nothing set', () => {
    expect(resolveSecurity(undefined)).toEqual({
      protocol: 'PLAINTEXT',
      description: { protocol: 'PLAINTEXT' },
    });
  });

  it('defaults the protocol to SASL_SSL with SASL settings and to SSL with only TLS settings', () => {
    const sasl = resolveSecurity({ sasl: { mechanism: 'plain', username: 'u', password: 'p' } });
    expect(sasl.protocol).toBe('SASL_SSL');
    expect(sasl.ssl).toEqual({});
    expect(sasl.sasl).toEqual({ mechanism: 'plain', username: 'u', password: 'p' });
    expect(resolveSecurity({ tls: { ca: CA } }).protocol).toBe('SSL');
  });

  it('takes SASL_PLAINTEXT only when asked, without TLS', () => {
    const r = resolveSecurity({
      protocol: 'SASL_PLAINTEXT',
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    });
    expect(r.ssl).toBeUndefined();
    expect(r.sasl?.mechanism).toBe('scram-sha-256');
  });

  it('rejects an unknown protocol', () => {
    expect(configError({ protocol: 'TLS' as never }).field).toBe('security.protocol');
  });

  it('rejects TLS settings with a protocol without TLS, and SASL settings with one without SASL', () => {
    expect(configError({ protocol: 'SASL_PLAINTEXT', tls: { ca: CA } }).field).toBe('security.tls');
    expect(
      configError({ protocol: 'SSL', sasl: { mechanism: 'plain', username: 'u', password: 'p' } }).field,
    ).toBe('security.sasl');
  });

  it('needs SASL settings for a SASL protocol', () => {
    expect(configError({ protocol: 'SASL_SSL' }).field).toBe('security.sasl');
  });

  it('needs PEM for the CA, the certificate and the key', () => {
    expect(configError({ tls: { ca: '/etc/ca.pem' } }).field).toBe('security.tls.ca');
    expect(configError({ tls: { ca: [CA, 'x'] } }).field).toBe('security.tls.ca[1]');
    expect(configError({ tls: { cert: CA, key: 'secret' } }).field).toBe('security.tls.key');
    expect(configError({ tls: { ca: [] } }).field).toBe('security.tls.ca');
  });

  it('needs the client certificate and key together, and a key for a key password', () => {
    expect(configError({ tls: { cert: CA } }).field).toBe('security.tls.key');
    expect(configError({ tls: { key: KEY } }).field).toBe('security.tls.cert');
    expect(configError({ tls: { keyPassword: 'x' } }).field).toBe('security.tls.keyPassword');
    const r = resolveSecurity({ tls: { ca: CA, cert: CA, key: KEY, keyPassword: 'pw' } });
    expect(r.ssl).toMatchObject({ ca: [CA], cert: CA, key: KEY, passphrase: 'pw' });
    expect(r.description).toMatchObject({ ca: 'given', clientCertificate: true });
  });

  it('checks host names by default; verifyHostname: false skips only the name check', () => {
    expect(resolveSecurity({ tls: {} }).ssl?.checkServerIdentity).toBeUndefined();
    const off = resolveSecurity({ tls: { verifyHostname: false } });
    expect(off.ssl?.checkServerIdentity?.('other.host', {} as never)).toBeUndefined();
    expect(off.ssl?.rejectUnauthorized).toBeUndefined();
    expect(off.description.verifyHostname).toBe(false);
  });

  it('rejects an unknown mechanism and a missing user or password', () => {
    expect(configError({ sasl: { mechanism: 'gssapi' as never, username: 'u', password: 'p' } }).field).toBe(
      'security.sasl.mechanism',
    );
    expect(configError({ sasl: { mechanism: 'plain', username: '', password: 'p' } }).field).toBe(
      'security.sasl.username',
    );
    expect(configError({ sasl: { mechanism: 'plain', username: 'u', password: '' } }).field).toBe(
      'security.sasl.password',
    );
  });

  it('turns an OAUTHBEARER token callback into kafkajs provider, and needs a function', async () => {
    const r = resolveSecurity({ sasl: { mechanism: 'oauthbearer', token: async () => 'jwt' } });
    const sasl = r.sasl as { oauthBearerProvider: () => Promise<{ value: string }> };
    expect(await sasl.oauthBearerProvider()).toEqual({ value: 'jwt' });
    expect(configError({ sasl: { mechanism: 'oauthbearer', token: 'jwt' as never } }).field).toBe(
      'security.sasl.token',
    );
  });

  it('describes the settings without any secret', () => {
    const r = resolveSecurity({
      tls: { ca: CA, cert: CA, key: KEY, keyPassword: 'key-secret' },
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: 'pass-secret' },
    });
    const text = JSON.stringify(r.description);
    expect(r.description).toEqual({
      protocol: 'SASL_SSL',
      mechanism: 'SCRAM-SHA-512',
      username: 'app',
      ca: 'given',
      clientCertificate: true,
      verifyHostname: true,
    });
    expect(text).not.toContain('secret');
    expect(text).not.toContain('PRIVATE KEY');
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
