// `npm run chaos -- faults [--json]` runs the fault suite instead (fault-suite/run-faults.ts).
// `npm run chaos -- eos|alo [--json] [--seed S] [--seeds N] [--records N] [--shapes a,b,c] [--workers W]
//   [--kills K] [--pauses P] [--join-leave J] [--partitions N] [--feed-ms MS] [--session-timeout-ms MS]
//   [--timeout-ms MS] [--keep-topics] [--transport kafkajs|platformatic] [--broker-kills B]`
// `--broker-kills B` (B > 0) runs on a three-node cluster of its own (replication factor 3, min.insync.replicas 2,
// whatever KAFKA_BROKERS says) and SIGKILLs B broker nodes one at a time during the run (faults.ts); the feeder
// then sends transactions it checks for after a failure (sure-feed.ts), and the last line gains "brokerKills".
// `--transport` (default: DIRIGO_TRANSPORT, else the worker's default, platformatic) is the Kafka client of the harness and of every worker.
// Runs the chaos scenario (chaos.ts) once per seed (S, S+1, ... S+N-1; S defaults to 1) on the local broker (or
// KAFKA_BROKERS). Prints one line per seed, then, as the last stdout line with --json:
// {"mode":..,"sent":N,"lost":0,"duplicated":0,"stateMismatches":0,"stuck":0,"timerMismatches":0,"kills":K,
//  "pauses":P,"shapes":[..],"seeds":[..]} (sums over the seeds). Exits 1 when any seed failed.
//
// `npm run chaos -- leasing [--json] [--seed S] [--seeds N] [--records N] [--workers W] [--lessee-kills K]
//   [--blocked-kills K] [--kills K] [--pauses P] [--partitions N] [--slots N] [--hot-keys N] [--cold-keys N]
//   [--idle-revoke-ms MS] [--burn-us US] [--feed-ms MS] [--session-timeout-ms MS] [--hunt-ms MS]
//   [--timeout-ms MS] [--keep-topics] [--break skipMerge|dropSyncReply|acceptStale]`
// Runs the leasing scenario (leasing/run.ts) once per seed: hot keys leased to lessees on other workers while
// lessees and BLOCKED lessors are SIGKILLed and a worker is frozen. The last stdout line with --json:
// {"mode":"leasing","sent":N,"lost":0,"duplicated":0,"stateMismatches":0,"criticalMismatches":0,
//  "leasesGranted":G,"leasesRevoked":R,"barriers":B,"kills":K,"pauses":P} (sums over the seeds).
// `--break` turns on the runtime's test-only leasing faults in the workers, to see the checks fail.
import { parseArgs } from 'node:util';
import { createLogger } from '@dirigo/core';
import { ensureKafka, startKafka } from '@dirigo/local-kafka';
import { makeTransport, TRANSPORT_NAMES, type TransportName, transportFromEnv } from '../transports.ts';
import { type AtomicityResult, atomicityPassed, runAtomicity } from './atomicity.ts';
import { type ChaosOptions, runChaos } from './chaos.ts';
import {
  failures,
  type LeasingResult,
  leasingAggregateLine,
  passed as leasingPassed,
  leasingSeedLine,
} from './leasing/result.ts';
import { type LeasingOptions, runLeasingChaos } from './leasing/run.ts';
import { parseShapes } from './names.ts';
import type { ExactlyOnceChoice } from './procs.ts';
import { aggregateLine, type ChaosResult, type Mode, passed, seedLine } from './run-chaos-lib.ts';
import type { GroupProtocol } from '@dirigo/platformatic';

const USAGE =
  'usage: npm run chaos -- faults [--json] [--only SUBSTRING]\n' +
  '       npm run chaos -- eos|alo [--json] [--seed S] [--seeds N] [--records N] [--shapes one-hop,two-hop-timer,fan-out-in,windowed]\n' +
  '         [--workers 3] [--kills 3] [--pauses 2] [--join-leave 1] [--partitions 6] [--feed-ms 10000]\n' +
  '         [--session-timeout-ms 6000] [--timeout-ms 300000] [--keep-topics] [--transport platformatic]\n' +
  '         [--group-protocol classic|consumer] [--exactly-once v1|v2|mixed] [--broker-kills 0]\n' +
  '       npm run chaos -- leasing [--json] [--seed S] [--seeds N] [--records 100000] [--workers 3]\n' +
  '         [--lessee-kills 2] [--blocked-kills 2] [--kills 0] [--pauses 1] [--partitions 6] [--slots 6]\n' +
  '         [--hot-keys 5] [--cold-keys 500] [--idle-revoke-ms 400] [--burn-us 150] [--feed-ms 100000]\n' +
  '         [--session-timeout-ms 6000] [--hunt-ms 30000] [--timeout-ms 300000] [--keep-topics]\n' +
  '         [--break skipMerge|dropSyncReply|acceptStale] [--transport platformatic] [--group-protocol classic|consumer]\n' +
  '         [--exactly-once v1|v2|mixed]\n' +
  '       npm run chaos -- atomicity [--json] [--seed S] [--seeds N] [--producers 48] [--partitions 6] [--feed-ms 80000]\n' +
  '         [--broker-kills 8] [--before-fenced] [--transport platformatic]\n';

/** Defaults per mode (the flags without a default in parseArgs). */
const DEFAULTS = {
  eos: { records: '60000', kills: '3', pauses: '2', 'feed-ms': '10000' },
  leasing: { records: '100000', kills: '0', pauses: '1', 'feed-ms': '100000' },
} as const;

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
      records: { type: 'string' },
      shapes: { type: 'string' },
      workers: { type: 'string', default: '3' },
      kills: { type: 'string' },
      pauses: { type: 'string' },
      'join-leave': { type: 'string', default: '1' },
      partitions: { type: 'string', default: '6' },
      'feed-ms': { type: 'string' },
      'lessee-kills': { type: 'string', default: '2' },
      'blocked-kills': { type: 'string', default: '2' },
      slots: { type: 'string', default: '6' },
      'hot-keys': { type: 'string', default: '5' },
      'cold-keys': { type: 'string', default: '500' },
      'idle-revoke-ms': { type: 'string', default: '400' },
      'burn-us': { type: 'string', default: '150' },
      'hunt-ms': { type: 'string', default: '30000' },
      break: { type: 'string' },
      // default 6000, or the local broker's KIP-848 session (10000) with --group-protocol consumer
      'session-timeout-ms': { type: 'string' },
      'timeout-ms': { type: 'string', default: '300000' },
      'keep-topics': { type: 'boolean' },
      transport: { type: 'string' },
      'group-protocol': { type: 'string' },
      // the workers' exactly-once protocol (default: the transport's, v2 on both)
      'exactly-once': { type: 'string' },
      'broker-kills': { type: 'string' },
      producers: { type: 'string', default: '48' },
      'before-fenced': { type: 'boolean' },
    },
  });
  const mode = positionals[0] ?? 'eos';
  if (mode !== 'eos' && mode !== 'alo' && mode !== 'leasing' && mode !== 'atomicity') {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const transportName = transportOf(values.transport);
  if (mode === 'atomicity') {
    await atomicity(values, transportName);
    return;
  }
  values['broker-kills'] ??= '0';
  const groupProtocol = groupProtocolOf(values['group-protocol'], transportName);
  // A KIP-848 member's session timeout is the broker's (10 s on the local broker, see @dirigo/local-kafka), not
  // the worker's: freezes are sized from it.
  values['session-timeout-ms'] ??= groupProtocol === 'consumer' ? '10000' : '6000';
  const exactlyOnce = exactlyOnceOf(values['exactly-once']);
  const workerProtocol = {
    ...(groupProtocol === undefined ? {} : { groupProtocol }),
    ...(exactlyOnce === undefined ? {} : { exactlyOnce }),
  };
  const d = DEFAULTS[mode === 'leasing' ? 'leasing' : 'eos'];
  values.records ??= d.records;
  values.kills ??= d.kills;
  values.pauses ??= d.pauses;
  values['feed-ms'] ??= d['feed-ms'];
  if (mode === 'leasing') {
    if (values['broker-kills'] !== '0') {
      process.stderr.write('--broker-kills: only the eos and alo runs kill brokers\n');
      process.exit(2);
    }
    await leasing(values, transportName, workerProtocol);
    return;
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
  const brokerKills = int('broker-kills', values['broker-kills'], 0);
  // Broker kills need nodes this run owns: three of its own (ports 4092, 14092, 24092 and the next ones).
  const cluster = brokerKills > 0 ? await startKafka({ nodes: 3, basePort: 4092, logger }) : undefined;
  const kafka =
    cluster === undefined
      ? await ensureKafka({ nodes: 1, logger })
      : {
          brokers: cluster.brokers,
          version: cluster.version,
          source: 'three nodes',
          stop: () => cluster.stop(),
        };
  logger.info(
    { brokers: kafka.brokers, version: kafka.version, source: kafka.source, transport: transportName },
    'chaos: broker',
  );
  const transport = makeTransport(transportName, kafka.brokers, 'chaos-harness', logger);
  const options: Omit<ChaosOptions, 'seed'> = {
    brokerKills,
    ...(cluster === undefined ? {} : { cluster }),
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
    ...workerProtocol,
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

/** `--transport` (else DIRIGO_TRANSPORT, else kafkajs). */
/** The workers' exactly-once protocol from --exactly-once (undefined: the transport's); exits 2 on a bad one. */
function exactlyOnceOf(flag: string | undefined): ExactlyOnceChoice | undefined {
  if (flag === undefined || flag === 'v1' || flag === 'v2' || flag === 'mixed') return flag;
  process.stderr.write(`--exactly-once: '${flag}' is not one of v1, v2, mixed\n${USAGE}`);
  process.exit(2);
}

/** The workers' group protocol from --group-protocol (undefined: theirs by default); exits 2 on a bad one. */
function groupProtocolOf(flag: string | undefined, transportName: TransportName): GroupProtocol | undefined {
  if (flag === undefined) return undefined;
  if (flag !== 'classic' && flag !== 'consumer') {
    process.stderr.write(`--group-protocol: '${flag}' is not one of classic, consumer\n${USAGE}`);
    process.exit(2);
  }
  if (flag === 'consumer' && transportName !== 'platformatic') {
    process.stderr.write('--group-protocol consumer (KIP-848) needs --transport platformatic\n');
    process.exit(2);
  }
  return flag;
}

function transportOf(flag: string | undefined): TransportName {
  if (flag === undefined) {
    try {
      return transportFromEnv();
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(2);
    }
  }
  if (!(TRANSPORT_NAMES as readonly string[]).includes(flag)) {
    process.stderr.write(`--transport: '${flag}' is not one of ${TRANSPORT_NAMES.join(', ')}\n${USAGE}`);
    process.exit(2);
  }
  return flag as TransportName;
}

/** `--break a,b`: runtime test-only leasing faults, to check that the leasing checks fail when they should. */
function breakWith(list: string | undefined): Pick<LeasingOptions, 'breakWith'> {
  if (list === undefined) return {};
  const known = ['skipMerge', 'acceptStale', 'dropSyncReply'];
  const faults: Record<string, boolean> = {};
  for (const f of list.split(',')) {
    if (!known.includes(f)) {
      process.stderr.write(`--break: '${f}' is not one of ${known.join(', ')}\n`);
      process.exit(2);
    }
    faults[f] = true;
  }
  return { breakWith: faults };
}

/** `npm run chaos -- leasing`: one leasing run per seed, the per-seed lines, then the aggregate line. */
/**
 * `atomicity`: transactions of one transport across broker kills, on a three-node cluster of its own (atomicity.ts).
 * One JSON line per seed, then the sums: {"mode":"atomicity","transport":..,"transactions":N,"committed":C,
 * "failed":F,"partial":0,"duplicated":0,"lostCommitted":0,"failedCommitted":W,"brokerKills":K,"beforeFenced":B,
 * "seeds":[..]}. Exits 1 when any seed failed.
 */
async function atomicity(
  values: Record<string, string | boolean | undefined>,
  transportName: TransportName,
): Promise<void> {
  const v = (name: string) => values[name] as string | undefined;
  const base = int('seed', v('seed'), 0);
  const seeds = int('seeds', v('seeds'), 1);
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'info' });
  const cluster = await startKafka({ nodes: 3, basePort: 4092, logger });
  const transport = makeTransport(transportName, cluster.brokers, 'chaos-atomicity', logger);
  const results: AtomicityResult[] = [];
  const line = (r: Omit<AtomicityResult, 'seed' | 'examples' | 'elapsedMs'>, extra: object) =>
    JSON.stringify({
      mode: 'atomicity',
      transport: transportName,
      transactions: r.transactions,
      committed: r.committed,
      failed: r.failed,
      partial: r.partial,
      duplicated: r.duplicated,
      lostCommitted: r.lostCommitted,
      failedCommitted: r.failedCommitted,
      brokerKills: r.brokerKills,
      beforeFenced: r.beforeFenced,
      ...extra,
    });
  try {
    for (let seed = base; seed < base + seeds; seed++) {
      const r = await runAtomicity({
        cluster,
        transport,
        seed,
        producers: int('producers', v('producers'), 1),
        partitions: int('partitions', v('partitions'), 2),
        feedMs: int('feed-ms', v('feed-ms') ?? '80000', 1000),
        brokerKills: int('broker-kills', v('broker-kills') ?? '8', 0),
        beforeFenced: values['before-fenced'] === true,
        logger,
      });
      results.push(r);
      const seedText = line(r, { seed, seconds: Math.round(r.elapsedMs / 1000), examples: r.examples });
      process.stdout.write(
        values.json
          ? `${seedText}\n`
          : `atomicity seed ${seed} ${atomicityPassed(r) ? 'PASSED' : 'FAILED'}: ${seedText}\n`,
      );
    }
    const sum = (f: (r: AtomicityResult) => number) => results.reduce((s, r) => s + f(r), 0);
    const ok = results.every(atomicityPassed);
    const total = line(
      {
        transactions: sum((r) => r.transactions),
        committed: sum((r) => r.committed),
        failed: sum((r) => r.failed),
        partial: sum((r) => r.partial),
        duplicated: sum((r) => r.duplicated),
        lostCommitted: sum((r) => r.lostCommitted),
        failedCommitted: sum((r) => r.failedCommitted),
        brokerKills: sum((r) => r.brokerKills),
        beforeFenced: values['before-fenced'] === true,
      },
      { seeds: results.map((r) => r.seed) },
    );
    process.stdout.write(values.json ? `${total}\n` : `atomicity ${ok ? 'PASSED' : 'FAILED'}: ${total}\n`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await transport.close();
    await cluster.stop();
  }
}

async function leasing(
  values: Record<string, string | boolean | undefined>,
  transportName: TransportName,
  workerProtocol: { groupProtocol?: GroupProtocol; exactlyOnce?: ExactlyOnceChoice },
): Promise<void> {
  const v = (name: string) => values[name] as string | undefined;
  const base = int('seed', v('seed'), 0);
  const seeds = int('seeds', v('seeds'), 1);
  const workers = int('workers', v('workers'), 2);
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'info' });
  const kafka = await ensureKafka({ nodes: 1, logger });
  logger.info(
    { brokers: kafka.brokers, version: kafka.version, source: kafka.source, transport: transportName },
    'chaos: broker',
  );
  const transport = makeTransport(transportName, kafka.brokers, 'chaos-harness', logger);
  const options: Omit<LeasingOptions, 'seed'> = {
    transport,
    brokers: kafka.brokers,
    records: int('records', v('records'), 1),
    workers,
    lesseeKills: int('lessee-kills', v('lessee-kills'), 0),
    blockedKills: int('blocked-kills', v('blocked-kills'), 0),
    randomKills: int('kills', v('kills'), 0),
    pauses: int('pauses', v('pauses'), 0),
    partitions: int('partitions', v('partitions'), 1),
    slots: int('slots', v('slots'), workers),
    hotKeys: int('hot-keys', v('hot-keys'), 1),
    coldKeys: int('cold-keys', v('cold-keys'), 0),
    idleRevokeMs: int('idle-revoke-ms', v('idle-revoke-ms'), 1),
    burnUs: int('burn-us', v('burn-us'), 0),
    feedMs: int('feed-ms', v('feed-ms'), 0),
    sessionTimeoutMs: int('session-timeout-ms', v('session-timeout-ms'), 1),
    huntMs: int('hunt-ms', v('hunt-ms'), 1),
    timeoutMs: int('timeout-ms', v('timeout-ms'), 0),
    logger,
    keepTopics: values['keep-topics'] === true,
    ...breakWith(v('break')),
    ...workerProtocol,
  };
  const results: LeasingResult[] = [];
  try {
    for (let seed = base; seed < base + seeds; seed++) {
      const r = await runLeasingChaos({ ...options, seed });
      results.push(r);
      if (values.json) process.stdout.write(`${leasingSeedLine(r)}\n`);
      else {
        const f = failures(r);
        const lines = [
          `chaos leasing seed ${seed} ${f.length === 0 ? 'PASSED' : `FAILED (${f.join('; ')})`} in ${Math.round(r.elapsedMs / 1000)} s`,
          `  ${leasingSeedLine(r)}`,
          ...r.faults.map(
            (x) =>
              `  ${x.signal} worker ${x.worker} (${x.target}) at ${x.at} ms: roles [${x.roles}], BLOCKED ${x.blocked}${x.lease ? `, lease ${x.lease.key} of worker ${x.lease.lessor} slots [${x.lease.slots}] ${x.lease.mode}` : ''}`,
          ),
          ...r.stuckPartitions.map((p) => `  stuck: ${p}`),
          ...r.openLeases.map((p) => `  open lease: ${p}`),
          ...r.unexpectedExits.map((e) => `  unexpected exit: ${e}`),
          ...r.notes.map((n) => `  ${n}`),
          `  worker logs: ${r.logDir}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    }
    const ok = results.every(leasingPassed);
    const line = leasingAggregateLine(results);
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
