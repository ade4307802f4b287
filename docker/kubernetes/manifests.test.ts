// The Kubernetes example checked against the code: KEDA triggers on the consumer groups and topics the
// word-count app really uses, the Deployment's security variables accepted by the worker, probes on the
// metrics port the worker serves. (The Kubernetes schemas themselves are checked by kubernetes-validate in
// .ci/run; it has no schema for KEDA's kinds, so their fields are checked here.)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveApp } from '@dirigo/core';
import { wordCountApp } from '@dirigo/example-word-count';
import { securityFromSettings } from '@dirigo/runtime/process';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, checked field by field below.
type Manifest = Record<string, any>;

function load(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(here, file), 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Manifest;
  });
}

const manifests = [...load('worker.yaml'), ...load('keda.yaml')];
const one = (kind: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

/** The fields of KEDA v2 (keda.sh/v1alpha1) that may appear, per object; anything else is a typo. */
const SCALED_OBJECT_SPEC = [
  'scaleTargetRef',
  'pollingInterval',
  'cooldownPeriod',
  'initialCooldownPeriod',
  'idleReplicaCount',
  'minReplicaCount',
  'maxReplicaCount',
  'fallback',
  'advanced',
  'triggers',
];
const TRIGGER = ['type', 'name', 'metadata', 'authenticationRef', 'metricType', 'useCachedMetrics'];
const KAFKA_METADATA = [
  'bootstrapServers',
  'consumerGroup',
  'topic',
  'lagThreshold',
  'activationLagThreshold',
  'offsetResetPolicy',
  'allowIdleConsumers',
  'excludePersistentLag',
  'scaleToZeroOnInvalidOffset',
  'limitToPartitionsWithLag',
  'partitionLimitation',
  'version',
];
const KAFKA_AUTH_PARAMETERS = ['sasl', 'username', 'password', 'tls', 'ca', 'cert', 'key', 'keyPassword'];
const KEDA_SASL = ['plaintext', 'scram_sha256', 'scram_sha512', 'oauthbearer', 'none'];

const keysWithin = (value: object, allowed: readonly string[]) =>
  expect(Object.keys(value).filter((k) => !allowed.includes(k))).toEqual([]);

describe('docker/kubernetes', () => {
  const deployment = one('Deployment');
  const container = deployment.spec.template.spec.containers[0];
  const env = new Map<string, Manifest>(container.env.map((e: Manifest) => [e.name, e]));

  it('KEDA scales the Deployment on the lag of every consumer group of the app, on the topics those read', () => {
    const scaled = one('ScaledObject');
    expect(scaled.apiVersion).toBe('keda.sh/v1alpha1');
    keysWithin(scaled.spec, SCALED_OBJECT_SPEC);
    expect(scaled.spec.scaleTargetRef).toEqual({ name: deployment.metadata.name });
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(scaled.spec.maxReplicaCount).toBeGreaterThanOrEqual(scaled.spec.minReplicaCount);
    const app = resolveApp(wordCountApp());
    const groups = [...app.functions.values()].map((f) => ({ consumerGroup: f.group, topic: f.topic }));
    const triggers = scaled.spec.triggers as Manifest[];
    for (const t of triggers) {
      keysWithin(t, TRIGGER);
      expect(t.type).toBe('kafka');
      keysWithin(t.metadata, KAFKA_METADATA);
      for (const v of Object.values(t.metadata)) expect(typeof v).toBe('string');
      expect(Number(t.metadata.lagThreshold)).toBeGreaterThan(0);
      expect(t.metadata.bootstrapServers).toBe(env.get('KAFKA_BROKERS')!.value);
      expect(t.authenticationRef.name).toBe(one('TriggerAuthentication').metadata.name);
    }
    expect(
      triggers.map((t) => ({ consumerGroup: t.metadata.consumerGroup, topic: t.metadata.topic })).sort(),
    ).toEqual(groups.sort());
  });

  it('KEDA authenticates as the workers do: same secret, same mechanism', () => {
    const auth = one('TriggerAuthentication');
    keysWithin(auth.spec, ['secretTargetRef', 'env', 'hashiCorpVault', 'azureKeyVault', 'podIdentity']);
    const refs = auth.spec.secretTargetRef as Manifest[];
    for (const r of refs) expect(KAFKA_AUTH_PARAMETERS).toContain(r.parameter);
    const kedaSecret = manifests.find((m) => m.kind === 'Secret' && m.metadata.name === 'dirigo-kafka-keda')!;
    const value = (parameter: string) => {
      const ref = refs.find((r) => r.parameter === parameter)!;
      return {
        ref,
        inline: ref.name === kedaSecret.metadata.name ? kedaSecret.stringData[ref.key] : undefined,
      };
    };
    expect(KEDA_SASL).toContain(value('sasl').inline);
    const kedaName: Record<string, string> = {
      PLAIN: 'plaintext',
      'SCRAM-SHA-256': 'scram_sha256',
      'SCRAM-SHA-512': 'scram_sha512',
    };
    expect(value('sasl').inline).toBe(kedaName[env.get('KAFKA_SASL_MECHANISM')!.value]);
    expect(value('tls').inline).toBe('enable');
    expect(value('username').ref).toMatchObject(env.get('KAFKA_SASL_USERNAME')!.valueFrom.secretKeyRef);
    const secretVolume = deployment.spec.template.spec.volumes.find((v: Manifest) => v.secret);
    for (const parameter of ['password', 'ca']) {
      const { ref } = value(parameter);
      expect(ref.name).toBe(secretVolume.secret.secretName);
      expect(secretVolume.secret.items.map((i: Manifest) => i.key)).toContain(ref.key);
    }
  });

  it('the workers get settings the worker accepts (the secret files stand in as test files)', () => {
    const mount = container.volumeMounts.find((m: Manifest) => m.name === 'kafka-secret').mountPath as string;
    const dir = mkdtempSync(join(tmpdir(), 'dirigo-k8s-'));
    const local = (path: string) => path.replace(mount, dir);
    writeFileSync(join(dir, 'password'), 'secret\n');
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const vars: NodeJS.ProcessEnv = {};
    for (const [name, e] of env) {
      if (e.value !== undefined)
        vars[name] = name.endsWith('_LOCATION') || name.endsWith('_FILE') ? local(e.value) : e.value;
      else vars[name] = 'from-secret';
    }
    expect(securityFromSettings({}, vars)).toMatchObject({
      protocol: 'SASL_SSL',
      sasl: { mechanism: 'scram-sha-512', username: 'from-secret', password: 'secret' },
      tls: { verifyHostname: true },
    });
    expect(container.args).toEqual(['/opt/dirigo/apps/app.ts']);
  });

  it('probes and the metrics Service use the port the worker serves /healthz and /readyz on', () => {
    const port = container.ports.find((p: Manifest) => p.name === 'metrics');
    expect(String(port.containerPort)).toBe(env.get('DIRIGO_METRICS_PORT')!.value);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(one('Service').spec.ports[0].targetPort).toBe('metrics');
    // The image's user, and a grace period for the graceful stop.
    expect(deployment.spec.template.spec.securityContext.runAsUser).toBe(10001);
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });
});
