// Unit tests of the shared security settings (no broker): one test per resolution rule.
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { type KafkaSecurity, resolveSecurity } from './security.ts';

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
    expect(sasl.tls).toEqual({});
    expect(sasl.sasl).toEqual({ mechanism: 'plain', username: 'u', password: 'p' });
    expect(resolveSecurity({ tls: { ca: CA } }).protocol).toBe('SSL');
  });

  it('takes SASL_PLAINTEXT only when asked, without TLS', () => {
    const r = resolveSecurity({
      protocol: 'SASL_PLAINTEXT',
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    });
    expect(r.tls).toBeUndefined();
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
    expect(r.tls).toMatchObject({ ca: [CA], cert: CA, key: KEY, passphrase: 'pw' });
    expect(r.description).toMatchObject({ ca: 'given', clientCertificate: true });
  });

  it('checks host names by default; verifyHostname: false skips only the name check', () => {
    expect(resolveSecurity({ tls: {} }).tls?.checkServerIdentity).toBeUndefined();
    const off = resolveSecurity({ tls: { verifyHostname: false } });
    expect(off.tls?.checkServerIdentity?.('other.host', {} as never)).toBeUndefined();
    expect(off.tls?.rejectUnauthorized).toBeUndefined();
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

  it('keeps an OAUTHBEARER token callback, and needs a function', async () => {
    const r = resolveSecurity({ sasl: { mechanism: 'oauthbearer', token: async () => 'jwt' } });
    expect(r.sasl?.mechanism).toBe('oauthbearer');
    expect(await (r.sasl as { token: () => Promise<string> }).token()).toBe('jwt');
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
});
