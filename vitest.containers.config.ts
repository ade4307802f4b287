import { defineConfig } from 'vitest/config';

// The container tests (`npm run test:containers`, run by .ci/run after `npm test`): the images built with
// podman, compose under podman-compose, testcontainers on podman's Docker-compatible API. Apart from `npm test`
// because they need podman, which the README's quick start does not; without it they fail, never skip.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'containers',
    include: ['integration-tests/src/containers/**/*.test.ts'],
    globalSetup: ['integration-tests/src/containers/setup.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 900_000,
  },
});
