// Unit tests of the platformatic side of the security options (no broker): their mapping onto the client's
// settings, and the diagnosis of failed connections from the error trees the client really builds (shapes taken
// from @platformatic/kafka 2.12.1 against Kafka 4.2: an aggregate "Cannot connect to any broker." over a
// NetworkError per broker, over the cause).
import { ConfigError, resolveSecurity } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { PlatformaticTransport } from './platformatic-transport.ts';
import { diagnoseSecurityFailure, isBareTlsClose, platformaticSecurity } from './security.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';

/** An error with the client's fields (`code`, `apiId`) and a cause. */
function err(message: string, fields: { code?: string; apiId?: string } = {}, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? {} : { cause }), fields);
}

/** The client's failed connection to one broker: MultipleErrors over NetworkError over `cause`. */
function connectFailure(cause: unknown): Error {
  const network = err('Connection to b:9093 failed.', { code: 'PLT_KFK_NETWORK' }, cause);
  return Object.assign(new AggregateError([network], 'Cannot connect to any broker.'), {
    code: 'PLT_KFK_MULTIPLE',
  });
}

describe('the platformatic mapping of the security settings', () => {
  it('names the mechanisms as the client does, keeps the token callback, passes TLS options as tls', async () => {
    const scram = platformaticSecurity(
      resolveSecurity({
        tls: { ca: CA },
        sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
      }),
    );
    expect(scram).toEqual({
      tls: { ca: [CA] },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' },
    });
    const oauth = platformaticSecurity(
      resolveSecurity({ sasl: { mechanism: 'oauthbearer', token: async () => 'jwt' } }),
    );
    expect(oauth.sasl?.mechanism).toBe('OAUTHBEARER');
    expect(await (oauth.sasl!.token as () => Promise<string>)()).toBe('jwt');
    expect(
      platformaticSecurity(
        resolveSecurity({
          protocol: 'SASL_PLAINTEXT',
          sasl: { mechanism: 'plain', username: 'u', password: 'p' },
        }),
      ),
    ).toEqual({ sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } });
  });

  it('is checked when the transport is created, and not mixed with the raw client options', () => {
    expect(
      () => new PlatformaticTransport({ brokers: 'b:9092', security: { protocol: 'SASL_SSL' } }),
    ).toThrow(ConfigError);
    expect(
      () =>
        new PlatformaticTransport({
          brokers: 'b:9092',
          security: { tls: {} },
          sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' },
        }),
    ).toThrow(/either `security` or the client's raw/);
  });
});

describe('diagnoseSecurityFailure (platformatic)', () => {
  const saslSsl = resolveSecurity({
    tls: { ca: CA },
    sasl: { mechanism: 'scram-sha-512', username: 'app', password: 'pass-secret' },
  });

  it('names a rejected password, the mechanism, the user and the broker, never the password', () => {
    const protocol = err('SASL authentication failed.', {
      code: 'PLT_KFK_PROTOCOL',
      apiId: 'SASL_AUTHENTICATION_FAILED',
    });
    const response = Object.assign(
      new AggregateError([protocol], 'Received response with error while executing API SaslAuthenticate(v2)'),
      { code: 'PLT_KFK_RESPONSE' },
    );
    const d = diagnoseSecurityFailure(
      connectFailure(err('SASL authentication failed.', { code: 'PLT_KFK_AUTHENTICATION' }, response)),
      saslSsl,
    );
    expect(d?.confidence).toBe('certain');
    expect(d?.message).toContain(
      'SASL authentication failed at b:9093 (mechanism SCRAM-SHA-512, user "app")',
    );
    expect(d?.message).toContain('KAFKA_SASL_PASSWORD');
    expect(d?.message).not.toContain('pass-secret');
  });

  it('names a mechanism the listener does not enable', () => {
    const protocol = err('The broker does not support the requested SASL mechanism.', {
      apiId: 'UNSUPPORTED_SASL_MECHANISM',
    });
    const d = diagnoseSecurityFailure(connectFailure(protocol), saslSsl);
    expect(d?.message).toContain('does not enable SASL mechanism SCRAM-SHA-512');
  });

  it('names an untrusted broker certificate and where to give the CA', () => {
    const d = diagnoseSecurityFailure(
      connectFailure(
        err('self-signed certificate in certificate chain', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      ),
      saslSsl,
    );
    expect(d?.confidence).toBe('certain');
    expect(d?.message).toContain("TLS: the broker's certificate at b:9093 is not trusted");
    expect(d?.message).toContain('KAFKA_SSL_CA_LOCATION');
  });

  it('reads a rejected client certificate from the TLS probe when the client says only "Connection closed"', () => {
    const closed = err('Connection closed', { code: 'PLT_KFK_NETWORK' });
    const mtls = resolveSecurity({ tls: { ca: CA, cert: CA, key: KEY } });
    expect(isBareTlsClose(closed, mtls)).toBe(true);
    expect(isBareTlsClose(closed, resolveSecurity(undefined))).toBe(false);
    expect(diagnoseSecurityFailure(closed, mtls)).toBe(undefined);
    expect(
      diagnoseSecurityFailure(closed, mtls, 'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_UNKNOWN')?.message,
    ).toContain('rejected the client certificate');
    expect(
      diagnoseSecurityFailure(closed, resolveSecurity({ tls: {} }), 'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE')
        ?.message,
    ).toContain('requires a client certificate');
  });

  it('suspects a protocol mismatch (to be confirmed by another attempt)', () => {
    const reset = err(
      'TLS handshake failed. Please verify the broker supports TLS.',
      { code: 'PLT_KFK_USER' },
      err('Client network socket disconnected before secure TLS connection was established', {
        code: 'ECONNRESET',
      }),
    );
    expect(diagnoseSecurityFailure(connectFailure(reset), saslSsl)).toMatchObject({ confidence: 'likely' });
    const plaintext = diagnoseSecurityFailure(
      err('Broker requires TLS.', { code: 'PLT_KFK_USER' }),
      resolveSecurity(undefined),
    );
    expect(plaintext).toMatchObject({ confidence: 'likely' });
    expect(plaintext?.message).toContain('closed the connection right away');
    expect(plaintext?.message).toContain('KAFKA_SECURITY_PROTOCOL');
  });

  it('leaves other failures (a broker down) to the retries', () => {
    const refused = connectFailure(err('connect ECONNREFUSED 127.0.0.1:9093', { code: 'ECONNREFUSED' }));
    expect(diagnoseSecurityFailure(refused, saslSsl)).toBe(undefined);
    expect(isBareTlsClose(refused, saslSsl)).toBe(false);
  });
});
