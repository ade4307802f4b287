// `npm run chaos -- eos|alo [--json] [--records N] [--keys K] [--workers W] [--kills N] [--pauses N] [--seed S]`
// Runs the chaos scenario on the local broker (or KAFKA_BROKERS) and prints the result; with --json the last
// line is `{"mode":..,"sent":N,"lost":0,"duplicated":0,"stateMismatches":0,"kills":K,"pauses":P}`.
// Exits 1 when records were lost, duplicated (exactly-once) or state differs from the tracker.
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { ensureKafka } from '@dirigo/local-kafka';
import { runChaos } from './chaos.ts';
import { seeded } from './run-chaos-lib.ts';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      records: { type: 'string', default: '100000' },
      keys: { type: 'string', default: '1000' },
      workers: { type: 'string', default: '3' },
      kills: { type: 'string', default: '3' },
      pauses: { type: 'string', default: '1' },
      partitions: { type: 'string', default: '6' },
      'feed-ms': { type: 'string', default: '10000' },
      'session-timeout-ms': { type: 'string', default: '6000' },
      'timeout-ms': { type: 'string', default: '300000' },
      seed: { type: 'string' },
    },
  });
  const mode = positionals[0] ?? 'eos';
  if (mode !== 'eos' && mode !== 'alo') {
    process.stderr.write(
      'usage: npm run chaos -- eos|alo [--json] [--records N] [--kills N] [--pauses N] [--seed S]\n',
    );
    process.exit(2);
  }
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'info' });
  const seed = values.seed ? Number(values.seed) : Date.now() % 1_000_000;
  const kafka = await ensureKafka({ nodes: 1, logger });
  logger.info(
    { brokers: kafka.brokers, version: kafka.version, source: kafka.source, seed },
    'chaos: broker',
  );
  const transport = new KafkajsTransport({
    brokers: kafka.brokers.split(','),
    clientId: 'chaos-harness',
    logger,
  });
  try {
    const result = await runChaos({
      transport,
      brokers: kafka.brokers,
      guarantee: mode === 'eos' ? 'exactly_once' : 'at_least_once',
      records: Number(values.records),
      keys: Number(values.keys),
      workers: Number(values.workers),
      kills: Number(values.kills),
      pauses: Number(values.pauses),
      partitions: Number(values.partitions),
      feedMs: Number(values['feed-ms']),
      sessionTimeoutMs: Number(values['session-timeout-ms']),
      timeoutMs: Number(values['timeout-ms']),
      random: seeded(seed),
      logger,
    });
    const { mode: m, sent, lost, duplicated, stateMismatches, kills, pauses } = result;
    const ok = lost === 0 && stateMismatches === 0 && (m !== 'exactly_once' || duplicated === 0);
    logger.info({ ...result, seed, ok }, 'chaos: result');
    const line = JSON.stringify({ mode: m, sent, lost, duplicated, stateMismatches, kills, pauses });
    process.stdout.write(
      values.json
        ? `${line}\n`
        : `chaos ${ok ? 'PASSED' : 'FAILED'} (seed ${seed}): ${line}\nworker logs: ${result.logDir}\n`,
    );
    process.exitCode = ok ? 0 : 1;
  } finally {
    await transport.close();
    await kafka.stop();
  }
}

await main();
