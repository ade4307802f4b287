import { defineConfig } from 'vitest/config';

// The second pass of `npm test`: the integration suites that run on the default transport (platformatic), run
// again on kafkajs, so that both transports stay tested end to end. Suites that already run on both in the first
// pass (the contract suites, chaos, leasing chaos, security, zombie fencing, the three-node failover test) are not
// repeated, except that
// runtime.test.ts's zombie-fencing cases come along with the rest of that file. DIRIGO_TRANSPORT reaches the
// suites and the worker processes they start.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'integration-kafkajs',
    include: [
      'integration-tests/src/runtime.test.ts',
      'integration-tests/src/fault-suite.test.ts',
      'integration-tests/src/nexmark.test.ts',
      'integration-tests/src/leasing.test.ts',
      'integration-tests/src/avro.test.ts',
      'integration-tests/src/record-replay.test.ts',
    ],
    env: { DIRIGO_TRANSPORT: 'kafkajs' },
    globalSetup: ['integration-tests/src/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
