// Only for checking the checks: `npm run chaos -- leasing --break skipMerge|dropSyncReply|acceptStale` starts
// the workers through this script instead of `dirigo worker`, with the same flags, plus the runtime's test-only
// leasing faults (`WorkerOptions.leasingFaults`, which the CLI does not expose) named in CHAOS_LEASING_FAULTS.
// With a broken invariant the run must fail: skipMerge loses the lessees' partials (wrong reports and state),
// dropSyncReply leaves keys BLOCKED for good (not quiescent, lost records).
import { parseArgs } from 'node:util';
import type { LeasingFaults } from '@dirigo/runtime';
import { loadApps, runWorkerProcess } from '@dirigo/runtime/process';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    brokers: { type: 'string' },
    'worker-id': { type: 'string' },
    'session-timeout-ms': { type: 'string' },
    'control-topic': { type: 'string' },
    'metrics-port': { type: 'string' },
    policy: { type: 'string' },
    'policy-options': { type: 'string' },
  },
});
const leasingFaults = JSON.parse(process.env.CHAOS_LEASING_FAULTS ?? '{}') as LeasingFaults;
await runWorkerProcess({
  apps: await loadApps(positionals.slice(1)),
  leasingFaults,
  ...(values.brokers ? { brokers: values.brokers } : {}),
  ...(values['worker-id'] ? { workerId: values['worker-id'] } : {}),
  ...(values['session-timeout-ms'] ? { sessionTimeoutMs: Number(values['session-timeout-ms']) } : {}),
  ...(values['control-topic'] ? { controlTopic: values['control-topic'] } : {}),
  ...(values['metrics-port'] ? { metricsPort: Number(values['metrics-port']) } : {}),
  ...(values.policy
    ? { scheduler: { policy: values.policy, options: JSON.parse(values['policy-options'] ?? '{}') } }
    : {}),
});
