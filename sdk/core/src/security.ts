// TLS and SASL settings shared by every transport: the code options (`KafkaSecurity`), their checking and
// resolution with field-named errors, a description safe to log, and the diagnosis of a failed first connection
// (an untrusted certificate, a rejected password, a protocol mismatch) from facts each transport extracts from
// its client's errors, so that a worker stops at once with the cause instead of retrying for half a minute.
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, SecurityError } from './errors.ts';

/** Kafka's `security.protocol`: whether the connection uses TLS, SASL, both or neither. */
export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';

export const SECURITY_PROTOCOLS: readonly SecurityProtocol[] = [
  'PLAINTEXT',
  'SSL',
  'SASL_PLAINTEXT',
  'SASL_SSL',
];

/** PEM text (one or more `-----BEGIN ...` blocks), as a string or bytes. */
export type Pem = string | Buffer;

/** TLS settings (Kafka's `ssl.*`). */
export interface KafkaTlsOptions {
  /**
   * Certificate(s) of the CA that signed the brokers' certificates, PEM. Default: Node's bundled public CAs
   * (enough for a cloud service whose certificates a public CA signed).
   */
  readonly ca?: Pem | readonly Pem[];
  /** The client's certificate chain, PEM, for mutual TLS. Needs `key`. */
  readonly cert?: Pem;
  /** The client's private key, PEM. Needs `cert`. */
  readonly key?: Pem;
  /** Passphrase of an encrypted `key`. */
  readonly keyPassword?: string;
  /**
   * Check that the broker's certificate was issued for the host name (or IP) the client connects to, as
   * Kafka's `ssl.endpoint.identification.algorithm=https` does. Default true. `false` still checks the chain.
   */
  readonly verifyHostname?: boolean;
}

/** SASL settings: a user and password, or for OAUTHBEARER a callback that returns a token. */
export type KafkaSaslOptions =
  | {
      readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
      readonly username: string;
      readonly password: string;
    }
  | {
      readonly mechanism: 'oauthbearer';
      /**
       * Returns a current token (a JWT from your identity provider). Called at each connection and before
       * the broker's session lifetime ends (the client re-authenticates), so cache and refresh it yourself.
       */
      readonly token: () => string | Promise<string>;
    };

/**
 * How the transport secures its connections.
 *
 * @example
 * new KafkajsTransport({
 *   brokers: 'kafka-1.example.com:9093',
 *   security: {
 *     protocol: 'SASL_SSL',
 *     tls: { ca: readFileSync('/etc/kafka/ca.pem') },
 *     sasl: { mechanism: 'scram-sha-512', username: 'app', password: process.env.KAFKA_SASL_PASSWORD! },
 *   },
 * });
 */
export interface KafkaSecurity {
  /**
   * Default: `SASL_SSL` when `sasl` is set, else `SSL` when `tls` is set, else `PLAINTEXT`. SASL without TLS
   * (`SASL_PLAINTEXT`) must be asked for explicitly: it sends PLAIN passwords in clear text.
   */
  readonly protocol?: SecurityProtocol;
  readonly tls?: KafkaTlsOptions;
  readonly sasl?: KafkaSaslOptions;
}

/** SASL settings after checking: the mechanism in lower case, a user and password or a token callback. */
export type ResolvedSasl = KafkaSaslOptions;

/**
 * A checked `KafkaSecurity`, in terms any client takes: Node's `tls.connect` options and the SASL settings, and
 * what to say about it in logs and errors. Each transport maps it onto its client's own options.
 */
export interface ResolvedSecurity {
  readonly protocol: SecurityProtocol;
  /** Node's `tls.connect` options; present exactly when the protocol uses TLS. */
  readonly tls?: ConnectionOptions;
  readonly sasl?: ResolvedSasl;
  /** Safe to log: no password, key or token. */
  readonly description: SecurityDescription;
}

export interface SecurityDescription {
  readonly protocol: SecurityProtocol;
  readonly mechanism?: string;
  readonly username?: string;
  readonly ca?: 'given' | 'system';
  readonly clientCertificate?: boolean;
  readonly verifyHostname?: boolean;
}

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

function isPem(value: unknown): value is Pem {
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) return false;
  return value.toString('utf8').includes('-----BEGIN ');
}

function checkPem(field: string, value: unknown, what: string): void {
  if (!isPem(value)) {
    throw new ConfigError(field, `must be ${what} in PEM form (text starting with "-----BEGIN ")`);
  }
}

/**
 * Checks `security` and resolves it (the protocol from the settings given, TLS options for Node). Throws `ConfigError` naming the field
 * (`security.protocol`, `security.tls.cert`, `security.sasl.password`, ...) and the fix.
 */
export function resolveSecurity(security: KafkaSecurity | undefined): ResolvedSecurity {
  const s = security ?? {};
  const protocol: SecurityProtocol = s.protocol ?? (s.sasl ? 'SASL_SSL' : s.tls ? 'SSL' : 'PLAINTEXT');
  if (!SECURITY_PROTOCOLS.includes(protocol)) {
    throw new ConfigError(
      'security.protocol',
      `must be one of ${SECURITY_PROTOCOLS.join(', ')}, got ${JSON.stringify(protocol)}`,
    );
  }
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  if (s.tls !== undefined && !usesTls) {
    throw new ConfigError(
      'security.tls',
      `TLS settings are given but the protocol is ${protocol}: use SSL or SASL_SSL, or drop them`,
    );
  }
  if (s.sasl !== undefined && !usesSasl) {
    throw new ConfigError(
      'security.sasl',
      `SASL settings are given but the protocol is ${protocol}: use SASL_SSL (or SASL_PLAINTEXT), or drop them`,
    );
  }
  if (usesSasl && s.sasl === undefined) {
    throw new ConfigError(
      'security.sasl',
      `protocol ${protocol} needs SASL settings: a mechanism with a user name and password, or OAUTHBEARER with a token callback`,
    );
  }

  const description: {
    -readonly [K in keyof SecurityDescription]: SecurityDescription[K];
  } = { protocol };
  let tlsOptions: ConnectionOptions | undefined;
  if (usesTls) {
    const tls = s.tls ?? {};
    const options: ConnectionOptions = {};
    if (tls.ca !== undefined) {
      const list = Array.isArray(tls.ca) ? tls.ca : [tls.ca];
      if (list.length === 0) throw new ConfigError('security.tls.ca', 'is an empty list');
      list.forEach((c, i) => {
        checkPem(Array.isArray(tls.ca) ? `security.tls.ca[${i}]` : 'security.tls.ca', c, 'a CA certificate');
      });
      options.ca = list as Pem[];
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw new ConfigError(
        tls.cert === undefined ? 'security.tls.cert' : 'security.tls.key',
        'mutual TLS needs both the client certificate (cert) and its private key (key)',
      );
    }
    if (tls.cert !== undefined) {
      checkPem('security.tls.cert', tls.cert, 'a certificate');
      checkPem('security.tls.key', tls.key, 'a private key');
      options.cert = tls.cert;
      options.key = tls.key as Pem;
      if (tls.keyPassword !== undefined) options.passphrase = tls.keyPassword;
    } else if (tls.keyPassword !== undefined) {
      throw new ConfigError('security.tls.keyPassword', 'is set but there is no client key');
    }
    const verify = tls.verifyHostname ?? true;
    if (typeof verify !== 'boolean') {
      throw new ConfigError('security.tls.verifyHostname', 'must be true or false');
    }
    // The chain is still checked; only the name is not.
    if (!verify) options.checkServerIdentity = () => undefined;
    tlsOptions = options;
    description.ca = tls.ca === undefined ? 'system' : 'given';
    description.clientCertificate = tls.cert !== undefined;
    description.verifyHostname = verify;
  }

  let sasl: ResolvedSasl | undefined;
  if (usesSasl && s.sasl !== undefined) {
    const mechanism = String(s.sasl.mechanism).toLowerCase() as (typeof MECHANISMS)[number];
    if (!MECHANISMS.includes(mechanism)) {
      throw new ConfigError(
        'security.sasl.mechanism',
        `must be one of plain, scram-sha-256, scram-sha-512, oauthbearer, got ${JSON.stringify(s.sasl.mechanism)}`,
      );
    }
    description.mechanism = mechanism.toUpperCase();
    if (mechanism === 'oauthbearer') {
      const token = (s.sasl as { token?: unknown }).token;
      if (typeof token !== 'function') {
        throw new ConfigError(
          'security.sasl.token',
          'OAUTHBEARER needs a callback that returns a token: { mechanism: "oauthbearer", token: async () => jwt }',
        );
      }
      sasl = { mechanism, token: token as () => string | Promise<string> };
    } else {
      const { username, password } = s.sasl as { username?: unknown; password?: unknown };
      if (typeof username !== 'string' || username === '') {
        throw new ConfigError('security.sasl.username', `SASL ${description.mechanism} needs a user name`);
      }
      if (typeof password !== 'string' || password === '') {
        throw new ConfigError('security.sasl.password', `SASL ${description.mechanism} needs a password`);
      }
      sasl = { mechanism, username, password };
      description.username = username;
    }
  }

  return {
    protocol,
    ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
    ...(sasl === undefined ? {} : { sasl }),
    description,
  };
}

/** A client's own TLS and SASL options, passed through unchecked: what a diagnosis needs to know of them. */
export interface RawSecurityOptions {
  /** Node's `tls.connect` options, or true for TLS with the defaults. */
  readonly tls?: ConnectionOptions | boolean;
  readonly sasl?: { readonly mechanism: unknown; readonly username?: unknown };
}

/**
 * A transport's security: `security` checked and resolved, or, when the client's own options were given instead,
 * what a failed connection's diagnosis needs to know about them. Both at once is a `ConfigError`; `rawNames`
 * names the raw options in it (e.g. "raw kafkajs `ssl` / `sasl`").
 */
export function transportSecurity(
  security: KafkaSecurity | undefined,
  raw: RawSecurityOptions,
  rawNames: string,
): ResolvedSecurity {
  if (security !== undefined) {
    if (raw.tls !== undefined || raw.sasl !== undefined) {
      throw new ConfigError('security', `give either \`security\` or the ${rawNames} options, not both`);
    }
    return resolveSecurity(security);
  }
  const usesTls = raw.tls !== undefined && raw.tls !== false;
  const sasl = raw.sasl;
  const protocol: SecurityProtocol = sasl
    ? usesTls
      ? 'SASL_SSL'
      : 'SASL_PLAINTEXT'
    : usesTls
      ? 'SSL'
      : 'PLAINTEXT';
  const options = typeof raw.tls === 'object' ? raw.tls : {};
  return {
    protocol,
    ...(usesTls ? { tls: options } : {}),
    description: {
      protocol,
      ...(sasl ? { mechanism: String(sasl.mechanism).toUpperCase() } : {}),
      ...(sasl && typeof sasl.username === 'string' ? { username: sasl.username } : {}),
      ...(usesTls
        ? { ca: options.ca === undefined ? 'system' : 'given', clientCertificate: options.cert !== undefined }
        : {}),
    },
  };
}

/** TLS errors meaning "the broker's certificate is not trusted" (OpenSSL verification codes, as Node names them). */
const UNTRUSTED_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'INVALID_CA',
]);

/** TLS alerts from the broker meaning "your certificate is missing or not trusted". */
const CLIENT_CERT_ALERT =
  /ALERT_(BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE)/;

/** Whether a Node error code is a TLS alert about the client's certificate (sent by the broker). */
export function isClientCertificateAlert(code: string | undefined): boolean {
  return code !== undefined && CLIENT_CERT_ALERT.test(code);
}

/** What went wrong with a failed first connection, if it is a TLS or SASL problem. */
export interface SecurityDiagnosis {
  /**
   * `certain`: retrying cannot help (an untrusted certificate, a rejected password). `likely`: a mismatch of
   * protocol and listener, which a broker restarting at that moment could also cause, so it is confirmed by
   * trying again.
   */
  readonly confidence: 'certain' | 'likely';
  readonly message: string;
}

/** What a transport found in its client's error (and the errors it wraps) about a failed connection. */
export interface ConnectionFailureFacts {
  /** `host:port` of the broker, when the error says. */
  readonly broker?: string;
  /** The innermost error's message. */
  readonly detail: string;
  /** Node's and OpenSSL's error codes anywhere in the chain (`SELF_SIGNED_CERT_IN_CHAIN`, `ECONNRESET`...). */
  readonly codes: readonly (string | undefined)[];
  /** The broker rejected the SASL credentials: the client's message for it. */
  readonly saslRejected?: string;
  /** The broker does not enable the SASL mechanism on this listener: the client's message for it. */
  readonly unsupportedMechanism?: string;
  /** A TLS connection was refused before TLS was established (the port does not speak TLS). */
  readonly notTls?: boolean;
  /** The broker closed a connection that does not use TLS right away (the listener expects TLS or SASL). */
  readonly closedRightAway?: boolean;
}

/**
 * Explains a failed connection as a TLS or SASL problem, or returns undefined when it is something else (a broker
 * down, a timeout). Never includes a secret: only the description's fields and the client's messages.
 */
export function diagnoseConnectionFailure(
  facts: ConnectionFailureFacts,
  d: SecurityDescription,
): SecurityDiagnosis | undefined {
  const at = facts.broker === undefined ? '' : ` at ${facts.broker}`;
  const detail = facts.detail.replace(/^Connection error: /, '').trim();
  if (facts.saslRejected !== undefined) {
    const who = d.username === undefined ? '' : `, user "${d.username}"`;
    const fix =
      d.mechanism === 'OAUTHBEARER'
        ? 'check the token your callback returns'
        : 'check the user name and password (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD) and that the user exists for this mechanism (KAFKA_SASL_MECHANISM)';
    return {
      confidence: 'certain',
      message: `SASL authentication failed${at} (mechanism ${d.mechanism ?? '?'}${who}): ${facts.saslRejected}; ${fix}`,
    };
  }
  if (facts.unsupportedMechanism !== undefined) {
    return {
      confidence: 'certain',
      message: `the broker${at} does not enable SASL mechanism ${d.mechanism ?? '?'} on this listener (${facts.unsupportedMechanism}); choose one it enables (KAFKA_SASL_MECHANISM)`,
    };
  }
  const untrusted = facts.codes.find((c) => c !== undefined && UNTRUSTED_CODES.has(c));
  if (untrusted !== undefined) {
    return {
      confidence: 'certain',
      message:
        `TLS: the broker's certificate${at} is not trusted (${detail}, ${untrusted}); ` +
        `give the certificate of the CA that signed it (KAFKA_SSL_CA_LOCATION, or security.tls.ca)` +
        (d.ca === 'given' ? ': the CA given did not sign it' : ': only the public CAs are trusted now'),
    };
  }
  if (facts.codes.includes('ERR_TLS_CERT_ALTNAME_INVALID')) {
    return {
      confidence: 'certain',
      message:
        `TLS: hostname verification failed${at} (${detail}); connect with a name the broker's certificate lists, ` +
        'or turn the check off (KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none, or security.tls.verifyHostname: false)',
    };
  }
  const alert = facts.codes.find(isClientCertificateAlert);
  if (alert !== undefined) {
    return {
      confidence: 'certain',
      message: d.clientCertificate
        ? `TLS: the broker${at} rejected the client certificate (${alert}); give a certificate signed by a CA the broker trusts (KAFKA_SSL_CERTIFICATE_LOCATION, KAFKA_SSL_KEY_LOCATION)`
        : `TLS: the broker${at} requires a client certificate (mutual TLS, ${alert}); give one (KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION, or security.tls.cert and key)`,
    };
  }
  const usesTls = d.protocol === 'SSL' || d.protocol === 'SASL_SSL';
  if (usesTls && facts.notTls) {
    return {
      confidence: 'likely',
      message:
        `TLS handshake failed${at} (${detail}): that port does not seem to speak TLS; check the port and the ` +
        `protocol (KAFKA_SECURITY_PROTOCOL=${d.protocol})`,
    };
  }
  if (!usesTls && facts.closedRightAway) {
    return {
      confidence: 'likely',
      message:
        `the broker${at} closed the connection right away: its listener probably expects ` +
        `${d.protocol === 'SASL_PLAINTEXT' ? 'TLS (SASL_SSL)' : 'TLS or SASL'}, but the client speaks ${d.protocol}; ` +
        'set the protocol of that listener (KAFKA_SECURITY_PROTOCOL)',
    };
  }
  return undefined;
}

/** Node's words for a TLS connection refused before TLS was established (the port speaks something else). */
export function isNotTlsFailure(
  codes: readonly (string | undefined)[],
  messages: readonly string[],
): boolean {
  return (
    codes.some((c) => c === 'ERR_SSL_WRONG_VERSION_NUMBER' || c === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') ||
    messages.some((m) => /before secure TLS connection was established/.test(m))
  );
}

/** Pauses before the connection check tries again after a failure that only suggests a protocol mismatch. */
const CONNECTION_CHECK_RETRY_MS = [1000, 2000] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A transport's check before its first connection: `attempt` connects once without retries (and cleans up after
 * itself); when that fails for a TLS or SASL reason (`diagnose`), this rejects with a `SecurityError` naming it. A
 * `certain` cause fails at once; a `likely` one (a protocol mismatch, which a broker restarting could also cause)
 * only when two more attempts, 1 s and 2 s later, fail the same way. Any other failure resolves: it is left to
 * the clients' own retries.
 */
export async function checkFirstConnection(
  attempt: () => Promise<void>,
  diagnose: (error: unknown) => SecurityDiagnosis | undefined | Promise<SecurityDiagnosis | undefined>,
): Promise<void> {
  let likely: { diagnosis: SecurityDiagnosis; error: unknown } | undefined;
  for (let n = 0; n <= CONNECTION_CHECK_RETRY_MS.length; n++) {
    if (n > 0) await sleep(CONNECTION_CHECK_RETRY_MS[n - 1]!);
    try {
      await attempt();
      return;
    } catch (error) {
      const diagnosis = await diagnose(error);
      if (diagnosis === undefined) return;
      if (diagnosis.confidence === 'certain') throw new SecurityError(diagnosis.message, { cause: error });
      likely = { diagnosis, error };
    }
  }
  throw new SecurityError(likely!.diagnosis.message, { cause: likely!.error });
}
