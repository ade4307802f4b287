// Unit tests of the worker's security settings from flags and environment variables: one test per rule.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { SECURITY_FLAGS, SECURITY_USAGE, securityFromSettings } from './security-settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'dirigo-security-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA_TEXT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY_TEXT = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';
const CA = file('ca.pem', CA_TEXT);
const CERT = file('client.pem', CA_TEXT);
const KEY = file('client-key.pem', KEY_TEXT);
const NOT_PEM = file('ca.der', 'binary');
const PASSWORD_FILE = file('password', 'file-secret\n');

const flags = (...argv: string[]) =>
  parseArgs({ args: argv, options: { ...SECURITY_FLAGS }, strict: true }).values as Record<string, unknown>;

function fails(f: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigError {
  try {
    securityFromSettings(f, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('securityFromSettings', () => {
  it('is undefined (PLAINTEXT) when nothing is set; empty variables count as unset', () => {
    expect(securityFromSettings({}, {})).toBeUndefined();
    expect(
      securityFromSettings({}, { KAFKA_SECURITY_PROTOCOL: '', KAFKA_SASL_USERNAME: ' ' }),
    ).toBeUndefined();
  });

  it('reads SASL_SSL with SCRAM from the environment, case-insensitive names of protocol and mechanism', () => {
    expect(
      securityFromSettings(
        {},
        {
          KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
          KAFKA_SASL_MECHANISM: 'scram-sha-512',
          KAFKA_SASL_USERNAME: 'app',
          KAFKA_SASL_PASSWORD: ' spaced secret ',
          KAFKA_SSL_CA_LOCATION: CA,
        },
      ),
    ).toEqual({
      protocol: 'SASL_SSL',
      tls: { ca: CA_TEXT, verifyHostname: true },
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: ' spaced secret ' },
    });
  });

  it('reads mutual TLS from flags, and a flag wins over its variable', () => {
    const s = securityFromSettings(
      flags(
        '--security-protocol',
        'SSL',
        '--ssl-ca-location',
        CA,
        '--ssl-certificate-location',
        CERT,
        '--ssl-key-location',
        KEY,
        '--ssl-endpoint-identification-algorithm',
        'none',
      ),
      { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SSL_CA_LOCATION: '/nowhere' },
    );
    expect(s).toEqual({
      protocol: 'SSL',
      tls: { ca: CA_TEXT, cert: CA_TEXT, key: KEY_TEXT, verifyHostname: false },
    });
  });

  it('defaults the protocol to SASL_SSL with SASL settings and to SSL with only TLS settings', () => {
    expect(
      securityFromSettings(
        {},
        { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' },
      )?.protocol,
    ).toBe('SASL_SSL');
    expect(securityFromSettings({}, { KAFKA_SSL_CA_LOCATION: CA })?.protocol).toBe('SSL');
  });

  it('reads passwords from files (--sasl-password-file, KAFKA_SASL_PASSWORD_FILE), not both ways at once', () => {
    const env = { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' };
    const s = securityFromSettings(flags('--sasl-password-file', PASSWORD_FILE), env);
    expect(s?.sasl).toEqual({ mechanism: 'plain', username: 'u', password: 'file-secret' });
    expect(
      fails(flags('--sasl-password-file', PASSWORD_FILE), { ...env, KAFKA_SASL_PASSWORD: 'p' }).field,
    ).toBe('--sasl-password-file');
    expect(fails({}, { ...env, KAFKA_SASL_PASSWORD_FILE: join(dir, 'nope') }).message).toMatch(
      /^KAFKA_SASL_PASSWORD_FILE: cannot read the SASL password file .*ENOENT/,
    );
  });

  it('names the variable of an unknown protocol or mechanism', () => {
    expect(fails({}, { KAFKA_SECURITY_PROTOCOL: 'TLS' }).field).toBe('KAFKA_SECURITY_PROTOCOL');
    expect(fails(flags('--security-protocol', 'TLS'), {}).field).toBe('--security-protocol');
    expect(
      fails({}, { KAFKA_SASL_MECHANISM: 'GSSAPI', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }).field,
    ).toBe('KAFKA_SASL_MECHANISM');
  });

  it('explains that OAUTHBEARER needs a token callback in code', () => {
    const e = fails({}, { KAFKA_SASL_MECHANISM: 'OAUTHBEARER' });
    expect(e.field).toBe('KAFKA_SASL_MECHANISM');
    expect(e.message).toContain('token callback in code');
  });

  it('needs a mechanism, a user name and a password for a SASL protocol', () => {
    expect(fails({}, { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }).field).toBe('KAFKA_SASL_MECHANISM');
    expect(fails({}, { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_PASSWORD: 'p' }).field).toBe(
      'KAFKA_SASL_USERNAME',
    );
    expect(fails({}, { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' }).field).toBe(
      'KAFKA_SASL_PASSWORD',
    );
  });

  it('rejects TLS files with a protocol without TLS and SASL settings with one without SASL', () => {
    const tls = fails({}, { KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SSL_CA_LOCATION: CA });
    expect(tls.field).toBe('KAFKA_SECURITY_PROTOCOL');
    expect(tls.message).toContain('KAFKA_SSL_CA_LOCATION is a TLS setting');
    const sasl = fails(flags('--security-protocol', 'SSL', '--sasl-username', 'u'), {});
    expect(sasl.field).toBe('--security-protocol');
    expect(sasl.message).toContain('--sasl-username is a SASL setting');
  });

  it('names a missing, unreadable or non-PEM file', () => {
    expect(fails({}, { KAFKA_SSL_CA_LOCATION: join(dir, 'missing.pem') }).message).toMatch(
      /^KAFKA_SSL_CA_LOCATION: cannot read a CA certificate .*missing\.pem: ENOENT/,
    );
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    expect(fails(flags('--ssl-ca-location', sub), {}).message).toContain('is not a file');
    expect(fails({}, { KAFKA_SSL_CA_LOCATION: NOT_PEM }).message).toContain(
      'does not hold a CA certificate in PEM',
    );
    expect(fails({}, { KAFKA_SSL_CERTIFICATE_LOCATION: CERT, KAFKA_SSL_KEY_LOCATION: CA }).field).toBe(
      'KAFKA_SSL_KEY_LOCATION',
    );
  });

  it('needs the client certificate and key together, and a key for its passphrase', () => {
    expect(fails({}, { KAFKA_SSL_CERTIFICATE_LOCATION: CERT }).field).toBe('KAFKA_SSL_KEY_LOCATION');
    expect(fails({}, { KAFKA_SSL_KEY_LOCATION: KEY }).field).toBe('KAFKA_SSL_CERTIFICATE_LOCATION');
    expect(fails({}, { KAFKA_SSL_CA_LOCATION: CA, KAFKA_SSL_KEY_PASSWORD: 'x' }).field).toBe(
      'KAFKA_SSL_KEY_PASSWORD',
    );
    expect(
      securityFromSettings(
        {},
        { KAFKA_SSL_CERTIFICATE_LOCATION: CERT, KAFKA_SSL_KEY_LOCATION: KEY, KAFKA_SSL_KEY_PASSWORD: 'kp' },
      )?.tls?.keyPassword,
    ).toBe('kp');
  });

  it('accepts https or none for the endpoint identification algorithm', () => {
    expect(
      fails({}, { KAFKA_SSL_CA_LOCATION: CA, KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: 'dns' }).field,
    ).toBe('KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM');
    expect(
      securityFromSettings({}, { KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: 'HTTPS' })?.tls?.verifyHostname,
    ).toBe(true);
  });

  it('never puts a password into an error message', () => {
    const e = fails({}, { KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SASL_PASSWORD: 'pass-secret' });
    expect(e.message).not.toContain('pass-secret');
  });

  it('has a flag for every setting but the passwords, and documents each', () => {
    expect(Object.keys(SECURITY_FLAGS).sort()).toEqual([
      'sasl-mechanism',
      'sasl-password-file',
      'sasl-username',
      'security-protocol',
      'ssl-ca-location',
      'ssl-certificate-location',
      'ssl-endpoint-identification-algorithm',
      'ssl-key-location',
      'ssl-key-password-file',
    ]);
    for (const flag of Object.keys(SECURITY_FLAGS)) expect(SECURITY_USAGE).toContain(`--${flag}`);
  });
});
