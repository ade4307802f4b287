import { defineConfig } from 'vitest/config';

// One test runner for the whole tree. `source` makes workspace packages resolve to their TypeScript sources,
// so tests never need a build first.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['sdk/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts', 'connectors/*/src/**/*.test.ts', 'integration-tests/src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
