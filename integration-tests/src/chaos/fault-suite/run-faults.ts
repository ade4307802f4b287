// `npm run chaos -- faults [--json] [--only SUBSTRING]`: the fault suite (cases.ts) on the local broker (or
// KAFKA_BROKERS). Prints one line per case, `{"name","ok","lost","duplicated","detail"}` with --json, then, as
// the last stdout line with --json, `{"cases":[...],"failed":N}`. Exits 1 when any case failed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { ensureKafka } from '@dirigo/local-kafka';
import { makeTransport, transportFromEnv } from '../../transports.ts';
import { repoRoot } from '../procs.ts';
import { FAULT_CASES, runFaultCase } from './cases.ts';
import type { FaultCaseResult } from './support.ts';

const USAGE = 'usage: npm run chaos -- faults [--json] [--only SUBSTRING]\n';

export async function runFaultSuite(argv: readonly string[]): Promise<void> {
  let values: { json?: boolean; only?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { json: { type: 'boolean' }, only: { type: 'string' } },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const cases = FAULT_CASES.filter((c) => values.only === undefined || c.name.includes(values.only));
  if (cases.length === 0) {
    process.stderr.write(`--only: no case matches '${values.only}'\n${USAGE}`);
    process.exit(2);
  }
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  const kafka = await ensureKafka({ nodes: 1, logger });
  const logDir = join(repoRoot, '.cache', 'chaos', `faults-${Date.now().toString(36)}`);
  mkdirSync(logDir, { recursive: true });
  process.stderr.write(
    `fault suite on ${kafka.brokers} (Kafka ${kafka.version}); worker logs in ${logDir}\n`,
  );
  const transport = makeTransport(transportFromEnv(), kafka.brokers, 'fault-suite', logger);
  const results: FaultCaseResult[] = [];
  try {
    for (const c of cases) {
      const r = await runFaultCase(c, { brokers: kafka.brokers, transport, logger, logDir });
      results.push(r);
      process.stdout.write(
        values.json ? `${JSON.stringify(r)}\n` : `${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}\n`,
      );
    }
  } finally {
    await transport.close();
    await kafka.stop();
  }
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(
    values.json
      ? `${JSON.stringify({ cases: results, failed })}\n`
      : `faults ${failed === 0 ? 'PASSED' : 'FAILED'}: ${results.length - failed}/${results.length} cases ok\n`,
  );
  process.exitCode = failed === 0 ? 0 : 1;
}
