// `npm run chaos -- faults [--json]` runs the fault suite instead (fault-suite/run-faults.ts).
// `npm run chaos -- eos|alo [--json] [--seed S] [--seeds N] [--records N] [--shapes a,b,c] [--workers W]
//   [--kills K] [--pauses P] [--join-leave J] [--partitions N] [--feed-ms MS] [--session-timeout-ms MS]
//   [--timeout-ms MS] [--keep-topics]`
// Runs the chaos scenario (chaos.ts) once per seed (S, S+1, ... S+N-1; S defaults to 1) on the local broker (or
// KAFKA_BROKERS). Prints one line per seed, then, as the last stdout line with --json:
// {"mode":..,"sent":N,"lost":0,"duplicated":0,"stateMismatches":0,"stuck":0,"timerMismatches":0,"kills":K,
//  "pauses":P,"shapes":[..],"seeds":[..]} (sums over the seeds). Exits 1 when any seed failed.
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { ensureKafka } from '@dirigo/local-kafka';
import { type ChaosOptions, runChaos } from './chaos.ts';
import { parseShapes } from './names.ts';
import { aggregateLine, type ChaosResult, type Mode, passed, seedLine } from './run-chaos-lib.ts';

const USAGE =
  'usage: npm run chaos -- faults [--json] [--only SUBSTRING]\n' +
  '       npm run chaos -- eos|alo [--json] [--seed S] [--seeds N] [--records N] [--shapes one-hop,two-hop-timer,fan-out-in]\n' +
  '         [--workers 3] [--kills 3] [--pauses 2] [--join-leave 1] [--partitions 6] [--feed-ms 10000]\n' +
  '         [--session-timeout-ms 6000] [--timeout-ms 300000] [--keep-topics]\n';

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name}: '${v}' is not an integer >= ${min}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      seed: { type: 'string', default: '1' },
      seeds: { type: 'string', default: '1' },
      records: { type: 'string', default: '60000' },
      shapes: { type: 'string' },
      workers: { type: 'string', default: '3' },
      kills: { type: 'string', default: '3' },
      pauses: { type: 'string', default: '2' },
      'join-leave': { type: 'string', default: '1' },
      partitions: { type: 'string', default: '6' },
      'feed-ms': { type: 'string', default: '10000' },
      'session-timeout-ms': { type: 'string', default: '6000' },
      'timeout-ms': { type: 'string', default: '300000' },
      'keep-topics': { type: 'boolean' },
    },
  });
  const mode = positionals[0] ?? 'eos';
  if (mode !== 'eos' && mode !== 'alo') {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  let shapes: ReturnType<typeof parseShapes>;
  try {
    shapes = parseShapes(values.shapes);
  } catch (e) {
    process.stderr.write(`--shapes: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const guarantee: Mode = mode === 'eos' ? 'exactly_once' : 'at_least_once';
  const base = int('seed', values.seed, 0);
  const seeds = int('seeds', values.seeds, 1);
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'info' });
  const kafka = await ensureKafka({ nodes: 1, logger });
  logger.info({ brokers: kafka.brokers, version: kafka.version, source: kafka.source }, 'chaos: broker');
  const transport = new KafkajsTransport({
    brokers: kafka.brokers.split(','),
    clientId: 'chaos-harness',
    logger,
  });
  const options: Omit<ChaosOptions, 'seed'> = {
    transport,
    brokers: kafka.brokers,
    guarantee,
    shapes,
    records: int('records', values.records, 1),
    workers: int('workers', values.workers, 1),
    kills: int('kills', values.kills, 0),
    pauses: int('pauses', values.pauses, 0),
    joinLeave: int('join-leave', values['join-leave'], 0),
    partitions: int('partitions', values.partitions, 1),
    feedMs: int('feed-ms', values['feed-ms'], 0),
    sessionTimeoutMs: int('session-timeout-ms', values['session-timeout-ms'], 1),
    timeoutMs: int('timeout-ms', values['timeout-ms'], 0),
    logger,
    keepTopics: values['keep-topics'] === true,
  };
  const results: ChaosResult[] = [];
  try {
    for (let seed = base; seed < base + seeds; seed++) {
      const r = await runChaos({ ...options, seed });
      results.push(r);
      if (values.json) process.stdout.write(`${seedLine(r)}\n`);
      else {
        const head = `chaos seed ${seed} ${passed(r) ? 'PASSED' : 'FAILED'} in ${Math.round(r.elapsedMs / 1000)} s`;
        const lines = [
          head,
          `  ${seedLine(r)}`,
          ...r.stuckPartitions.map((p) => `  stuck: ${p}`),
          ...r.unexpectedExits.map((e) => `  unexpected exit: ${e}`),
          ...r.notes.map((n) => `  ${n}`),
          `  worker logs: ${r.logDir}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    }
    const ok = results.every(passed);
    const line = aggregateLine(guarantee, shapes, results);
    process.stdout.write(values.json ? `${line}\n` : `chaos ${ok ? 'PASSED' : 'FAILED'}: ${line}\n`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await transport.close();
    await kafka.stop();
  }
}

if (process.argv[2] === 'faults') {
  const { runFaultSuite } = await import('./fault-suite/run-faults.ts');
  await runFaultSuite(process.argv.slice(3));
} else await main();
