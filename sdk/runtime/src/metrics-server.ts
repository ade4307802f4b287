// The worker's HTTP endpoint (on 127.0.0.1 unless told otherwise): GET /metrics serves the worker's metrics for Prometheus (read from plain numbers
// at scrape time, so the hot path never touches prom-client) plus Node.js process metrics; GET /healthz
// (liveness) and GET /readyz (readiness) answer 200 or 503 with the worker's health as JSON; GET /leases answers
// the leases this worker holds as lessor, the lease slots it owns and its leasing counters, as JSON; GET
// /dashboard is the live view (see dashboard/).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { LiveView } from './dashboard/live-view.ts';
import { dashboardRoutes } from './dashboard/routes.ts';
import type { LeaseCounters } from './lease/lease-metrics.ts';
import type { LeaseView } from './lease/lessor.ts';
import { registerLeaseMetrics } from './lease/prometheus.ts';
import type { FunctionMetricsTable } from './metrics/function-metrics.ts';
import type { LagSampler } from './metrics/lag.ts';
import { registerWorkerMetrics } from './metrics/prometheus.ts';
import type { PurgeMetricsTable } from './metrics/purge-metrics.ts';
import type { InMemorySchedulerMetrics } from './scheduler/metrics.ts';
import { registerSchedulerMetrics } from './scheduler/prometheus.ts';
import type { PeerLoad } from './scheduler/types.ts';
import type { WorkerHealth } from './worker.ts';

export interface MetricsServer {
  /** The address it listens on, as bound (e.g. `127.0.0.1`, `0.0.0.0`, `::`). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What the endpoint serves. */
export interface MetricsServerDeps {
  readonly workerId: string;
  readonly scheduler: InMemorySchedulerMetrics;
  readonly functions: FunctionMetricsTable;
  readonly lag: LagSampler;
  /** Latency target per app, ms. */
  readonly targets: ReadonlyMap<string, number>;
  readonly health: () => WorkerHealth;
  readonly leases: () => { counters: Readonly<LeaseCounters>; leases: readonly LeaseView[] };
  /** Other workers' load reports (the control topic), for the live view. */
  readonly peers: () => readonly PeerLoad[];
  /** The lease slots this worker owns, per app. */
  readonly slots: () => Record<string, number[]>;
  /** The handler watchdog's counters. */
  readonly handlers?: () => { readonly slow: number; readonly timedOut: number };
  /** The purges of the worker's purged topics. */
  readonly purges?: PurgeMetricsTable;
}

/** The registry of every family a worker exports (every series labelled `worker`). */
export function workerRegistry(deps: MetricsServerDeps): { registry: Registry; close(): void } {
  const registry = new Registry();
  registry.setDefaultLabels({ worker: deps.workerId });
  const families = registerWorkerMetrics(registry, {
    functions: deps.functions,
    lag: () => deps.lag.current(),
    targets: () => deps.targets,
    ...(deps.handlers === undefined ? {} : { handlers: deps.handlers }),
    ...(deps.purges === undefined ? {} : { purges: deps.purges }),
  });
  registerSchedulerMetrics(registry, deps.scheduler);
  registerLeaseMetrics(registry, deps.leases);
  collectDefaultMetrics({ register: registry, prefix: 'dirigo_process_' });
  return { registry, close: () => families.close() };
}

/** Listens on `host`:`port` (0: any free port; `127.0.0.1` keeps it on this machine, `0.0.0.0` opens it to all). */
export async function startMetricsServer(
  port: number,
  host: string,
  deps: MetricsServerDeps,
): Promise<MetricsServer> {
  const { registry, close } = workerRegistry(deps);
  const live = new LiveView({
    workerId: deps.workerId,
    functions: deps.functions,
    snapshot: () => deps.scheduler.snapshot(),
    lag: deps.lag,
    targets: deps.targets,
    peers: deps.peers,
    leases: deps.leases,
    slots: deps.slots,
  });
  const routes = dashboardRoutes(live);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz' || path === '/readyz') {
      const h = deps.health();
      const ok = path === '/healthz' ? h.live : h.ready;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(h)}\n`);
      return;
    }
    if (path === '/leases') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(deps.leases())}\n`);
      return;
    }
    if (path === '/metrics') {
      deps.lag
        .refresh()
        .then(() => registry.metrics())
        .then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (e: unknown) => res.writeHead(500).end(String(e)),
        );
      return;
    }
    if (routes(path, res)) return;
    res.writeHead(404).end('try /metrics, /healthz, /readyz, /leases or /dashboard\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  live.start();
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        close();
        live.stop();
        server.close(() => resolve());
        // Live-view streams stay open until their clients go: end them.
        server.closeAllConnections();
      }),
  };
}
