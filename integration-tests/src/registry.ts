// A real Schema Registry for the suites that use Avro: SCHEMA_REGISTRY_URL, else the one `npm run registry --
// start` runs, else Apicurio Registry started here for this file and stopped after it (Java 17 + Maven; never
// skipped). Only files that call `useRegistry()` pay its start-up.
import { type EnsuredRegistry, ensureRegistry } from '@dirigo/local-kafka';
import { afterAll, beforeAll } from 'vitest';

/** Starts (or finds) the registry before the file's tests; `url()` is its Confluent API base URL. */
export function useRegistry(): { url(): string } {
  let registry: EnsuredRegistry | undefined;
  beforeAll(async () => {
    const began = Date.now();
    registry = await ensureRegistry();
    process.stderr.write(
      `Schema Registry at ${registry.url} (${registry.source}, ${Date.now() - began} ms)\n`,
    );
  }, 180_000);
  afterAll(async () => {
    await registry?.stop();
  });
  return {
    url: () => {
      if (registry === undefined) throw new Error('the registry is not started yet (use it inside tests)');
      return registry.url;
    },
  };
}
