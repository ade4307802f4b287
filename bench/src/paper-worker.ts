// One worker process of the paper benchmark:
//   node --conditions=source bench/src/paper-worker.ts '<json PaperWorkerConfig>'
// Hosts the four NEXMark apps of paper-apps.ts with the given scheduling policy and serves /leases, /readyz and
// /metrics on a free port. Writes JSON lines to stdout: `ready` once started (with the metrics port), `stats`
// every 500 ms (processed messages per app, the lease slots it owns and whether it sees a peer's, leasing
// counters), and `final` on SIGTERM, just before a graceful stop: scheduler metrics, leasing counters, CPU time.
// Logs go to stderr.
import { createLogger } from '@dirigo/core';
import { KafkajsTransport } from '@dirigo/kafkajs';
import { type PolicyOptions, Worker } from '@dirigo/runtime';
import { stopOnSignals } from '@dirigo/runtime/process';
import { PAPER_APPS, type PaperAppsConfig, paperApps, paperTopics } from './paper-apps.ts';

export interface PaperWorkerConfig {
  readonly brokers: string;
  readonly workerId: string;
  readonly policy: string;
  readonly policyOptions?: PolicyOptions;
  readonly loadReportIntervalMs: number;
  /** Partitions each function processes at once on this worker. */
  readonly concurrency: number;
  readonly apps: PaperAppsConfig;
}

function emit(event: string, data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write("usage: paper-worker.ts '<json config>'\n");
    process.exit(2);
  }
  const config = JSON.parse(raw) as PaperWorkerConfig;
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  const transport = new KafkajsTransport({
    brokers: config.brokers.split(','),
    clientId: config.workerId,
    logger,
  });
  const worker = new Worker({
    transport,
    apps: paperApps(config.apps),
    scheduler: {
      policy: config.policy,
      ...(config.policyOptions === undefined ? {} : { options: config.policyOptions }),
    },
    concurrency: config.concurrency,
    workerId: config.workerId,
    controlTopic: paperTopics(config.apps.namespace).control,
    loadReportIntervalMs: config.loadReportIntervalMs,
    metricsPort: 0,
    metricsLogIntervalMs: 0,
    logger,
  });
  const stats = () => {
    const l = worker.leases();
    const apps = worker.appStats();
    return {
      processed: Object.fromEntries(PAPER_APPS.map((a) => [a, apps.get(a)?.processed ?? 0])),
      slots: PAPER_APPS.reduce((n, a) => n + (l.slots[a]?.length ?? 0), 0),
      peerSlots: worker.peers().some((p) => PAPER_APPS.some((a) => (p.slots?.[a]?.length ?? 0) > 0)),
      counters: { ...l.counters },
      leases: l.leases.length,
    };
  };
  const timer = setInterval(() => emit('stats', stats()), 500);
  stopOnSignals(worker, transport, logger, () => {
    clearInterval(timer);
    const cpu = process.cpuUsage();
    emit('final', {
      ...stats(),
      scheduler: worker.schedulerMetrics() ?? null,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    });
  });
  await worker.start();
  emit('ready', { workerId: config.workerId, policy: config.policy, metricsPort: worker.metricsAddress });
}

await main();
