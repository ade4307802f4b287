// `npm run bench -- <throughput|isolation> [--json] [options]`: runs a benchmark on the local broker (started
// if needed, or KAFKA_BROKERS) and prints a summary; with --json the last line is the result as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { ensureKafka } from '@dirigo/local-kafka';
import { runThroughput } from './throughput.ts';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      records: { type: 'string', default: '200000' },
      partitions: { type: 'string', default: '4' },
      keys: { type: 'string', default: '10000' },
      'value-bytes': { type: 'string', default: '100' },
      'probe-records': { type: 'string', default: '2000' },
    },
  });
  const which = positionals[0];
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  if (which !== 'throughput') {
    process.stderr.write('usage: npm run bench -- throughput [--json] [--records N] [--partitions P]\n');
    process.exit(2);
  }
  const kafka = await ensureKafka({ nodes: 1, logger });
  process.stderr.write(`bench: Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  try {
    const results = await runThroughput({
      brokers: kafka.brokers,
      records: Number(values.records),
      partitions: Number(values.partitions),
      keys: Number(values.keys),
      valueBytes: Number(values['value-bytes']),
      probeRecords: Number(values['probe-records']),
      logger,
    });
    const rawRate = results.raw!.recordsPerSec;
    const ratios = Object.fromEntries(
      Object.entries(results).map(([k, v]) => [k, Number((v.recordsPerSec / rawRate).toFixed(3))]),
    );
    process.stderr.write(`bench: ratios to raw ${JSON.stringify(ratios)}\n`);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'throughput-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), kafka: kafka.version, results, ratios }, null, 2)}\n`,
    );
    const line = JSON.stringify(results);
    process.stdout.write(values.json ? `${line}\n` : `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await kafka.stop();
  }
}

await main();
