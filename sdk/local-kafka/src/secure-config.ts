// Pure configuration of a secured local broker: its extra listeners, the broker properties for TLS and SASL,
// the SCRAM credentials written at format time (KRaft bootstrap records), and the client settings as the
// environment variables `dirigo worker` reads. Unit-tested; nothing here touches the disk.
import { HOST, type NodePorts } from './config.ts';

/** Which listener `npm run kafka -- start --security <mode>` prints as the bootstrap servers. */
export type SecurityMode = 'sasl_ssl' | 'ssl' | 'sasl_plaintext';

export const SECURITY_MODES: readonly SecurityMode[] = ['sasl_ssl', 'ssl', 'sasl_plaintext'];

/** The SASL mechanisms a secured local broker enables on its SASL listeners. */
export const LOCAL_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;

/**
 * Ports of one node's secured listeners, after its PLAINTEXT port p and CONTROLLER port p+1:
 * SASL_SSL p+2, SSL p+3 (mutual TLS: a client certificate signed by the local CA is required),
 * SASL_PLAINTEXT p+4. The PLAINTEXT listener stays (the brokers and the controller use it).
 */
export interface SecurePorts {
  readonly saslSsl: number;
  readonly ssl: number;
  readonly saslPlaintext: number;
}

export function securePorts(node: NodePorts): SecurePorts {
  return { saslSsl: node.port + 2, ssl: node.port + 3, saslPlaintext: node.port + 4 };
}

/** Bootstrap servers of one kind of listener over every node. */
export function secureBootstrap(nodes: readonly NodePorts[], mode: SecurityMode): string {
  const pick = (p: SecurePorts) =>
    mode === 'sasl_ssl' ? p.saslSsl : mode === 'ssl' ? p.ssl : p.saslPlaintext;
  return nodes.map((n) => `${HOST}:${pick(securePorts(n))}`).join(',');
}

export interface LocalCredentials {
  /** One user, valid for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. */
  readonly username: string;
  readonly password: string;
}

/** The principal of the client certificate the local CA signs (`LocalSecurity.client`). */
export const LOCAL_CLIENT_CERT_PRINCIPAL = 'User:CN=dirigo-client';

/** The SCRAM user of a secured local broker whose rights are only the ACLs granted to it. */
export const LOCAL_RESTRICTED_USER = 'dirigo-restricted';

export interface SecurityPropertiesInput {
  readonly node: NodePorts;
  readonly credentials: LocalCredentials;
  readonly keystore: string;
  readonly truststore: string;
  readonly storePassword: string;
}

function jaasQuote(value: string): string {
  if (!/^[\w.@-]+$/.test(value))
    throw new Error(`unsupported character in a SASL user or password: ${value}`);
  return `"${value}"`;
}

/**
 * Properties that add the secured listeners to a node (applied over brokerProperties). OAUTHBEARER uses the
 * broker's default validator for unsigned tokens (`alg: none`, a `sub` claim): fine for a local broker, never
 * for production.
 */
export function securityProperties(input: SecurityPropertiesInput): Map<string, string> {
  const { node, credentials } = input;
  const s = securePorts(node);
  const listeners = [
    `PLAINTEXT://${HOST}:${node.port}`,
    `CONTROLLER://${HOST}:${node.controllerPort}`,
    `SASL_SSL://${HOST}:${s.saslSsl}`,
    `SSL://${HOST}:${s.ssl}`,
    `SASL_PLAINTEXT://${HOST}:${s.saslPlaintext}`,
  ];
  const plain =
    'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
    `user_${credentials.username}=${jaasQuote(credentials.password)};`;
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const oauth = 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;';
  const props = new Map<string, string>([
    ['listeners', listeners.join(',')],
    ['advertised.listeners', listeners.filter((l) => !l.startsWith('CONTROLLER')).join(',')],
    [
      'listener.security.protocol.map',
      'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT',
    ],
    ['sasl.enabled.mechanisms', LOCAL_SASL_MECHANISMS.join(',')],
    ['ssl.keystore.type', 'PKCS12'],
    ['ssl.keystore.location', input.keystore],
    ['ssl.keystore.password', input.storePassword],
    ['ssl.key.password', input.storePassword],
    ['ssl.truststore.type', 'PKCS12'],
    ['ssl.truststore.location', input.truststore],
    ['ssl.truststore.password', input.storePassword],
    ['listener.name.ssl.ssl.client.auth', 'required'],
    // ACLs are enforced, as on a managed cluster: a principal without an ACL for a resource is refused. The
    // PLAINTEXT and CONTROLLER listeners' principal (ANONYMOUS: brokers, controller, local tools), the user and the
    // client certificate are super users; `LOCAL_RESTRICTED_USER` has only the ACLs granted to it.
    ['authorizer.class.name', 'org.apache.kafka.metadata.authorizer.StandardAuthorizer'],
    ['allow.everyone.if.no.acl.found', 'false'],
    [
      'super.users',
      ['User:ANONYMOUS', `User:${credentials.username}`, LOCAL_CLIENT_CERT_PRINCIPAL].join(';'),
    ],
  ]);
  for (const listener of ['sasl_ssl', 'sasl_plaintext']) {
    props.set(`listener.name.${listener}.plain.sasl.jaas.config`, plain);
    props.set(`listener.name.${listener}.scram-sha-256.sasl.jaas.config`, scram);
    props.set(`listener.name.${listener}.scram-sha-512.sasl.jaas.config`, scram);
    props.set(`listener.name.${listener}.oauthbearer.sasl.jaas.config`, oauth);
  }
  return props;
}

/** `kafka-storage format` arguments that create SCRAM credentials (both hashes) in the cluster's bootstrap metadata. */
export function scramFormatArgs(...users: readonly LocalCredentials[]): string[] {
  return users.flatMap((credentials) => {
    const entry = `name=${credentials.username},password=${jaasQuote(credentials.password)}`;
    return ['--add-scram', `SCRAM-SHA-256=[${entry}]`, '--add-scram', `SCRAM-SHA-512=[${entry}]`];
  });
}

export interface ClientEnvInput {
  readonly mode: SecurityMode;
  readonly brokers: string;
  readonly credentials: LocalCredentials;
  readonly caLocation: string;
  readonly certificateLocation: string;
  readonly keyLocation: string;
}

/** Client settings for one listener as `KEY=value` lines (the variables `dirigo worker` reads). */
export function clientEnvironment(input: ClientEnvInput): string {
  const lines = [`KAFKA_BROKERS=${input.brokers}`, `KAFKA_SECURITY_PROTOCOL=${input.mode.toUpperCase()}`];
  if (input.mode !== 'sasl_plaintext') lines.push(`KAFKA_SSL_CA_LOCATION=${input.caLocation}`);
  if (input.mode === 'ssl') {
    lines.push(`KAFKA_SSL_CERTIFICATE_LOCATION=${input.certificateLocation}`);
    lines.push(`KAFKA_SSL_KEY_LOCATION=${input.keyLocation}`);
  } else {
    lines.push('KAFKA_SASL_MECHANISM=SCRAM-SHA-256');
    lines.push(`KAFKA_SASL_USERNAME=${input.credentials.username}`);
    lines.push(`KAFKA_SASL_PASSWORD=${input.credentials.password}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What a secured local cluster gives its clients: listeners, the CA, client certificates, a user. */
export interface LocalSecurity {
  /** Bootstrap servers of each secured listener kind (PLAINTEXT stays at `KafkaCluster.brokers`). */
  readonly bootstrap: { readonly [M in SecurityMode]: string };
  /** A user valid for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (random password per start); a super user. */
  readonly credentials: LocalCredentials;
  /**
   * A SCRAM user (SCRAM-SHA-256 and -512) that is no super user: ACLs are enforced (StandardAuthorizer, nothing
   * allowed without an ACL), so it may do only what ACLs granted to `User:<username>` allow. Grant them over the
   * PLAINTEXT listener (a super user).
   */
  readonly restrictedCredentials: LocalCredentials;
  /** Directory of the certificates (removed with the cluster's data). */
  readonly dir: string;
  /** The local CA's certificate (PEM): what clients must trust. */
  readonly caLocation: string;
  /** A client certificate (PEM) signed by the CA and its private key (PEM), for mutual TLS. */
  readonly client: { readonly certificateLocation: string; readonly keyLocation: string };
  /** A self-signed client certificate and key that the broker does not trust (for failure tests). */
  readonly untrustedClient: { readonly certificateLocation: string; readonly keyLocation: string };
  /** The client key and chain as a PKCS12 key store, and its password. */
  readonly clientKeystore: { readonly location: string; readonly password: string };
  /** Files of `KEY=value` client settings per mode (`set -a; . <file>` in a shell). */
  readonly envFiles: { readonly [M in SecurityMode]: string };
}
