// The fault suite of `npm run chaos -- faults` (chaos/fault-suite/cases.ts), one test per case, on the run's
// broker: careless CLI values fail loudly, a worker without a running app (stopped, or its consumers dead)
// stops being live and exits 1, a stop that cannot finish meets its deadline without committing, forged load
// reports are bounded, expire and are rejected, same-named apps in two namespaces stop gracefully, the metrics
// endpoint stays on loopback unless opened, and persistent state is private.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAULT_CASES, runFaultCase } from './chaos/fault-suite/cases.ts';
import type { FaultContext } from './chaos/fault-suite/support.ts';
import { brokers, kafkaTransport, testLogger } from './harness.ts';

const transport = kafkaTransport('it-faults');
const ctx: FaultContext = {
  brokers: brokers(),
  transport,
  logger: testLogger(),
  logDir: mkdtempSync(join(tmpdir(), 'dirigo-faults-')),
};
afterAll(() => transport.close());

describe('fault suite on a real broker', () => {
  it.each(FAULT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runFaultCase(c, ctx);
    expect(result, result.detail).toMatchObject({ ok: true, lost: 0, duplicated: 0 });
  });
});
