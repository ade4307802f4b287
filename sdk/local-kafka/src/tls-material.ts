// Certificates for a secured local broker, made by the JDK's keytool at start: a throw-away CA, the broker's
// key store (signed by the CA, valid for localhost and 127.0.0.1), a trust store holding the CA (for mutual
// TLS), a client certificate signed by the CA, and a self-signed client certificate nobody trusts (for tests
// of a rejected client). Clients get PEM files; the broker gets PKCS12 stores.
//
// Every keytool call is a JVM start (about 1.3 s here), so all of them run in one JVM: a small Java program,
// launched from source, calls keytool's entry point once per command and then writes the client keys as PEM
// (keytool cannot export a private key). Source launch needs a JDK (javac), not only a JRE.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { javaCommand, run } from './tools.ts';

/** File names of the material, relative to its directory. */
export const TLS_FILES = {
  /** The CA's certificate, PEM: what clients trust. */
  ca: 'ca.pem',
  /** The broker's key store (key + chain), PKCS12. */
  brokerKeystore: 'broker.p12',
  /** The CA as a PKCS12 trust store, for the broker to check client certificates. */
  truststore: 'truststore.p12',
  /** A client certificate signed by the CA, PEM. */
  clientCert: 'client.pem',
  /** Its private key, PKCS8 PEM, unencrypted. */
  clientKey: 'client-key.pem',
  /** The same client key and certificate chain as a PKCS12 key store (password: the store password). */
  clientKeystore: 'client.p12',
  /** A self-signed client certificate that the broker does not trust, PEM. */
  untrustedCert: 'untrusted.pem',
  untrustedKey: 'untrusted-key.pem',
} as const;

export interface TlsMaterial {
  readonly dir: string;
  /** Password of every PKCS12 store here (random per material). */
  readonly storePassword: string;
  /** Absolute paths, see TLS_FILES. */
  readonly files: { readonly [K in keyof typeof TLS_FILES]: string };
}

export interface TlsMaterialOptions {
  /** Names the broker's certificate is valid for, besides localhost and 127.0.0.1. */
  readonly hostnames?: readonly string[];
  /** Validity in days (default 30). */
  readonly validityDays?: number;
}

const JAVA_CLASS = 'DirigoKeyTool';

/** The helper program: runs keytool commands (one per line, arguments separated by tabs) in one JVM. */
export const KEYTOOL_PROGRAM = `// Written by @dirigo/local-kafka: runs keytool commands in one JVM and exports private keys as PEM.
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.util.Base64;

public class ${JAVA_CLASS} {
  public static void main(String[] args) throws Exception {
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      if (line.isEmpty()) continue;
      String[] a = line.split("\\t");
      if (a[0].equals("exportkey")) {
        exportKey(a[1], a[2].toCharArray(), a[3], a[4]);
      } else {
        // Exits the JVM with keytool's status when a command fails.
        sun.security.tools.keytool.Main.main(a);
      }
    }
  }

  static void exportKey(String store, char[] password, String alias, String out) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(Path.of(store))) {
      ks.load(in, password);
    }
    Key key = ks.getKey(alias, password);
    String body = Base64.getMimeEncoder(64, "\\n".getBytes()).encodeToString(key.getEncoded());
    Files.writeString(Path.of(out), "-----BEGIN PRIVATE KEY-----\\n" + body + "\\n-----END PRIVATE KEY-----\\n");
  }
}
`;

/**
 * The keytool commands (and key exports) that make the material in `dir`, in order. Pure: the caller runs
 * them. EC P-256 keys: quick to generate, accepted by Java and Node alike.
 */
export function keytoolCommands(dir: string, password: string, opts: TlsMaterialOptions = {}): string[][] {
  const p = (name: string) => join(dir, name);
  const validity = String(opts.validityDays ?? 30);
  const san = ['dns:localhost', 'ip:127.0.0.1', ...(opts.hostnames ?? []).map(sanEntry)].join(',');
  const key = (store: string, alias: string, dname: string, ext: string[] = []) => [
    '-genkeypair',
    '-alias',
    alias,
    '-keyalg',
    'EC',
    '-groupname',
    'secp256r1',
    '-dname',
    dname,
    '-validity',
    validity,
    ...ext,
    '-keystore',
    p(store),
    '-storetype',
    'PKCS12',
    '-storepass',
    password,
  ];
  const store = (name: string) => ['-keystore', p(name), '-storetype', 'PKCS12', '-storepass', password];
  // A key pair in `name`, signed by the CA, with the CA and the signed certificate imported back.
  const signed = (name: string, alias: string, dname: string, pem: string, ext: string[]) => [
    key(name, alias, dname),
    ['-certreq', '-alias', alias, '-file', p(`${alias}.csr`), ...store(name)],
    [
      '-gencert',
      '-alias',
      'ca',
      '-infile',
      p(`${alias}.csr`),
      '-outfile',
      p(pem),
      '-rfc',
      '-validity',
      validity,
      ...ext,
      ...store('ca.p12'),
    ],
    ['-importcert', '-noprompt', '-trustcacerts', '-alias', 'ca', '-file', p(TLS_FILES.ca), ...store(name)],
    ['-importcert', '-alias', alias, '-file', p(pem), ...store(name)],
  ];
  return [
    key('ca.p12', 'ca', 'CN=Dirigo local CA', ['-ext', 'bc:c']),
    ['-exportcert', '-rfc', '-alias', 'ca', '-file', p(TLS_FILES.ca), ...store('ca.p12')],
    ...signed(TLS_FILES.brokerKeystore, 'broker', 'CN=localhost', 'broker.pem', ['-ext', `SAN=${san}`]),
    [
      '-importcert',
      '-noprompt',
      '-trustcacerts',
      '-alias',
      'ca',
      '-file',
      p(TLS_FILES.ca),
      ...store(TLS_FILES.truststore),
    ],
    ...signed(TLS_FILES.clientKeystore, 'client', 'CN=dirigo-client', TLS_FILES.clientCert, []),
    ['exportkey', p(TLS_FILES.clientKeystore), password, 'client', p(TLS_FILES.clientKey)],
    key('untrusted.p12', 'untrusted', 'CN=dirigo-untrusted-client'),
    [
      '-exportcert',
      '-rfc',
      '-alias',
      'untrusted',
      '-file',
      p(TLS_FILES.untrustedCert),
      ...store('untrusted.p12'),
    ],
    ['exportkey', p('untrusted.p12'), password, 'untrusted', p(TLS_FILES.untrustedKey)],
  ];
}

function sanEntry(name: string): string {
  return /^[\d.]+$/.test(name) || name.includes(':') ? `ip:${name}` : `dns:${name}`;
}

/** Makes the material in `dir` (created, mode 0700) with keytool; throws with keytool's output on failure. */
export async function makeTlsMaterial(dir: string, opts: TlsMaterialOptions = {}): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700);
  const password = randomBytes(12).toString('hex');
  const commands = keytoolCommands(dir, password, opts);
  for (const c of commands) {
    if (c.some((a) => a.includes('\t') || a.includes('\n')))
      throw new Error(`bad keytool argument in ${c[0]}`);
  }
  const program = join(dir, `${JAVA_CLASS}.java`);
  const script = join(dir, 'keytool-commands.tsv');
  await writeFile(program, KEYTOOL_PROGRAM);
  await writeFile(script, `${commands.map((c) => c.join('\t')).join('\n')}\n`, { mode: 0o600 });
  const r = await run(
    javaCommand(),
    [
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '--add-exports',
      'java.base/sun.security.tools.keytool=ALL-UNNAMED',
      program,
      script,
    ],
    { cwd: dir, timeoutMs: 120_000 },
  );
  if (r.code !== 0) {
    const noCompiler = /jdk\.compiler|Error: Could not find or load main class/.test(r.stderr);
    throw new Error(
      `making TLS certificates with keytool failed (exit ${String(r.code)})` +
        `${noCompiler ? ': a JDK (with javac) is needed, not only a JRE' : ''}:\n${r.stdout}\n${r.stderr}`.trim(),
    );
  }
  const files = Object.fromEntries(
    Object.entries(TLS_FILES).map(([k, v]) => [k, join(dir, v)]),
  ) as unknown as TlsMaterial['files'];
  return { dir, storePassword: password, files };
}
