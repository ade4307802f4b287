import { configDefaults, defineConfig } from 'vitest/config';

// One test runner for the whole tree, two projects:
// - unit: pure and in-memory tests (sdk, examples), in parallel;
// - integration: everything that needs the real broker (started once by the global setup, never skipped),
//   one file at a time because the machine has 2 cores and the broker is shared.
// `source` makes workspace packages resolve to their TypeScript sources, so tests never need a build first.
const shared = {
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
};

export default defineConfig({
  ...shared,
  test: {
    projects: [
      {
        ...shared,
        test: {
          name: 'unit',
          include: [
            'sdk/*/src/**/*.test.ts',
            'examples/*/src/**/*.test.ts',
            'connectors/*/src/**/*.test.ts',
            'docker/**/*.test.ts',
            'bench/src/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', 'sdk/kafkajs/**', '**/*.integration.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        ...shared,
        test: {
          name: 'integration',
          include: [
            'integration-tests/src/**/*.test.ts',
            'sdk/kafkajs/src/**/*.test.ts',
            'sdk/*/src/**/*.integration.test.ts',
          ],
          // The container tests have their own config (vitest.containers.config.ts): they need podman.
          exclude: [...configDefaults.exclude, 'integration-tests/src/containers/**'],
          globalSetup: ['integration-tests/src/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
