// Unit tests of the secured broker's configuration (pure: no broker, no keytool).
import { describe, expect, it } from 'vitest';
import { nodePorts } from './config.ts';
import {
  clientEnvironment,
  scramFormatArgs,
  secureBootstrap,
  securePorts,
  securityProperties,
} from './secure-config.ts';
import { keytoolCommands, TLS_FILES } from './tls-material.ts';

const credentials = { username: 'dirigo', password: 'f00d' };

describe('secured listeners', () => {
  it('puts SASL_SSL, SSL and SASL_PLAINTEXT after the PLAINTEXT and CONTROLLER ports of each node', () => {
    const [one] = nodePorts(1, 19_892);
    expect(securePorts(one!)).toEqual({ saslSsl: 19_894, ssl: 19_895, saslPlaintext: 19_896 });
    expect(secureBootstrap(nodePorts(3), 'ssl')).toBe('127.0.0.1:19095,127.0.0.1:29095,127.0.0.1:39095');
  });

  it('configures the listeners, the stores, client authentication and the SASL login modules', () => {
    const [node] = nodePorts(1);
    const p = securityProperties({
      node: node!,
      credentials,
      keystore: '/t/broker.p12',
      truststore: '/t/truststore.p12',
      storePassword: 'sp',
    });
    expect(p.get('listeners')).toBe(
      'PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,SASL_SSL://127.0.0.1:19094,SSL://127.0.0.1:19095,SASL_PLAINTEXT://127.0.0.1:19096',
    );
    expect(p.get('advertised.listeners')).not.toContain('CONTROLLER');
    expect(p.get('listener.security.protocol.map')).toContain('SASL_SSL:SASL_SSL');
    expect(p.get('sasl.enabled.mechanisms')).toBe('PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER');
    expect(p.get('listener.name.ssl.ssl.client.auth')).toBe('required');
    expect(p.get('ssl.keystore.location')).toBe('/t/broker.p12');
    expect(p.get('listener.name.sasl_ssl.plain.sasl.jaas.config')).toContain('user_dirigo="f00d"');
    expect(p.get('listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config')).toContain(
      'ScramLoginModule',
    );
    // The inter-broker and controller traffic stays on PLAINTEXT.
    expect(p.has('inter.broker.listener.name')).toBe(false);
    // ACLs are enforced; the PLAINTEXT/CONTROLLER principal, the user and the client certificate are super users.
    expect(p.get('authorizer.class.name')).toBe('org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    expect(p.get('allow.everyone.if.no.acl.found')).toBe('false');
    expect(p.get('super.users')).toBe('User:ANONYMOUS;User:dirigo;User:CN=dirigo-client');
  });

  it('creates the SCRAM users for both hashes at format time', () => {
    expect(scramFormatArgs(credentials, { username: 'r', password: 'be' })).toEqual([
      '--add-scram',
      'SCRAM-SHA-256=[name=dirigo,password="f00d"]',
      '--add-scram',
      'SCRAM-SHA-512=[name=dirigo,password="f00d"]',
      '--add-scram',
      'SCRAM-SHA-256=[name=r,password="be"]',
      '--add-scram',
      'SCRAM-SHA-512=[name=r,password="be"]',
    ]);
    expect(() => scramFormatArgs({ username: 'a', password: 'x"y' })).toThrow(/unsupported character/);
  });

  it('writes client settings as the variables dirigo worker reads', () => {
    const common = {
      brokers: 'b:1',
      credentials,
      caLocation: '/t/ca.pem',
      certificateLocation: '/t/client.pem',
      keyLocation: '/t/client-key.pem',
    };
    expect(clientEnvironment({ mode: 'sasl_ssl', ...common })).toBe(
      'KAFKA_BROKERS=b:1\nKAFKA_SECURITY_PROTOCOL=SASL_SSL\nKAFKA_SSL_CA_LOCATION=/t/ca.pem\n' +
        'KAFKA_SASL_MECHANISM=SCRAM-SHA-256\nKAFKA_SASL_USERNAME=dirigo\nKAFKA_SASL_PASSWORD=f00d\n',
    );
    const ssl = clientEnvironment({ mode: 'ssl', ...common });
    expect(ssl).toContain('KAFKA_SSL_KEY_LOCATION=/t/client-key.pem\n');
    expect(ssl).not.toContain('SASL');
    expect(clientEnvironment({ mode: 'sasl_plaintext', ...common })).not.toContain('KAFKA_SSL');
  });
});

describe('keytool commands', () => {
  it('make a CA, a broker store valid for localhost, 127.0.0.1 and extra names, a trust store and client keys', () => {
    const commands = keytoolCommands('/t', 'pw', { hostnames: ['kafka', '10.0.0.5'] });
    const gencert = commands.filter((c) => c[0] === '-gencert');
    expect(gencert).toHaveLength(2);
    expect(gencert[0]).toContain('SAN=dns:localhost,ip:127.0.0.1,dns:kafka,ip:10.0.0.5');
    expect(commands[0]).toEqual(expect.arrayContaining(['-alias', 'ca', '-ext', 'bc:c']));
    const exported = commands.filter((c) => c[0] === 'exportkey').map((c) => c[4]);
    expect(exported).toEqual([`/t/${TLS_FILES.clientKey}`, `/t/${TLS_FILES.untrustedKey}`]);
    // Every store is PKCS12 with the one password.
    for (const c of commands.filter((x) => x.includes('-keystore'))) {
      expect(c).toEqual(expect.arrayContaining(['-storetype', 'PKCS12', '-storepass', 'pw']));
    }
  });
});
