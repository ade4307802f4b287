// TLS and SASL on a real broker of its own (`startKafka({ security: true })`: SASL_SSL, SSL with required
// client certificates, SASL_PLAINTEXT; certificates made by keytool at start). The word-count app runs over
// each mechanism, through the three ways a user configures a worker: code options (in-process Worker),
// environment variables and `dirigo worker` flags (worker processes), on both transports (kafkajs and
// @platformatic/kafka). The failure cases must fail fast, name their cause, and never print a secret.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthorizationError, type KafkaSecurity, SecurityError, type Transport } from '@dirigo/core';
import { wordCountApp } from '@dirigo/example-word-count';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { PlatformaticTransport } from '@dirigo/platformatic';
import { fetchKafkaTools, type KafkaCluster, startKafka } from '@dirigo/local-kafka';
import {
  type AclBinding,
  kafkaAclsCommands,
  registerPolicy,
  unregisterPolicy,
  Worker,
  workerAcls,
} from '@dirigo/runtime';
import {
  Admin,
  AclOperations,
  AclPermissionTypes,
  ResourcePatternTypes,
  ResourceTypes,
} from '@platformatic/kafka';
import { waitFor } from '@dirigo/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clicksApp, forwardHot, hotClicks, leasingPair, startLeasing } from './clicks-app.ts';
import { produceJson, readJson, testLogger, unique } from './harness.ts';
import { TRANSPORT_NAMES, type TransportName } from './transports.ts';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../sdk/runtime/src/cli.ts');
const appModule = join(here, 'word-count-app.ts');

// Away from the shared broker and the other suites' own brokers; the secured listeners take base+2..+4.
const BASE_PORT = 19_892;

let cluster: KafkaCluster;
let plain: KafkajsTransport;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  cluster = await startKafka({ nodes: 1, basePort: BASE_PORT, security: true });
  plain = new KafkajsTransport({ brokers: cluster.brokers, clientId: 'it-security-setup' });
}, 180_000);

afterAll(async () => {
  await plain?.close();
  await cluster?.stop();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const sec = () => cluster.security!;
const pem = (path: string) => readFileSync(path, 'utf8');

/** Fresh topics for one run of the app. */
async function scenario(prefix: string) {
  const ns = unique(prefix);
  const s = { ns, lines: `${ns}-lines`, counts: `${ns}-counts` };
  await (await plain.admin()).createTopics([{ name: s.lines, partitions: 2 }]);
  return s;
}

type Scenario = Awaited<ReturnType<typeof scenario>>;

/** Feeds lines (over PLAINTEXT) and waits until the counts the app wrote are the expected ones. */
async function feedAndCheck(
  s: Scenario,
  lines: readonly string[] = ['the cat', 'the dog', 'a cat and the bird'],
  expected: Readonly<Record<string, number>> = { the: 3, cat: 2, dog: 1, a: 1, and: 1, bird: 1 },
): Promise<void> {
  const producer = plain.producer({ clientId: 'it-security-feeder' });
  await producer.connect();
  await producer.send(
    lines.map((line, i) => ({
      topic: s.lines,
      key: Buffer.from(`k${i}`),
      value: Buffer.from(line),
    })),
  );
  await producer.disconnect();
  await waitFor(
    async () => {
      const latest: Record<string, number> = {};
      for (const r of await readJson<{ word: string; count: number }>(plain, s.counts).catch(() => [])) {
        latest[r.value.word] = Math.max(latest[r.value.word] ?? 0, r.value.count);
      }
      return (
        JSON.stringify(Object.entries(latest).sort()) === JSON.stringify(Object.entries(expected).sort())
      );
    },
    90_000,
    { intervalMs: 250 },
  );
}

/** A transport of the kind named, with `security` (code options). */
function secured(
  name: TransportName,
  brokers: string,
  clientId: string,
  security: KafkaSecurity | undefined,
): Transport {
  const options = { brokers, clientId, logger: testLogger(), ...(security ? { security } : {}) };
  return name === 'kafkajs' ? new KafkajsTransport(options) : new PlatformaticTransport(options);
}

/** Runs the app in this process on a transport with `security` (code options). */
async function runInProcess(
  name: TransportName,
  prefix: string,
  brokers: string,
  security: KafkaSecurity,
): Promise<void> {
  const s = await scenario(prefix);
  const transport = secured(name, brokers, prefix, security);
  const worker = new Worker({
    transport,
    apps: [wordCountApp({ namespace: s.ns, linesTopic: s.lines, countsTopic: s.counts })],
    workerId: prefix,
    sessionTimeoutMs: 6000,
    logger: testLogger().child({ test: prefix }),
  });
  cleanups.push(async () => {
    await worker.stop();
    await transport.close();
  });
  await worker.start();
  await feedAndCheck(s);
}

interface WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

/**
 * Starts `dirigo worker` on the word-count app with these arguments and environment (no KAFKA_* inherited),
 * on the transport named.
 */
function spawnWorker(
  name: TransportName,
  s: Scenario,
  args: readonly string[],
  env: Record<string, string>,
  logLevel = 'info',
): WorkerProcess {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KAFKA_')));
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      cli,
      'worker',
      appModule,
      '--log-level',
      logLevel,
      '--session-timeout-ms',
      '6000',
      '--transport',
      name,
      ...args,
    ],
    {
      env: { ...inherited, WC_NAMESPACE: s.ns, WC_LINES: s.lines, WC_COUNTS: s.counts, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    child.kill('SIGKILL');
  });
  return { child, exited, output: () => out };
}

/** Runs the app in a worker process, checks the counts, stops it with SIGTERM (exit 0). */
async function runProcess(
  name: TransportName,
  prefix: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<string> {
  const s = await scenario(prefix);
  const w = spawnWorker(name, s, args, env);
  const failed = w.exited.then((code) => {
    throw new Error(`the worker exited early (${String(code)}):\n${w.output()}`);
  });
  await Promise.race([feedAndCheck(s), failed]);
  w.child.kill('SIGTERM');
  expect(await w.exited).toBe(0);
  // The transport asked for ran the app, under exactly-once v2 (offsets committed as the group member, over the
  // transport's own coordinator connection: kafkajs's for TxnOffsetCommit v3 and OffsetFetch v7) on both.
  expect(w.output()).toContain(`"transport":"${name}"`);
  expect(w.output()).toContain('"exactlyOnce":"v2"');
  return w.output();
}

describe.each(TRANSPORT_NAMES)('the word-count app over TLS and SASL (real broker, %s)', (name) => {
  it('SASL_SSL with SCRAM-SHA-256, configured by environment variables (dirigo worker)', async () => {
    const output = await runProcess(
      name,
      `it-sec-scram256-${name}`,
      ['--brokers', sec().bootstrap.sasl_ssl],
      {
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
        KAFKA_SASL_USERNAME: sec().credentials.username,
        KAFKA_SASL_PASSWORD: sec().credentials.password,
        KAFKA_SSL_CA_LOCATION: sec().caLocation,
        // Worker settings by environment too: the v1 fence and pipelined steps off (both on by default, see the
        // next case).
        DIRIGO_EXACTLY_ONCE_FENCE_V1: 'off',
        DIRIGO_PIPELINE_STEPS: 'off',
      },
    );
    expect(output).not.toContain(sec().credentials.password);
    expect(output).toContain('"fenceV1":false');
    expect(output).not.toContain('"fenceV1":true');
    expect(output).toContain('"pipelineSteps":false');
    expect(output).not.toContain('"pipelineSteps":true');
  });

  it('mutual TLS (SSL with a client certificate), configured by dirigo worker flags', async () => {
    const output = await runProcess(
      name,
      `it-sec-mtls-${name}`,
      [
        '--brokers',
        sec().bootstrap.ssl,
        '--security-protocol',
        'SSL',
        '--ssl-ca-location',
        sec().caLocation,
        '--ssl-certificate-location',
        sec().client.certificateLocation,
        '--ssl-key-location',
        sec().client.keyLocation,
        '--exactly-once-fence-v1',
        'on',
      ],
      { DIRIGO_EXACTLY_ONCE_FENCE_V1: 'off' },
    );
    // The flag wins over the variable.
    expect(output).toContain('"fenceV1":true');
    expect(output).toContain('"pipelineSteps":true');
  });

  it('SASL_SSL with SCRAM-SHA-512, configured in code', async () => {
    await runInProcess(name, `it-sec-scram512-${name}`, sec().bootstrap.sasl_ssl, {
      tls: { ca: pem(sec().caLocation) },
      sasl: { mechanism: 'scram-sha-512', ...sec().credentials },
    });
  });

  it('SASL_SSL with PLAIN, configured in code, hostname verification on', async () => {
    await runInProcess(name, `it-sec-plain-${name}`, sec().bootstrap.sasl_ssl, {
      protocol: 'SASL_SSL',
      tls: { ca: pem(sec().caLocation), verifyHostname: true },
      sasl: { mechanism: 'plain', ...sec().credentials },
    });
  });

  it('SASL_SSL with OAUTHBEARER through a token callback in code', async () => {
    let calls = 0;
    await runInProcess(name, `it-sec-oauth-${name}`, sec().bootstrap.sasl_ssl, {
      tls: { ca: pem(sec().caLocation) },
      sasl: {
        mechanism: 'oauthbearer',
        token: () => {
          calls++;
          return unsignedJwt('dirigo');
        },
      },
    });
    expect(calls).toBeGreaterThan(0);
  });
});

describe.each(TRANSPORT_NAMES)(
  'TLS and SASL failures fail fast and name the cause (real broker, %s)',
  (name) => {
    it('a wrong password: dirigo worker exits 1 within seconds, says SASL authentication failed, prints no secret', async () => {
      const s = await scenario(`it-sec-wrong-password-${name}`);
      const wrong = 'not-the-password-4711';
      const began = Date.now();
      // Debug logging on purpose: not even the client's debug lines may carry a secret.
      const w = spawnWorker(
        name,
        s,
        ['--brokers', sec().bootstrap.sasl_ssl],
        {
          KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
          KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
          KAFKA_SASL_USERNAME: sec().credentials.username,
          KAFKA_SASL_PASSWORD: wrong,
          KAFKA_SSL_CA_LOCATION: sec().caLocation,
        },
        'debug',
      );
      expect(await w.exited).toBe(1);
      const elapsed = Date.now() - began;
      const output = w.output();
      expect(output).toContain('SASL authentication failed');
      expect(output).toContain('SCRAM-SHA-512');
      expect(output).toContain('KAFKA_SASL_PASSWORD');
      expect(output).not.toContain(wrong);
      expect(output).not.toContain(sec().credentials.password);
      // Before: the client retried "Connection error" for about 23 s. Now one connection attempt, plus Node's start.
      expect(elapsed).toBeLessThan(15_000);
    });

    it('an untrusted broker certificate: dirigo worker exits 1 within seconds, naming the certificate and the CA setting', async () => {
      const s = await scenario(`it-sec-untrusted-${name}`);
      const began = Date.now();
      const w = spawnWorker(name, s, ['--brokers', sec().bootstrap.ssl, '--security-protocol', 'SSL'], {
        KAFKA_SSL_CERTIFICATE_LOCATION: sec().client.certificateLocation,
        KAFKA_SSL_KEY_LOCATION: sec().client.keyLocation,
      });
      expect(await w.exited).toBe(1);
      expect(Date.now() - began).toBeLessThan(15_000);
      expect(w.output()).toContain("the broker's certificate");
      expect(w.output()).toContain('is not trusted');
      expect(w.output()).toContain('KAFKA_SSL_CA_LOCATION');
    });

    it('a bad setting is a ConfigError naming the variable, before anything connects', async () => {
      const s = await scenario(`it-sec-config-${name}`);
      const w = spawnWorker(name, s, ['--brokers', sec().bootstrap.ssl], {
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CA_LOCATION: join(sec().dir, 'missing-ca.pem'),
      });
      // A bad setting is a usage error, as every bad flag or variable: exit 2.
      expect(await w.exited).toBe(2);
      expect(w.output()).toContain('KAFKA_SSL_CA_LOCATION: cannot read a CA certificate');
    });

    /** The error every connect of a transport with these settings rejects with, and how long it took. */
    async function failure(
      brokers: string,
      security: KafkaSecurity | undefined,
    ): Promise<{ error: unknown; ms: number }> {
      const transport = secured(name, brokers, 'it-sec-failure', security);
      cleanups.push(() => transport.close());
      const began = Date.now();
      const error = await transport.admin().then(
        () => undefined,
        (e: unknown) => e,
      );
      const ms = Date.now() - began;
      // A producer of the same transport gets the same answer, without a new attempt.
      const producer = transport.producer();
      await expect(producer.connect()).rejects.toBe(error);
      return { error, ms };
    }

    it('mutual TLS without a client certificate, and with one the broker does not trust', async () => {
      const none = await failure(sec().bootstrap.ssl, { tls: { ca: pem(sec().caLocation) } });
      expect(none.error).toBeInstanceOf(SecurityError);
      expect((none.error as Error).message).toContain('requires a client certificate');
      expect(none.ms).toBeLessThan(5_000);
      const untrusted = await failure(sec().bootstrap.ssl, {
        tls: {
          ca: pem(sec().caLocation),
          cert: pem(sec().untrustedClient.certificateLocation),
          key: pem(sec().untrustedClient.keyLocation),
        },
      });
      expect(untrusted.error).toBeInstanceOf(SecurityError);
      expect((untrusted.error as Error).message).toContain('rejected the client certificate');
      expect(untrusted.ms).toBeLessThan(5_000);
    });

    it('a PLAINTEXT client on a SASL_SSL listener, and TLS on a PLAINTEXT one', async () => {
      const plaintext = await failure(sec().bootstrap.sasl_ssl, undefined);
      expect(plaintext.error).toBeInstanceOf(SecurityError);
      expect((plaintext.error as Error).message).toContain('closed the connection right away');
      expect((plaintext.error as Error).message).toContain('KAFKA_SECURITY_PROTOCOL');
      expect(plaintext.ms).toBeLessThan(8_000);
      const tlsOnPlain = await failure(cluster.brokers, { tls: { ca: pem(sec().caLocation) } });
      expect(tlsOnPlain.error).toBeInstanceOf(SecurityError);
      expect((tlsOnPlain.error as Error).message).toContain('does not seem to speak TLS');
    });
  },
);

/** An unsigned JWT (`alg: none`), which the local broker's default OAUTHBEARER validator accepts. */
function unsignedJwt(subject: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none' })}.${b64({ sub: subject, iat: now, exp: now + 3600 })}.`;
}

/** The ALLOW entries of `acls` for `principal`, one per operation, as the admin API takes them. */
const allowEntries = (acls: readonly AclBinding[], principal: string) =>
  acls.flatMap((a) =>
    a.operations.map((operation) => ({
      resourceType: ResourceTypes[a.resourceType],
      resourceName: a.name,
      resourcePatternType: ResourcePatternTypes[a.patternType],
      principal,
      host: '*',
      operation: AclOperations[operation],
      permissionType: AclPermissionTypes.ALLOW,
    })),
  );

/**
 * Allows `acls` to `principal` (over the PLAINTEXT listener, whose principal is a super user), or with `revoke`
 * deletes them again.
 */
async function grant(acls: readonly AclBinding[], principal: string, revoke = false): Promise<void> {
  const admin = new Admin({ clientId: 'it-security-acls', bootstrapBrokers: cluster.brokers.split(',') });
  try {
    const entries = allowEntries(acls, principal);
    if (revoke) await admin.deleteAcls({ filters: entries });
    else await admin.createAcls({ creations: entries });
  } finally {
    await admin.close();
  }
}

describe.each(TRANSPORT_NAMES)(
  'a worker whose principal has only the ACLs `dirigo acls` lists; the broker refuses everything else (real broker, %s)',
  (name) => {
    const restricted = () => sec().restrictedCredentials;
    const principal = () => `User:${restricted().username}`;
    const restrictedSecurity = (): KafkaSecurity => ({
      protocol: 'SASL_PLAINTEXT',
      sasl: {
        mechanism: 'scram-sha-256',
        username: restricted().username,
        password: restricted().password,
      },
    });
    /** A transport of the restricted user (SCRAM over SASL_PLAINTEXT). */
    const restrictedTransport = (clientId: string) =>
      secured(name, sec().bootstrap.sasl_plaintext, clientId, restrictedSecurity());
    /** The same on the consumer group protocol (KIP-848; platformatic only). */
    const restrictedKip848Transport = (clientId: string) =>
      new PlatformaticTransport({
        brokers: sec().bootstrap.sasl_plaintext,
        clientId,
        logger: testLogger(),
        security: restrictedSecurity(),
        groupProtocol: 'consumer',
      });
    /**
     * The word-count app (two hops; exactly-once unless `guarantee` says otherwise) and its scenario, with a control
     * topic of its own.
     */
    const setUp = async (prefix: string, guarantee?: 'at_least_once') => {
      const s = await scenario(prefix);
      const wc = wordCountApp({ namespace: s.ns, linesTopic: s.lines, countsTopic: s.counts });
      const app = guarantee === undefined ? wc : { ...wc, options: { ...wc.options, guarantee } };
      return { s, app, controlTopic: `${s.ns}-control` };
    };
    const worker = (
      setup: Awaited<ReturnType<typeof setUp>>,
      workerId: string,
      transport: Transport = restrictedTransport(workerId),
    ) => {
      const w = new Worker({
        transport,
        apps: [setup.app],
        workerId,
        controlTopic: setup.controlTopic,
        sessionTimeoutMs: 6000,
        // Purges every second (the topic DELETE ACL), not every 30 s.
        purgeIntervalMs: 1000,
        logger: testLogger().child({ test: workerId }),
      });
      const stop = async () => {
        await w.stop();
        await transport.close();
      };
      cleanups.push(stop);
      return { w, stop };
    };

    it('runs the two-hop word count exactly once, and after a restart from the state in its changelogs', async () => {
      const setup = await setUp(`it-acl-${name}`);
      await grant(
        workerAcls([setup.app], { transport: name, controlTopic: setup.controlTopic }),
        principal(),
      );
      const first = worker(setup, `w-acl-${name}`);
      await first.w.start();
      await feedAndCheck(setup.s);
      await first.stop();
      // A new worker (nothing kept in memory) restores the counts from the changelogs: kafkajs reads them with
      // groups of its own (the read-to-end ACL).
      const second = worker(setup, `w-acl2-${name}`);
      await second.w.start();
      await feedAndCheck(setup.s, ['the cat'], { the: 4, cat: 3, dog: 1, a: 1, and: 1, bird: 1 });
    });

    it('runs the word count at least once with the list, which then has no transactional ids', async () => {
      const setup = await setUp(`it-acl-alo-${name}`, 'at_least_once');
      const acls = workerAcls([setup.app], { transport: name, controlTopic: setup.controlTopic });
      expect(acls.filter((a) => a.resourceType === 'TRANSACTIONAL_ID')).toEqual([]);
      await grant(acls, principal());
      const w = worker(setup, `w-acl-alo-${name}`);
      await w.w.start();
      await feedAndCheck(setup.s);
    });

    if (name === 'platformatic') {
      it('runs the word count exactly once with the list on the consumer group protocol (KIP-848)', async () => {
        const setup = await setUp(`it-acl-848-${name}`);
        await grant(
          workerAcls([setup.app], { transport: name, controlTopic: setup.controlTopic }),
          principal(),
        );
        const workerId = `w-acl-848-${name}`;
        const transport = restrictedKip848Transport(workerId);
        const w = worker(setup, workerId, transport);
        await w.w.start();
        await feedAndCheck(setup.s);
      });
    }

    if (name === 'kafkajs') {
      // kafkajs: its list is the longer one (the read-to-end groups too), so every form of command is run.
      it('the kafka-acls.sh commands `dirigo acls` prints, pasted into a shell, grant what the app needs', async () => {
        const setup = await setUp(`it-acl-cmd-${name}`);
        const acls = workerAcls([setup.app], { transport: name, controlTopic: setup.controlTopic });
        const commands = kafkaAclsCommands(acls, principal());
        // Kafka's own AclCommand (what kafka-acls.sh runs), from Maven Central like the broker.
        const tools = await fetchKafkaTools(cluster.version);
        const dir = mkdtempSync(join(tmpdir(), 'dirigo-acls-'));
        writeFileSync(join(dir, 'admin.properties'), ''); // the PLAINTEXT listener's principal is a super user
        const script = [
          'set -e',
          `kafka-acls.sh() { java -XX:TieredStopAtLevel=1 -cp '${tools.libsDir}/*' org.apache.kafka.tools.AclCommand "$@"; }`,
          ...commands,
        ].join('\n');
        const r = spawnSync('bash', ['-c', script], {
          cwd: dir,
          env: { ...process.env, BROKERS: cluster.brokers },
          encoding: 'utf8',
          timeout: 120_000,
        });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        // Each command added its binding (AclCommand prints what it adds). The app's own names are new; a binding an
        // earlier test granted the same principal (the kafkajs read-to-end groups) is there already, and AclCommand
        // then adds and prints nothing for it.
        const own = acls.filter((a) => a.name.startsWith(setup.s.ns));
        expect(own.length).toBe(acls.length - 1);
        for (const a of own) {
          expect(r.stdout).toContain(
            `Adding ACLs for resource \`ResourcePattern(resourceType=${a.resourceType}, name=${a.name}, patternType=${a.patternType})\``,
          );
        }
        const w = worker(setup, `w-acl-cmd-${name}`);
        await w.w.start();
        await feedAndCheck(setup.s);
      });
    }

    it('without READ on the input topic or on a group, the start fails naming it; refused v1 transactional ids are only skipped', async () => {
      const setup = await setUp(`it-acl-deny-${name}`);
      const all = workerAcls([setup.app], { transport: name, controlTopic: setup.controlTopic });
      const groupPrefix = `${setup.s.ns}.word-count.`;
      const isGroups = (a: AclBinding) => a.resourceType === 'GROUP' && a.name === groupPrefix;
      // The transactional ids of this worker only, not the v1 ids (<group>.<partition>) a v2 worker registers to
      // fence v1 workers: the broker refuses those, and the worker goes on without.
      const workerId = `w-acl-deny-${name}`;
      await grant(
        [
          ...all.filter(
            (a) => a.resourceType !== 'TRANSACTIONAL_ID' && a.name !== setup.s.lines && !isGroups(a),
          ),
          ...['split', 'count'].map((fn) => ({
            resourceType: 'TRANSACTIONAL_ID' as const,
            patternType: 'LITERAL' as const,
            name: `${groupPrefix}${fn}.${workerId}`,
            operations: ['WRITE' as const],
            why: 'this worker only',
          })),
        ],
        principal(),
      );
      const refusal = async () => {
        const refused = worker(setup, workerId);
        const error = await refused.w.start().then(
          () => undefined,
          (e: unknown) => e,
        );
        await refused.stop().catch(() => undefined);
        expect(error).toBeInstanceOf(AuthorizationError);
        return error as AuthorizationError;
      };
      const topic = await refusal();
      expect([topic.resource, topic.resourceName]).toEqual(['topic', setup.s.lines]);
      expect(topic.message).toContain('TOPIC_AUTHORIZATION_FAILED');
      await grant(
        all.filter((a) => a.name === setup.s.lines),
        principal(),
      );
      const group = await refusal();
      expect([group.resource, group.resourceName]).toEqual(['group', `${groupPrefix}split`]);
      expect(group.message).toContain('GROUP_AUTHORIZATION_FAILED');
      await grant(all.filter(isGroups), principal());
      const allowed = worker(setup, workerId);
      await allowed.w.start();
      await feedAndCheck(setup.s);
    });

    it.each(name === 'platformatic' ? (['classic', 'consumer'] as const) : (['classic'] as const))(
      'a group refused while the app runs (its ACL deleted) stops the app within seconds, naming the group (%s group protocol)',
      async (protocol) => {
        const setup = await setUp(`it-acl-revoke-${name}-${protocol}`);
        const all = workerAcls([setup.app], { transport: name, controlTopic: setup.controlTopic });
        await grant(all, principal());
        const workerId = `w-acl-revoke-${name}-${protocol}`;
        const { w } = worker(
          setup,
          workerId,
          protocol === 'consumer' ? restrictedKip848Transport(workerId) : restrictedTransport(workerId),
        );
        await w.start();
        await feedAndCheck(setup.s);
        const groupPrefix = `${setup.s.ns}.word-count.`;
        const groups = all.filter((a) => a.resourceType === 'GROUP' && a.name === groupPrefix);
        expect(groups).toHaveLength(1);
        const revokedAt = Date.now();
        await grant(groups, principal(), true);
        // The consumers' next heartbeat is refused; the transport reports the refusal as final (onFatal) and the app
        // stops at once. Before, it was only logged, and the assignment watch stopped the app after 120 s.
        await waitFor(() => w.appStats().get(setup.app.name)?.status === 'failed', 40_000);
        const stats = w.appStats().get(setup.app.name)!;
        expect(stats.error).toContain(groupPrefix);
        expect(stats.error).toContain('GROUP_AUTHORIZATION_FAILED');
        expect(Date.now() - revokedAt).toBeLessThan(40_000);
      },
    );

    it('a transaction that writes to a topic the principal may not write to fails naming that topic', async () => {
      const ns = unique(`it-acl-txn-${name}`);
      const [allowed, refused, transactionalId] = [`${ns}-allowed`, `${ns}-refused`, `${ns}-txn`];
      await (await plain.admin()).createTopics([
        { name: allowed, partitions: 1 },
        { name: refused, partitions: 1 },
      ]);
      const topic = (n: string, operations: AclBinding['operations']): AclBinding => ({
        resourceType: 'TOPIC',
        patternType: 'LITERAL',
        name: n,
        operations,
        why: 'this test',
      });
      await grant(
        [
          topic(allowed, ['WRITE']),
          // Readable (which lets the client describe it and find its partitions) but not writable.
          topic(refused, ['READ']),
          { ...topic(transactionalId, ['WRITE']), resourceType: 'TRANSACTIONAL_ID' },
        ],
        principal(),
      );
      const transport = restrictedTransport(ns);
      const producer = transport.producer({ transactionalId, clientId: ns });
      cleanups.push(async () => {
        await producer.disconnect();
        await transport.close();
      });
      await producer.connect();
      const txn = await producer.beginTransaction();
      // The writable topic first: the broker does not attempt its partition (OPERATION_NOT_ATTEMPTED), and kafkajs
      // threw that as the error until kafkajs-patches.ts fix 8.
      const error = await txn
        .send([
          { topic: allowed, key: Buffer.from('k'), value: Buffer.from('1') },
          { topic: refused, key: Buffer.from('k'), value: Buffer.from('2') },
        ])
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await txn.abort().catch(() => undefined);
      expect(error).toBeInstanceOf(AuthorizationError);
      expect([(error as AuthorizationError).resource, (error as AuthorizationError).resourceName]).toEqual([
        'topic',
        refused,
      ]);
      expect((error as Error).message).toContain('TOPIC_AUTHORIZATION_FAILED');
    });

    it('runs a leasing app (a hot key leased to the other worker, critical reports merged) with the same list', async () => {
      const ns = unique(`it-acl-lease-${name}`);
      const input = `${ns}-clicks`;
      const out = `${ns}-reports`;
      await (await plain.admin()).createTopics([{ name: input, partitions: 2 }]);
      const app = clicksApp(ns, input, out);
      const controlTopic = `${ns}-control`;
      await grant(workerAcls([app], { transport: name, controlTopic }), principal());
      const workers = leasingPair({
        ns,
        app,
        controlTopic,
        policy: FORWARD_HOT,
        transportOf: restrictedTransport,
        onStop: (stop) => cleanups.push(stop),
      });
      await startLeasing(workers);
      await produceJson(plain, input, hotClicks(200, 1));
      await produceJson(plain, input, hotClicks(100, 2));
      await waitFor(async () => (await readJson(plain, out)).length === 2, 60_000, { intervalMs: 200 });
      expect((await readJson<{ seq: number; clicks: number }>(plain, out)).map((r) => r.value)).toEqual([
        { seq: 1, clicks: 200 },
        { seq: 2, clicks: 300 },
      ]);
      // Forwarded to the other worker's lease slot, which ran them: every hop of leasing under the ACLs.
      const counters = workers.map((w) => w.leases().counters);
      expect(counters.reduce((n, c) => n + c.forwarded, 0)).toBeGreaterThan(0);
      expect(counters.filter((c) => c.lesseeProcessed > 0)).toHaveLength(1);
    });
  },
);

const FORWARD_HOT = 'it-security-forward-hot';
beforeAll(() => registerPolicy(FORWARD_HOT, forwardHot(FORWARD_HOT)));
afterAll(() => unregisterPolicy(FORWARD_HOT));
