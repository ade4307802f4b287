// vitest globalSetup of the container tests (`npm run test:containers`): checks that podman works, builds the
// images (docker/local/build.sh: Debian base from Debian packages, Node, worker, Kafka), and at the end removes
// every container this run started, by the label it put on them. Without podman it throws: these tests never
// skip (CI installs podman, see .ci/run).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { podman, podmanEnv, ROOT, removeLabelled, run } from './podman.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    workerImage: string;
    kafkaImage: string;
    /** `key=value`: every container the tests start carries it, for the clean-up. */
    runLabel: string;
  }
}

const KAFKA_VERSION = '4.2.2';

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  const version = await run('podman', ['--version']).catch(() => undefined);
  if (version === undefined || version.code !== 0) {
    throw new Error(
      'the container tests need podman (on Debian: apt-get install podman buildah runc mmdebstrap; ' +
        'then python3 -m venv .cache/containers/venv && .cache/containers/venv/bin/pip install podman-compose==1.6.0); .ci/run installs them',
    );
  }
  const workerImage = process.env.DIRIGO_WORKER_IMAGE ?? 'localhost/dirigo-worker:dev';
  const kafkaImage = process.env.DIRIGO_KAFKA_IMAGE ?? `localhost/dirigo-kafka:${KAFKA_VERSION}`;
  const began = Date.now();
  const build = await run(join(ROOT, 'docker/local/build.sh'), ['all'], {
    env: podmanEnv({ DIRIGO_WORKER_IMAGE: workerImage, DIRIGO_KAFKA_IMAGE: kafkaImage, KAFKA_VERSION }),
    timeoutMs: 900_000,
  });
  if (build.code !== 0) {
    throw new Error(
      `docker/local/build.sh failed (exit ${String(build.code)}):\n${build.stderr}\n${build.stdout}`,
    );
  }
  process.stderr.write(
    `${build.stderr
      .split('\n')
      .filter((l) => l.startsWith('== image'))
      .join(
        '\n',
      )}\nimages ready in ${((Date.now() - began) / 1000).toFixed(1)} s (${version.stdout.trim()})\n`,
  );
  const runLabel = `dev.dirigo.test-run=${randomBytes(6).toString('hex')}`;
  provide('workerImage', workerImage);
  provide('kafkaImage', kafkaImage);
  provide('runLabel', runLabel);
  return async () => {
    await removeLabelled(runLabel);
    // Anything else left by a test that died early: its name says whose it is.
    const left = await podman(['ps', '-a', '-q', '--filter', `label=${runLabel}`]);
    if (left !== '') process.stderr.write(`containers left behind: ${left}\n`);
  };
}
