// One worker process of the hot-key benchmark:
//   node --conditions=source bench/src/hotkey-worker.ts '<json HotkeyWorkerConfig>'
// Hosts the app of hotkey-app.ts with the given scheduling policy (the `dirigo` CLI has no policy flag) and
// serves /leases, /readyz and /metrics on a free port. Writes JSON lines to stdout: `ready` once started (with
// the metrics port), `stats` every 500 ms (processed messages, the lease slots it owns, whether it sees a peer
// with lease slots in the load reports, leasing counters), and `final` on SIGTERM, just before a graceful
// stop: scheduler metrics, leasing counters, CPU time. Logs go to stderr.
import { createLogger } from '@dirigo/core';
import { benchTransport, type TransportName } from './transports.ts';
import { type PolicyOptions, Worker } from '@dirigo/runtime';
import { DEFAULT_TRANSPORT, stopOnSignals } from '@dirigo/runtime/process';
import { HOTKEY_APP, type HotkeyAppConfig, hotkeyApp } from './hotkey-app.ts';

export interface HotkeyWorkerConfig {
  readonly brokers: string;
  /** The Kafka client (default: the worker's default, platformatic). */
  readonly transport?: TransportName;
  readonly workerId: string;
  readonly policy: string;
  readonly policyOptions?: PolicyOptions;
  readonly controlTopic: string;
  readonly loadReportIntervalMs: number;
  /** `WorkerOptions.pipelineSteps` (default: the worker's). */
  readonly pipelineSteps?: boolean;
  /** The app's config without `workerId` (this worker's id is used). */
  readonly app: Omit<HotkeyAppConfig, 'workerId'>;
}

function emit(event: string, data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write("usage: hotkey-worker.ts '<json config>'\n");
    process.exit(2);
  }
  const config = JSON.parse(raw) as HotkeyWorkerConfig;
  const logger = createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' });
  const transport = benchTransport(
    config.transport ?? DEFAULT_TRANSPORT,
    config.brokers,
    config.workerId,
    logger,
  );
  const worker = new Worker({
    transport,
    apps: [hotkeyApp({ ...config.app, workerId: config.workerId })],
    scheduler: {
      policy: config.policy,
      ...(config.policyOptions === undefined ? {} : { options: config.policyOptions }),
    },
    workerId: config.workerId,
    controlTopic: config.controlTopic,
    loadReportIntervalMs: config.loadReportIntervalMs,
    ...(config.pipelineSteps === undefined ? {} : { pipelineSteps: config.pipelineSteps }),
    metricsPort: 0,
    metricsLogIntervalMs: 0,
    logger,
  });
  const stats = () => {
    const l = worker.leases();
    return {
      processed: worker.appStats().get(HOTKEY_APP)?.processed ?? 0,
      slots: l.slots[HOTKEY_APP] ?? [],
      peerSlots: worker.peers().some((p) => (p.slots?.[HOTKEY_APP]?.length ?? 0) > 0),
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
