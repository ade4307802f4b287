// `npm run bench -- <throughput|isolation> [--json] [options]`: runs a benchmark on the local broker (started
// if needed, or KAFKA_BROKERS) and prints a summary; with --json the last line is the result as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { ensureKafka } from '@dirigo/local-kafka';
import { type IsolationOptions, type PolicyResult, runIsolation } from './isolation.ts';
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
      scenarios: { type: 'string' },
      // isolation
      policies: { type: 'string', default: 'fifo,edf,priority,weighted-fair' },
      workers: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '4' },
      guarantee: { type: 'string', default: 'at_least_once' },
      'critical-rate': { type: 'string', default: '150' },
      'critical-cost-ms': { type: 'string', default: '0.3' },
      'critical-target-ms': { type: 'string', default: '50' },
      burst: { type: 'string', default: '2000' },
      'burst-every-ms': { type: 'string', default: '2000' },
      'batch-cost-ms': { type: 'string', default: '1' },
      'batch-target-ms': { type: 'string', default: '10000' },
      'warmup-s': { type: 'string', default: '5' },
      'measure-s': { type: 'string', default: '20' },
    },
  });
  const which = positionals[0];
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  if (which === 'isolation') {
    await isolation(values, logger);
    return;
  }
  if (which !== 'throughput') {
    process.stderr.write(
      'usage: npm run bench -- throughput [--json] [--records N] [--partitions P]\n' +
        '       npm run bench -- isolation [--json] [--policies fifo,edf,...] [--measure-s S] [--burst N]\n',
    );
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
      ...(values.scenarios ? { scenarios: values.scenarios.split(',') } : {}),
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

type Values = Record<string, string | boolean | undefined>;

/** `isolation`: per policy, critical-app satisfaction/p99 and batch throughput on a shared pool of workers. */
async function isolation(values: Values, logger: ReturnType<typeof createLogger>): Promise<void> {
  const num = (k: string) => {
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n < 0) {
      process.stderr.write(`bench: --${k} must be a non-negative number\n`);
      process.exit(2);
    }
    return n;
  };
  const guarantee = values.guarantee;
  if (guarantee !== 'at_least_once' && guarantee !== 'exactly_once') {
    process.stderr.write('bench: --guarantee must be at_least_once or exactly_once\n');
    process.exit(2);
  }
  const kafka = await ensureKafka({ nodes: 1, logger });
  process.stderr.write(`bench: Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  const o: IsolationOptions = {
    brokers: kafka.brokers,
    policies: String(values.policies)
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0),
    workers: num('workers'),
    partitions: num('partitions'),
    concurrency: num('concurrency'),
    guarantee,
    criticalRate: num('critical-rate'),
    criticalCostMs: num('critical-cost-ms'),
    criticalTargetMs: num('critical-target-ms'),
    criticalKeys: 64,
    burst: num('burst'),
    burstEveryMs: num('burst-every-ms'),
    batchCostMs: num('batch-cost-ms'),
    batchTargetMs: num('batch-target-ms'),
    batchKeys: 1000,
    warmupMs: num('warmup-s') * 1000,
    measureMs: num('measure-s') * 1000,
    drainTimeoutMs: 15_000,
    logger,
  };
  const { logger: _l, brokers: _b, ...params } = o;
  process.stderr.write(`bench: isolation ${JSON.stringify(params)}\n`);
  try {
    const results = await runIsolation(o);
    const summary = isolationSummary(results);
    process.stderr.write(`${summary.text}\n`);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'isolation-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), kafka: kafka.version, params, results, targets: summary.targets }, null, 2)}\n`,
    );
    const out = { results };
    process.stdout.write(values.json ? `${JSON.stringify(out)}\n` : `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await kafka.stop();
  }
}

/** The table and the issue's targets: edf satisfaction >= 0.95 and >= fifo + 0.1; edf batch >= 0.8 x fifo. */
function isolationSummary(results: readonly PolicyResult[]): {
  text: string;
  targets: Record<string, unknown>;
} {
  const lines = ['bench: isolation results (window messages only)'];
  lines.push(
    '  policy          crit-sat  crit-p50  crit-p99  crit-max  p99-until-handled  p99-after-handled  batch/s  offered/s  batch-p99  dispatcher-crit-queueing-p99',
  );
  for (const r of results) {
    lines.push(
      `  ${r.policy.padEnd(14)}  ${String(r.critical.satisfaction).padStart(8)}  ${String(r.critical.p50Ms).padStart(8)}  ${String(r.critical.p99Ms).padStart(8)}  ${String(r.critical.maxMs).padStart(8)}  ${String(r.critical.untilHandledP99Ms).padStart(17)}  ${String(r.critical.afterHandledP99Ms).padStart(17)}  ${String(r.batch.throughput).padStart(7)}  ${String(r.batch.offeredPerSec).padStart(9)}  ${String(r.batch.p99Ms).padStart(9)}  ${String(r.dispatcher.critical?.queueingP99Ms ?? '-').padStart(28)}`,
    );
  }
  lines.push(
    '  per worker, whole run, p99 ms (max): critical ingest->step | critical step | critical send |',
  );
  lines.push('  critical commit | batch step | batch send | batch records/step p50/max | event-loop delay');
  for (const r of results) {
    for (const [id, w] of Object.entries(r.workers)) {
      const c = w.path.critical;
      const b = w.path.batch;
      const d = (x: { n: number; p99: number; max: number } | undefined) =>
        x && x.n > 0 ? `${x.p99} (${x.max})` : '-';
      lines.push(
        `  ${id.padEnd(22)} ${d(c?.delivered)} | ${d(c?.step)} | ${d(c?.send)} | ${d(c?.commit)} | ${d(b?.step)} | ${d(b?.send)} | ${b?.stepRecords.p50 ?? '-'}/${b?.stepRecords.max ?? '-'} | ${w.eventLoopDelayMs ? `${w.eventLoopDelayMs.p99.toFixed(1)} (${w.eventLoopDelayMs.max.toFixed(1)})` : '-'}`,
      );
    }
  }
  lines.push(
    `  load average (1 min) at window start/end: ${results.map((r) => `${r.policy} ${r.loadAvg.join('/')}`).join(', ')}`,
  );
  lines.push(
    `  cores busy in the window, machine (bench driver+workers; the rest is the broker and anything else): ${results.map((r) => `${r.policy} ${r.cpu ? `${r.cpu.machineCores} (${r.cpu.benchCores})` : '-'}`).join(', ')}`,
  );
  const fifo = results.find((r) => r.policy === 'fifo');
  const targets: Record<string, unknown> = {};
  if (fifo) {
    for (const r of results) {
      if (r === fifo) continue;
      const gain = Number((r.critical.satisfaction - fifo.critical.satisfaction).toFixed(3));
      const batchRatio =
        fifo.batch.throughput > 0 ? Number((r.batch.throughput / fifo.batch.throughput).toFixed(3)) : null;
      const pass = r.critical.satisfaction >= 0.95 && gain >= 0.1 && batchRatio !== null && batchRatio >= 0.8;
      targets[r.policy] = { satisfaction: r.critical.satisfaction, gainOverFifo: gain, batchRatio, pass };
      lines.push(
        `  ${r.policy} vs fifo: satisfaction ${r.critical.satisfaction} (target >= 0.95), +${gain} over fifo (target >= 0.1), batch throughput x${batchRatio} of fifo (target >= 0.8): ${pass ? 'PASS' : 'FAIL'}`,
      );
    }
  }
  return { text: lines.join('\n'), targets };
}

await main();
