// `npm run bench -- <throughput|isolation|hotkey|paper> [--json] [options]`: runs a benchmark on the local broker (started
// if needed, or KAFKA_BROKERS) and prints a summary; with --json the last line is the result as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { ensureKafka } from '@dirigo/local-kafka';
import { DEFAULT_TRANSPORT, TRANSPORTS } from '@dirigo/runtime/process';
import {
  type HotkeyOptions,
  type HotkeyResult,
  type HotLeaseShare,
  type Mode,
  type ModeResult,
  runHotkey,
} from './hotkey.ts';
import { type IsolationOptions, type PolicyResult, runIsolation } from './isolation.ts';
import { paper } from './paper-cli.ts';
import { runPeers, SIDES, type Side } from './peers.ts';
import { REBALANCE_SETUPS, type RebalanceSetup, runRebalance } from './rebalance.ts';
import {
  runThroughput,
  type ScenarioResult,
  scenariosError,
  type TransportName,
  type TransportResults,
} from './throughput.ts';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      // throughput: default 200000; hotkey: messages of the overload phase, default 18000
      records: { type: 'string' },
      partitions: { type: 'string', default: '4' },
      keys: { type: 'string', default: '10000' },
      'value-bytes': { type: 'string', default: '100' },
      'probe-records': { type: 'string', default: '2000' },
      scenarios: { type: 'string' },
      // throughput: the clients to measure, and where to write CPU profiles of each scenario
      transports: { type: 'string', default: 'kafkajs,platformatic' },
      profile: { type: 'string' },
      'hop-headers': { type: 'boolean' },
      // peers: the Dirigo side's client (default: the SDK's default), warm-up records before the measured ones
      transport: { type: 'string' },
      'warmup-records': { type: 'string', default: '300000' },
      // peers: which of dirigo, kafkaStreams, quixStreams to run (default: all three)
      sides: { type: 'string' },
      // peers: how the Dirigo side reads values: bytes (as the other peers do) or json; runs per side and scenario
      'dirigo-values': { type: 'string', default: 'bytes' },
      repeats: { type: 'string', default: '1' },
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
      // hotkey
      'hot-share': { type: 'string', default: '0.9' },
      'cold-keys': { type: 'string', default: '100' },
      'cost-ms': { type: 'string', default: '0.5' },
      'target-ms': { type: 'string', default: '300' },
      'overload-rate': { type: 'string', default: '3000' },
      rate: { type: 'string', default: 'auto' },
      'auto-rate-factor': { type: 'string', default: '1.3' },
      seconds: { type: 'string', default: '10' },
      'idle-revoke-ms': { type: 'string', default: '500' },
      slots: { type: 'string', default: '4' },
      'margin-ms': { type: 'string' },
      'forward-delay-ms': { type: 'string' },
      'load-report-ms': { type: 'string', default: '100' },
      'step-budget-ms': { type: 'string' },
      modes: { type: 'string', default: 'off,on' },
      // paper (see paper-cli.ts for the defaults)
      runs: { type: 'string' },
      steady: { type: 'boolean' },
      shape: { type: 'string' },
      'low-rate': { type: 'string' },
      'high-rate': { type: 'string' },
      'period-s': { type: 'string' },
      'duration-s': { type: 'string' },
      'tail-s': { type: 'string' },
      'drain-s': { type: 'string' },
      'peak-workers': { type: 'string' },
      costs: { type: 'string' },
      'window-ms': { type: 'string' },
      'grace-ms': { type: 'string' },
      'slide-ms': { type: 'string' },
      targets: { type: 'string' },
      critical: { type: 'string' },
      'hot-ratio': { type: 'string' },
      'lease-idle-ms': { type: 'string' },
      'bucket-s': { type: 'string' },
      replot: { type: 'string' },
      'results-name': { type: 'string' },
      seed: { type: 'string' },
      'no-plots': { type: 'boolean' },
      // rebalance
      setups: { type: 'string', default: REBALANCE_SETUPS.join(',') },
      'rate-per-partition': { type: 'string', default: '50' },
      'settle-s': { type: 'string', default: '5' },
      'after-s': { type: 'string', default: '3' },
      // rebalance: joins per setup; paper: runs
      rounds: { type: 'string' },
      'fence-v1': { type: 'string', default: 'on' },
      'pipeline-steps': { type: 'string', default: 'on' },
    },
  });
  const which = positionals[0];
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  if (which === 'isolation') {
    await isolation(values, logger);
    return;
  }
  if (which === 'hotkey') {
    await hotkey(values, logger);
    return;
  }
  if (which === 'paper') {
    await paper(values, logger, resultsDir);
    return;
  }
  if (which === 'peers') {
    await peers(values, logger);
    return;
  }
  if (which === 'rebalance') {
    await rebalance(values, logger);
    return;
  }
  if (which !== 'throughput') {
    process.stderr.write(
      'usage: npm run bench -- throughput [--json] [--records N] [--partitions P] [--transports kafkajs,platformatic]\n' +
        '                                   [--scenarios passthrough,passthroughHeaders,passthroughJson,passthroughJsonHeaders,countAtLeastOnce,countKeys,\n' +
        '                                   countExactlyOnce,countExactlyOnceV1,countExactlyOnceSerial] [--profile DIR]\n' +
        '                                   [--rounds 1] [--hop-headers]\n' +
        '       npm run bench -- isolation [--json] [--policies fifo,edf,...] [--measure-s S] [--burst N]\n' +
        '       npm run bench -- peers [--json] [--records 2000000] [--warmup-records 300000] [--transport platformatic]\n' +
        '                              [--sides dirigo,kafkaStreams,quixStreams] [--partitions 4] [--keys 10000]\n' +
        '                              [--value-bytes 100] [--dirigo-values bytes|json] [--repeats 1]\n' +
        '       npm run bench -- hotkey [--json] [--records N] [--overload-rate R] [--rate R|auto] [--seconds S]\n' +
        '                               [--hot-share 0.9] [--cost-ms 0.5] [--target-ms 300] [--idle-revoke-ms 500]\n' +
        '                               [--transport kafkajs|platformatic] [--margin-ms M] [--forward-delay-ms D]\n' +
        '                               [--load-report-ms 100] [--step-budget-ms B] [--pipeline-steps on|off]\n' +
        `       npm run bench -- rebalance [--json] [--setups ${REBALANCE_SETUPS.join(',')}] [--partitions 6]\n` +
        '                                  [--rate-per-partition 50] [--guarantee at_least_once|exactly_once] [--rounds 3]\n' +
        '                                  [--fence-v1 on|off]\n' +
        '                                  [--settle-s 5] [--after-s 3]\n' +
        '       npm run bench -- paper [--json] [--steady] [--shape square|sine] [--low-rate R] [--high-rate R]\n' +
        '                              [--period-s S] [--duration-s S] [--workers N] [--peak-workers N] [--costs hb=2,q5=25]\n',
    );
    process.exit(2);
  }
  const transports = String(values.transports)
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (transports.length === 0 || transports.some((t) => !(TRANSPORTS as readonly string[]).includes(t))) {
    process.stderr.write(`bench: --transports takes a comma-separated list of ${TRANSPORTS.join(', ')}\n`);
    process.exit(2);
  }
  const scenarios = values.scenarios === undefined ? undefined : String(values.scenarios).split(',');
  const badScenarios = scenarios === undefined ? undefined : scenariosError(scenarios);
  if (badScenarios !== undefined) {
    process.stderr.write(`bench: ${badScenarios}\n`);
    process.exit(2);
  }
  const kafka = await ensureKafka({ nodes: 1, logger });
  process.stderr.write(`bench: Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  try {
    const results = await runThroughput({
      brokers: kafka.brokers,
      records: Number(values.records ?? '200000'),
      partitions: Number(values.partitions),
      keys: Number(values.keys),
      valueBytes: Number(values['value-bytes']),
      probeRecords: Number(values['probe-records']),
      ...(scenarios === undefined ? {} : { scenarios }),
      transports: transports as TransportName[],
      ...(values.profile === undefined ? {} : { profileDir: values.profile }),
      ...(values.rounds === undefined ? {} : { rounds: positiveInt('rounds', values.rounds) }),
      ...(values['hop-headers'] === true ? { hopHeaders: true } : {}),
      logger,
    });
    const ratios: Record<string, Record<string, number>> = {};
    for (const [name, r] of Object.entries(results)) {
      const rawRate = r.raw.recordsPerSec;
      // With rounds: the median of the rounds' ratios.
      ratios[name] = Object.fromEntries(
        Object.entries(r).map(([k, v]) => [
          k,
          v.ratioToRaw ?? Number((v.recordsPerSec / rawRate).toFixed(3)),
        ]),
      );
      process.stderr.write(
        `bench: ${name}: raw ${rawRate} records/s (${r.raw.loop} loop); ratios to raw ${JSON.stringify(ratios[name])}\n`,
      );
      const rawCpu = r.raw.cpuSecondsPerMillion;
      if (rawCpu !== undefined) {
        const cpu = perScenario(r, (v) =>
          v.cpuSecondsPerMillion === undefined
            ? undefined
            : Number((v.cpuSecondsPerMillion / rawCpu).toFixed(3)),
        );
        process.stderr.write(
          `bench: ${name}: raw ${rawCpu} CPU-seconds per million records; CPU per record to raw's ${JSON.stringify(cpu)}\n`,
        );
      }
      const rawMain = r.raw.mainThreadSecondsPerMillion;
      if (rawMain !== undefined && rawMain > 0) {
        const main = perScenario(r, (v) =>
          v.mainThreadSecondsPerMillion === undefined
            ? undefined
            : `${(v.mainThreadSecondsPerMillion / rawMain).toFixed(3)} (busy ${v.mainThreadBusy})`,
        );
        process.stderr.write(
          `bench: ${name}: raw ${rawMain} main-thread seconds per million records; main-thread work per record to raw's (and the share of the run the main thread was busy) ${JSON.stringify(main)}\n`,
        );
      }
      const json = r.raw.json?.recordsPerSec;
      if (json !== undefined && r.passthroughJson !== undefined) {
        process.stderr.write(
          `bench: ${name}: the raw loop with a JSON round trip per value (the ceiling of a JSON passthrough) ${json} records/s, ${(json / rawRate).toFixed(3)} of raw; passthroughJson / that ${(r.passthroughJson.recordsPerSec / json).toFixed(3)}\n`,
        );
      }
    }
    const line = { default: DEFAULT_TRANSPORT, transports: results };
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'throughput-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), kafka: kafka.version, ...(values['hop-headers'] === true ? { input: 'hop-headers' } : {}), ...line, ratios }, null, 2)}\n`,
    );
    process.stdout.write(values.json ? `${JSON.stringify(line)}\n` : `${JSON.stringify(line, null, 2)}\n`);
  } finally {
    await kafka.stop();
  }
}

type Values = Record<string, string | boolean | undefined>;

/** One figure per scenario of a client's results (the raw loop included), leaving out those `f` has none for. */
function perScenario<T>(r: TransportResults, f: (v: ScenarioResult) => T | undefined): Record<string, T> {
  return Object.fromEntries(
    Object.entries(r).flatMap(([k, v]: [string, ScenarioResult]) => {
      const x = f(v);
      return x === undefined ? [] : [[k, x]];
    }),
  );
}

/** `peers`: Dirigo, Kafka Streams and Quix Streams side by side: count (at-least-once, exactly-once; state in memory and in a persistent store) and passthrough. */
async function peers(values: Values, logger: ReturnType<typeof createLogger>): Promise<void> {
  const int = (k: string, fallback: string, min: number) => {
    const n = Number(values[k] ?? fallback);
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`bench: --${k} must be an integer >= ${min}\n`);
      process.exit(2);
    }
    return n;
  };
  const transport = String(values.transport ?? DEFAULT_TRANSPORT);
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    process.stderr.write(`bench: --transport takes one of ${TRANSPORTS.join(', ')}\n`);
    process.exit(2);
  }
  const sides = String(values.sides ?? SIDES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (sides.length === 0 || sides.some((s) => !(SIDES as readonly string[]).includes(s))) {
    process.stderr.write(
      'bench: --sides takes a comma-separated list of dirigo, kafkaStreams, quixStreams\n',
    );
    process.exit(2);
  }
  const dirigoValues = String(values['dirigo-values']);
  if (dirigoValues !== 'bytes' && dirigoValues !== 'json') {
    process.stderr.write('bench: --dirigo-values takes bytes or json\n');
    process.exit(2);
  }
  const kafka = await ensureKafka({ nodes: 1, logger });
  process.stderr.write(`bench: Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  try {
    const result = await runPeers({
      dirigoValues,
      brokers: kafka.brokers,
      records: int('records', '2000000', 1),
      warmupRecords: int('warmup-records', '300000', 0),
      partitions: int('partitions', '4', 1),
      keys: int('keys', '10000', 1),
      valueBytes: int('value-bytes', '100', 1),
      transport: transport as TransportName,
      runTimeoutMs: 600_000,
      sides: sides as Side[],
      repeats: int('repeats', '1', 1),
      logger,
    });
    if (result.ratio !== undefined) {
      process.stderr.write(
        `bench: peers ratio Dirigo/Kafka Streams records/s ${JSON.stringify(result.ratio)}, CPU per record ${JSON.stringify(result.cpuRatio)}\n`,
      );
    }
    if (result.ratioQuix !== undefined) {
      process.stderr.write(
        `bench: peers ratio Dirigo/Quix Streams records/s ${JSON.stringify(result.ratioQuix)}, CPU per record ${JSON.stringify(result.cpuRatioQuix)}\n`,
      );
    }
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'peers-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), kafka: kafka.version, ...result }, null, 2)}\n`,
    );
    process.stdout.write(
      values.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`,
    );
  } finally {
    await kafka.stop();
  }
}

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
  const guarantee = values.guarantee as 'at_least_once' | 'exactly_once';
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

/** `hotkey`: one hot key on a 2-worker pool, leasing off (edf) then on (dirigo), same input. */
async function hotkey(values: Values, logger: ReturnType<typeof createLogger>): Promise<void> {
  const num = (k: string, fallback?: string) => {
    const raw = values[k] ?? fallback;
    const n = Number(raw);
    if (raw === undefined || !Number.isFinite(n) || n < 0) {
      process.stderr.write(`bench: --${k} must be a non-negative number\n`);
      process.exit(2);
    }
    return n;
  };
  const onOff = (k: string): boolean => {
    const raw = values[k];
    if (raw !== 'on' && raw !== 'off') {
      process.stderr.write(`bench: --${k} must be on or off\n`);
      process.exit(2);
    }
    return raw === 'on';
  };
  const hotShare = num('hot-share');
  if (hotShare > 1) {
    process.stderr.write('bench: --hot-share must be between 0 and 1\n');
    process.exit(2);
  }
  const modes = String(values.modes)
    .split(',')
    .map((m) => (m.trim() === 'off' ? 'leasingOff' : m.trim() === 'on' ? 'leasingOn' : m.trim()));
  if (modes.length === 0 || modes.some((m) => m !== 'leasingOff' && m !== 'leasingOn')) {
    process.stderr.write('bench: --modes takes off, on or off,on\n');
    process.exit(2);
  }
  if (values.rate === 'auto' && modes[0] !== 'leasingOff') {
    process.stderr.write('bench: --rate auto needs the leasing-off run first; give --rate N\n');
    process.exit(2);
  }
  for (const name of ['margin-ms', 'forward-delay-ms', 'load-report-ms', 'step-budget-ms']) {
    const v = values[name];
    // The workers refuse them otherwise (the dirigo policy's options and the load report interval are > 0).
    if (v !== undefined && !(Number(v) > 0)) {
      process.stderr.write(`bench: --${name} must be a number above 0, got ${String(v)}\n`);
      process.exit(2);
    }
  }
  const kafka = await ensureKafka({ nodes: 1, logger });
  process.stderr.write(`bench: Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  const transport = String(values.transport ?? DEFAULT_TRANSPORT);
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    process.stderr.write(`bench: --transport takes one of ${TRANSPORTS.join(', ')}\n`);
    process.exit(2);
  }
  const o: HotkeyOptions = {
    brokers: kafka.brokers,
    transport: transport as TransportName,
    modes: modes as Mode[],
    workers: num('workers'),
    partitions: num('partitions'),
    coldKeys: Math.max(1, num('cold-keys')),
    hotShare,
    costMs: num('cost-ms'),
    targetMs: num('target-ms'),
    idleRevokeMs: num('idle-revoke-ms'),
    slots: num('slots'),
    records: num('records', '18000'),
    overloadRate: num('overload-rate'),
    rate: values.rate === 'auto' ? undefined : num('rate'),
    autoRateFactor: num('auto-rate-factor'),
    seconds: num('seconds'),
    marginMs: values['margin-ms'] === undefined ? undefined : num('margin-ms'),
    forwardDelayMs: values['forward-delay-ms'] === undefined ? undefined : num('forward-delay-ms'),
    stepBudgetMs: values['step-budget-ms'] === undefined ? undefined : num('step-budget-ms'),
    pipelineSteps: onOff('pipeline-steps'),
    loadReportIntervalMs: num('load-report-ms'),
    drainTimeoutMs: 90_000,
    logger,
  };
  const { logger: _l, brokers: _b, ...params } = o;
  process.stderr.write(`bench: hotkey ${JSON.stringify(params)}\n`);
  try {
    const results = await runHotkey(o);
    const line = hotkeyLine(results);
    const off = results.leasingOff?.overload.recordsPerSec;
    const on = results.leasingOn?.overload.recordsPerSec;
    const ratio = off !== undefined && on !== undefined && off > 0 ? Number((on / off).toFixed(3)) : null;
    const summary = hotkeySummary(results, line, ratio, o);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'hotkey-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), kafka: kafka.version, params, summary: line, ratio, results }, null, 2)}\n`,
    );
    if (values.json) {
      process.stderr.write(`${summary}\n`);
      process.stdout.write(`${JSON.stringify(line)}\n`);
    } else {
      process.stdout.write(`${summary}\n${JSON.stringify(line, null, 2)}\n`);
    }
  } finally {
    await kafka.stop();
  }
}

/** The contract of the last stdout line (null where a mode did not run). */
function hotkeyLine(r: HotkeyResult) {
  const mode = (m: ModeResult | undefined) =>
    m === undefined
      ? null
      : { recordsPerSec: m.overload.recordsPerSec, p99Ms: m.paced.p99Ms, satisfaction: m.paced.satisfaction };
  const on = r.leasingOn;
  return {
    leasingOff: mode(r.leasingOff),
    leasingOn: mode(on),
    scaleOutMs: on?.scaleOutMs ?? null,
    scaleInMs: on?.scaleIn.paced?.fromLastForwardMs ?? on?.scaleIn.overload?.fromLastForwardMs ?? null,
  };
}

function hotkeySummary(
  r: HotkeyResult,
  line: ReturnType<typeof hotkeyLine>,
  ratio: number | null,
  o: HotkeyOptions,
): string {
  const runs = [r.leasingOff, r.leasingOn].filter((m): m is ModeResult => m !== undefined);
  const lines = [
    `bench: hotkey results (${o.workers} workers, ${o.partitions} partitions, hot share ${o.hotShare} of ${o.coldKeys + 1} keys, ${o.costMs} ms CPU per message, latency target ${o.targetMs} ms, idleRevokeMs ${o.idleRevokeMs}${o.marginMs === undefined ? '' : `, dirigo marginMs ${o.marginMs}`}${o.forwardDelayMs === undefined ? '' : `, dirigo forwardDelayMs ${o.forwardDelayMs}`}${o.stepBudgetMs === undefined ? '' : `, leasing.stepBudgetMs ${o.stepBudgetMs}`})`,
    '  mode         policy  overload rec/s (offered)  paced rate  p50   p99   satisfaction  missing  dup  hot-sum ok  forwarded  lessee-processed',
  ];
  for (const m of runs) {
    const c = Object.values(m.counters.final);
    const fwd = c.reduce((s, x) => s + x.counters.forwarded, 0);
    const lp = c.reduce((s, x) => s + x.counters.lesseeProcessed, 0);
    lines.push(
      `  ${m.mode.padEnd(11)}  ${m.policy.padEnd(6)}  ${`${m.overload.recordsPerSec} (${m.overload.offeredPerSec})`.padStart(24)}  ${String(m.paced.rate).padStart(10)}  ${String(m.paced.p50Ms).padStart(4)}  ${String(m.paced.p99Ms).padStart(4)}  ${String(m.paced.satisfaction).padStart(12)}  ${String(m.paced.missing).padStart(7)}  ${String(m.paced.duplicates).padStart(3)}  ${String(m.check.ok).padStart(10)}  ${String(fwd).padStart(9)}  ${String(lp).padStart(16)}`,
    );
  }
  lines.push(
    '  per worker: overload window handled hot/all and cores busy; paced handled hot/all and cores busy; leasing counters',
    '  (overload+paced; a forward decision the lessor refuses, e.g. while the lease is being revoked, runs locally):',
  );
  /** The mean hop of the forwards a worker received as lessee (up to `c`, since `from`), ms; '-' without any. */
  const hopMs = (
    c: { forwardTransits: number; forwardTransitMs: number },
    from = { forwardTransits: 0, forwardTransitMs: 0 },
  ) => {
    const n = c.forwardTransits - from.forwardTransits;
    return n > 0 ? Math.round((c.forwardTransitMs - from.forwardTransitMs) / n) : '-';
  };
  for (const m of runs) {
    for (const id of Object.keys(m.counters.final)) {
      const ow = m.overload.perWorker[id];
      const pw = m.paced.perWorker[id];
      const k = m.counters.final[id]!.counters;
      const a = m.counters.afterOverload[id]!.counters;
      lines.push(
        `    ${m.mode.padEnd(11)} ${id.padEnd(10)}${id === m.hotOwner ? ' (hot key owner)' : '                '}  overload ${ow?.hot ?? 0}/${ow?.all ?? 0} ${m.overload.cpu?.workers[id] ?? '-'} cores  paced ${pw?.hot ?? 0}/${pw?.all ?? 0} ${m.paced.cpu?.workers[id] ?? '-'} cores  forwarded ${a.forwarded}+${k.forwarded - a.forwarded} (policy forward decisions ${m.dispatcher[id]?.arrivals.forward ?? '-'}) lesseeProcessed ${a.lesseeProcessed}+${k.lesseeProcessed - a.lesseeProcessed} (hop from the lessor's step, mean: ${hopMs(a)}, paced ${hopMs(k, a)} ms) granted ${k.granted} revoked ${k.revoked}`,
      );
    }
    for (const [id, l] of Object.entries(m.paced.latencyPerWorker)) {
      lines.push(
        `    ${m.mode.padEnd(11)} ${id.padEnd(10)} paced latency where handled: p50 ${l.p50Ms} p99 ${l.p99Ms} ms (handler done: p50 ${l.handledP50Ms} p99 ${l.handledP99Ms}), satisfaction ${l.satisfaction}`,
      );
    }
    const hl = (h: HotLeaseShare) => `active ${h.active}, revoking ${h.revoking}, none ${h.none}`;
    lines.push(
      `    ${m.mode.padEnd(11)} hot key's lease while fed: overload ${hl(m.overload.hotLease)}; paced ${hl(m.paced.hotLease)}`,
    );
    lines.push(
      `    ${m.mode.padEnd(11)} machine cores busy: overload ${m.overload.cpu?.machine ?? '-'}, paced ${m.paced.cpu?.machine ?? '-'}; load average ${m.loadAvg.join('/')}; overload records per worker-core-second ${m.overload.recordsPerWorkerCoreSec ?? '-'}`,
    );
  }
  lines.push(`  throughput ratio leasingOn/leasingOff: ${ratio} (target >= 1.5)`);
  if (r.leasingOn !== undefined) {
    const on = r.leasingOn;
    lines.push(
      `  scaleOutMs ${line.scaleOutMs} (target <= 250; first forward in the ${on.firstForwardPhase ?? '-'} phase); scaleInMs ${line.scaleInMs} (idleRevokeMs ${o.idleRevokeMs} included; from the feed's end: ${on.scaleIn.paced?.fromFeedEndMs ?? '-'}; after the overload phase: ${on.scaleIn.overload?.fromLastForwardMs ?? '-'})`,
    );
    lines.push(
      `  satisfaction with leasing ${on.paced.satisfaction} (target >= 0.95) at ${on.paced.rate}/s paced`,
    );
  }
  lines.push(
    `  outputs whose dirigo-ingest header differs from the input's produce time (forwarded messages): ${runs.map((m) => `${m.mode} ${m.ingestHeaderRewritten}`).join(', ')}`,
  );
  return lines.join('\n');
}

await main();

/** `rebalance`: how long partitions stop when a third worker joins two, per client and group protocol. */
async function rebalance(values: Values, logger: ReturnType<typeof createLogger>): Promise<void> {
  const num = (k: string, min: number) => {
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`bench: --${k} must be a number >= ${min}\n`);
      process.exit(2);
    }
    return n;
  };
  const setups = String(values.setups)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (setups.length === 0 || setups.some((s) => !(REBALANCE_SETUPS as readonly string[]).includes(s))) {
    process.stderr.write(`bench: --setups takes a comma-separated list of ${REBALANCE_SETUPS.join(', ')}\n`);
    process.exit(2);
  }
  const guarantee = values.guarantee as 'at_least_once' | 'exactly_once';
  if (guarantee !== 'at_least_once' && guarantee !== 'exactly_once') {
    process.stderr.write('bench: --guarantee must be at_least_once or exactly_once\n');
    process.exit(2);
  }
  const fenceV1 = values['fence-v1'];
  if (fenceV1 !== 'on' && fenceV1 !== 'off') {
    process.stderr.write('bench: --fence-v1 must be on or off\n');
    process.exit(2);
  }
  const partitions = values.partitions === '4' ? 6 : num('partitions', 3);
  const kafka = await ensureKafka({ nodes: 1, logger });
  process.stderr.write(`bench: Kafka ${kafka.version} at ${kafka.brokers} (${kafka.source})\n`);
  try {
    const params = {
      setups: setups as RebalanceSetup[],
      partitions,
      rate: num('rate-per-partition', 1),
      settleS: num('settle-s', 1),
      afterS: num('after-s', 0),
      guarantee,
      rounds: values.rounds === undefined ? 3 : num('rounds', 1),
      fenceV1: fenceV1 === 'on',
    };
    process.stderr.write(`bench: rebalance ${JSON.stringify(params)}\n`);
    const results = await runRebalance({ brokers: kafka.brokers, ...params, logger });
    for (const [setup, r] of Object.entries(results)) {
      process.stderr.write(
        `bench: ${setup} (worst of ${r.rounds.length} joins): kept ${r.kept} partitions, longest stop ${r.keptMaxGapMs} ms (median ${r.keptMedianGapMs}); moved ${r.moved}, longest hand-over ${r.movedMaxHandoverMs} ms; settled in ${r.settledMs} ms (gap before the join ${r.baselineMaxGapMs} ms); a worker leaving: kept ${r.leave.kept}, longest stop ${r.leave.keptMaxGapMs} ms, moved ${r.leave.moved}, longest hand-over ${r.leave.movedMaxHandoverMs} ms\n`,
      );
    }
    const line = { partitions, guarantee, setups: results };
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'rebalance-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), kafka: kafka.version, params, ...line }, null, 2)}\n`,
    );
    process.stdout.write(values.json ? `${JSON.stringify(line)}\n` : `${JSON.stringify(line, null, 2)}\n`);
  } finally {
    await kafka.stop();
  }
}

/** `--<name>` as an integer of at least 1, or exit with a message naming the option. */
function positiveInt(name: string, value: string | boolean): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} must be an integer >= 1, got ${String(value)}\n`);
    process.exit(2);
  }
  return n;
}
