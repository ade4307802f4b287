// The container path without a container engine: it must say what to do, not hang or fail obscurely.
// (The path itself runs on podman in integration-tests/src/containers/testcontainers.test.ts.)
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable, imageEnvironment, kafkaImage, startWithTestcontainers } from './docker.ts';

const saved = { DOCKER_HOST: process.env.DOCKER_HOST, DIRIGO_KAFKA_IMAGE: process.env.DIRIGO_KAFKA_IMAGE };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('the container path', () => {
  it('says how to get a container engine when none answers', async () => {
    process.env.DOCKER_HOST = 'unix:///nonexistent/dirigo/podman.sock';
    expect(await dockerAvailable(500)).toBe(false);
    await expect(startWithTestcontainers({})).rejects.toThrow(
      /no container engine answers at DOCKER_HOST=unix:\/\/\/nonexistent\/dirigo\/podman\.sock: start Docker, or podman's Docker-compatible API/,
    );
  });

  it('runs DIRIGO_KAFKA_IMAGE, else apache/kafka of the version', () => {
    delete process.env.DIRIGO_KAFKA_IMAGE;
    expect(kafkaImage('4.2.2')).toBe('apache/kafka:4.2.2');
    process.env.DIRIGO_KAFKA_IMAGE = 'localhost/dirigo-kafka:4.2.2';
    expect(kafkaImage('4.2.2')).toBe('localhost/dirigo-kafka:4.2.2');
  });

  it('passes properties as KAFKA_ variables the way the images read them', () => {
    const env = imageEnvironment(
      new Map([
        ['transaction.state.log.min.isr', '1'],
        ['listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config', 'x'],
      ]),
    );
    expect(env).toEqual({
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_LISTENER_NAME_SASL__SSL_SCRAM___SHA___256_SASL_JAAS_CONFIG: 'x',
    });
  });
});
