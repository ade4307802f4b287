// ensureKafka's container path for real: with no Java (JAVA_HOME points nowhere), no KAFKA_BROKERS and no
// running CLI cluster, it starts the locally built Kafka image through testcontainers on podman's
// Docker-compatible API; then the transport contract suite runs against that broker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { type EnsuredKafka, ensureKafka } from '@dirigo/local-kafka';
import { transportContract } from '@dirigo/testkit/contract';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { podman, startPodmanService } from './podman.ts';

const VARIABLES = [
  'DOCKER_HOST',
  'TESTCONTAINERS_RYUK_DISABLED',
  'DIRIGO_KAFKA_IMAGE',
  'KAFKA_BROKERS',
  'JAVA_HOME',
  'DIRIGO_KAFKA_CACHE',
] as const;
const saved = Object.fromEntries(VARIABLES.map((k) => [k, process.env[k]]));
let service: Awaited<ReturnType<typeof startPodmanService>> | undefined;
let kafka: EnsuredKafka | undefined;
let startMs = 0;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirigo-podman-'));
  service = await startPodmanService(dir);
  process.env.DOCKER_HOST = service.dockerHost;
  // No registry here, so no Ryuk image: the container is stopped by this file (and removed by its label).
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  process.env.DIRIGO_KAFKA_IMAGE = inject('kafkaImage');
  delete process.env.KAFKA_BROKERS;
  process.env.JAVA_HOME = join(dir, 'no-java');
  process.env.DIRIGO_KAFKA_CACHE = join(dir, 'cache');
  const [key, value] = inject('runLabel').split('=') as [string, string];
  const began = Date.now();
  kafka = await ensureKafka({ nodes: 1, containerLabels: { [key]: value } });
  startMs = Date.now() - began;
}, 300_000);

afterAll(async () => {
  await kafka?.stop();
  await service?.stop();
  for (const k of VARIABLES) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('ensureKafka through testcontainers on podman', () => {
  it('starts the local Kafka image when there is no Java, and says so', async () => {
    expect(kafka!.source).toBe('testcontainers');
    expect(kafka!.brokers).toMatch(/^127\.0\.0\.1:\d+$/);
    const containerId = (kafka as unknown as { containerId: string }).containerId;
    expect(await podman(['inspect', containerId, '--format', '{{.ImageName}}'])).toBe(inject('kafkaImage'));
    process.stderr.write(
      `Kafka container ready through testcontainers in ${(startMs / 1000).toFixed(1)} s\n`,
    );
  });
});

transportContract(
  'kafkajs on the Kafka image started by testcontainers',
  async () => ({
    transport: new KafkajsTransport({ brokers: kafka!.brokers, clientId: 'it-testcontainers' }),
  }),
  { slow: true },
);
