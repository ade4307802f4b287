// TLS and SASL settings of a worker process, from `dirigo worker` flags and environment variables named as
// Kafka users know them (librdkafka's `security.protocol`, `sasl.mechanism`, `ssl.ca.location`, ... with
// `KAFKA_` in front, upper case, `_` for `.`). A flag wins over its variable. Files are read here, so that a
// wrong path is a `ConfigError` naming the flag or variable, before anything connects. Secrets (passwords,
// keys) never appear in an error message.
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '@dirigo/core';
import type { KafkaSaslOptions, KafkaSecurity, KafkaTlsOptions, SecurityProtocol } from '@dirigo/kafkajs';

interface Setting {
  /** The `dirigo worker` flag (without `--`), if there is one. */
  readonly flag?: string;
  readonly env: string;
}

/**
 * Every security setting, its flag and its variable. Passwords have no flag of their own (a command line is
 * visible to every user of the machine): give them in a variable or a file.
 */
export const SECURITY_SETTINGS = {
  protocol: { flag: 'security-protocol', env: 'KAFKA_SECURITY_PROTOCOL' },
  mechanism: { flag: 'sasl-mechanism', env: 'KAFKA_SASL_MECHANISM' },
  username: { flag: 'sasl-username', env: 'KAFKA_SASL_USERNAME' },
  password: { env: 'KAFKA_SASL_PASSWORD' },
  passwordFile: { flag: 'sasl-password-file', env: 'KAFKA_SASL_PASSWORD_FILE' },
  caLocation: { flag: 'ssl-ca-location', env: 'KAFKA_SSL_CA_LOCATION' },
  certificateLocation: { flag: 'ssl-certificate-location', env: 'KAFKA_SSL_CERTIFICATE_LOCATION' },
  keyLocation: { flag: 'ssl-key-location', env: 'KAFKA_SSL_KEY_LOCATION' },
  keyPassword: { env: 'KAFKA_SSL_KEY_PASSWORD' },
  keyPasswordFile: { flag: 'ssl-key-password-file', env: 'KAFKA_SSL_KEY_PASSWORD_FILE' },
  endpointIdentification: {
    flag: 'ssl-endpoint-identification-algorithm',
    env: 'KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM',
  },
} as const satisfies Record<string, Setting>;

type SettingName = keyof typeof SECURITY_SETTINGS;

/** The flags, in `node:util` `parseArgs` form, to spread into a command's options. */
export const SECURITY_FLAGS: Readonly<Record<string, { type: 'string' }>> = Object.fromEntries(
  Object.values(SECURITY_SETTINGS as Record<string, Setting>)
    .filter((s) => s.flag !== undefined)
    .map((s) => [s.flag!, { type: 'string' as const }]),
);

/** Usage lines of the security flags, for a command's help. */
export const SECURITY_USAGE = `  TLS and SASL (each flag also as an environment variable; the flag wins):
  --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL            KAFKA_SECURITY_PROTOCOL
  --sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512                   KAFKA_SASL_MECHANISM
  --sasl-username NAME                                                 KAFKA_SASL_USERNAME
  --sasl-password-file PATH     (or the password itself in)            KAFKA_SASL_PASSWORD(_FILE)
  --ssl-ca-location PEM         CA that signed the brokers' certificates KAFKA_SSL_CA_LOCATION
  --ssl-certificate-location PEM, --ssl-key-location PEM (mutual TLS)  KAFKA_SSL_CERTIFICATE_LOCATION, _KEY_LOCATION
  --ssl-key-password-file PATH  (or the passphrase itself in)          KAFKA_SSL_KEY_PASSWORD(_FILE)
  --ssl-endpoint-identification-algorithm https|none (default https)  KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM`;

/** A setting's value and the name to blame for it (`--flag` or the variable). */
interface Found {
  readonly value: string;
  readonly name: string;
}

const MECHANISMS: Readonly<Record<string, 'plain' | 'scram-sha-256' | 'scram-sha-512'>> = {
  PLAIN: 'plain',
  'SCRAM-SHA-256': 'scram-sha-256',
  'SCRAM-SHA-512': 'scram-sha-512',
};

const PROTOCOLS: readonly SecurityProtocol[] = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

function readText(found: Found, what: string): string {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(found.value);
  } catch (e) {
    throw new ConfigError(
      found.name,
      `cannot read ${what} ${found.value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!stat.isFile()) throw new ConfigError(found.name, `${found.value} is not a file (${what} expected)`);
  try {
    return readFileSync(found.value, 'utf8');
  } catch (e) {
    throw new ConfigError(
      found.name,
      `cannot read ${what} ${found.value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function readPem(found: Found, label: RegExp, what: string): string {
  const text = readText(found, what);
  if (!label.test(text)) {
    throw new ConfigError(found.name, `${found.value} does not hold ${what} in PEM form ("-----BEGIN ...")`);
  }
  return text;
}

/**
 * Reads the security settings from flags (as `parseArgs` returns them) and the environment. Returns
 * undefined when none is set (PLAINTEXT). Without a protocol, SASL settings mean SASL_SSL and TLS files SSL.
 * Throws `ConfigError` naming the flag or variable: an unknown protocol or mechanism, OAUTHBEARER (it needs a
 * token callback in code), a missing or unreadable file, a file that is not PEM, a user without a password,
 * TLS files with a protocol without TLS.
 */
export function securityFromSettings(
  flags: Readonly<Record<string, unknown>>,
  env: NodeJS.ProcessEnv,
): KafkaSecurity | undefined {
  const get = (name: SettingName): Found | undefined => {
    const s: Setting = SECURITY_SETTINGS[name];
    const flag = s.flag === undefined ? undefined : flags[s.flag];
    if (typeof flag === 'string') {
      if (flag.trim() === '') throw new ConfigError(`--${s.flag}`, 'is empty');
      return { value: flag.trim(), name: `--${s.flag}` };
    }
    const value = env[s.env];
    if (value === undefined || value.trim() === '') return undefined;
    // Passwords keep their spaces; everything else is trimmed.
    return { value: name === 'password' || name === 'keyPassword' ? value : value.trim(), name: s.env };
  };
  const secret = (inline: SettingName, file: SettingName, what: string): Found | undefined => {
    const a = get(inline);
    const b = get(file);
    if (a && b) throw new ConfigError(b.name, `give the ${what} either in ${a.name} or in a file, not both`);
    if (b) {
      const text = readText(b, `the ${what} file`).replace(/\r?\n$/, '');
      if (text === '') throw new ConfigError(b.name, `${b.value} is empty`);
      return { value: text, name: b.name };
    }
    return a;
  };

  const protocolSetting = get('protocol');
  const mechanismSetting = get('mechanism');
  const username = get('username');
  const password = secret('password', 'passwordFile', 'SASL password');
  const ca = get('caLocation');
  const cert = get('certificateLocation');
  const key = get('keyLocation');
  const keyPassword = secret('keyPassword', 'keyPasswordFile', 'key passphrase');
  const endpoint = get('endpointIdentification');

  let protocol: SecurityProtocol | undefined;
  if (protocolSetting) {
    const upper = protocolSetting.value.toUpperCase() as SecurityProtocol;
    if (!PROTOCOLS.includes(upper)) {
      throw new ConfigError(
        protocolSetting.name,
        `must be one of ${PROTOCOLS.join(', ')}, got "${protocolSetting.value}"`,
      );
    }
    protocol = upper;
  }

  const saslGiven = [mechanismSetting, username, password].find((f) => f !== undefined);
  const tlsGiven = [ca, cert, key, keyPassword, endpoint].find((f) => f !== undefined);
  if (!protocol && !saslGiven && !tlsGiven) return undefined;
  const effective: SecurityProtocol = protocol ?? (saslGiven ? 'SASL_SSL' : 'SSL');
  const usesTls = effective === 'SSL' || effective === 'SASL_SSL';
  const usesSasl = effective === 'SASL_PLAINTEXT' || effective === 'SASL_SSL';
  const protocolName = protocolSetting?.name ?? SECURITY_SETTINGS.protocol.env;

  if (tlsGiven && !usesTls) {
    throw new ConfigError(
      protocolName,
      `is ${effective}, but ${tlsGiven.name} is a TLS setting: use SSL or SASL_SSL`,
    );
  }
  if (saslGiven && !usesSasl) {
    throw new ConfigError(
      protocolName,
      `is ${effective}, but ${saslGiven.name} is a SASL setting: use SASL_SSL or SASL_PLAINTEXT`,
    );
  }

  let sasl: KafkaSaslOptions | undefined;
  if (usesSasl) {
    if (!mechanismSetting) {
      throw new ConfigError(
        SECURITY_SETTINGS.mechanism.env,
        `protocol ${effective} needs a SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (--sasl-mechanism or KAFKA_SASL_MECHANISM)`,
      );
    }
    const upper = mechanismSetting.value.toUpperCase();
    if (upper === 'OAUTHBEARER') {
      throw new ConfigError(
        mechanismSetting.name,
        'OAUTHBEARER needs a token callback in code: run the worker from a script with runWorkerProcess({ security: ' +
          "{ sasl: { mechanism: 'oauthbearer', token: async () => jwt } } }) (see docs/operations.md)",
      );
    }
    const mechanism = MECHANISMS[upper];
    if (mechanism === undefined) {
      throw new ConfigError(
        mechanismSetting.name,
        `must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (OAUTHBEARER only in code), got "${mechanismSetting.value}"`,
      );
    }
    if (!username) {
      throw new ConfigError(
        SECURITY_SETTINGS.username.env,
        `SASL ${upper} needs a user name (--sasl-username or KAFKA_SASL_USERNAME)`,
      );
    }
    if (!password) {
      throw new ConfigError(
        SECURITY_SETTINGS.password.env,
        `SASL ${upper} needs a password (KAFKA_SASL_PASSWORD, or a file in --sasl-password-file or KAFKA_SASL_PASSWORD_FILE)`,
      );
    }
    sasl = { mechanism, username: username.value, password: password.value };
  }

  let tls: KafkaTlsOptions | undefined;
  if (usesTls) {
    if ((cert === undefined) !== (key === undefined)) {
      const missing =
        cert === undefined ? SECURITY_SETTINGS.certificateLocation : SECURITY_SETTINGS.keyLocation;
      throw new ConfigError(
        missing.env,
        `mutual TLS needs both the client certificate and its key (--${missing.flag} or ${missing.env} is missing)`,
      );
    }
    if (keyPassword && !key) {
      throw new ConfigError(keyPassword.name, 'is set but there is no client key (KAFKA_SSL_KEY_LOCATION)');
    }
    let verifyHostname = true;
    if (endpoint) {
      const v = endpoint.value.toLowerCase();
      if (v !== 'https' && v !== 'none') {
        throw new ConfigError(
          endpoint.name,
          `must be https (check the broker's host name, the default) or none, got "${endpoint.value}"`,
        );
      }
      verifyHostname = v === 'https';
    }
    tls = {
      ...(ca ? { ca: readPem(ca, /-----BEGIN CERTIFICATE-----/, 'a CA certificate') } : {}),
      ...(cert ? { cert: readPem(cert, /-----BEGIN CERTIFICATE-----/, 'a certificate') } : {}),
      ...(key ? { key: readPem(key, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key') } : {}),
      ...(keyPassword ? { keyPassword: keyPassword.value } : {}),
      verifyHostname,
    };
  }

  return {
    protocol: effective,
    ...(tls ? { tls } : {}),
    ...(sasl ? { sasl } : {}),
  };
}
