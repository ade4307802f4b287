// The worker's HTTP endpoint (on 127.0.0.1 unless told otherwise): GET /metrics serves the scheduler metrics for Prometheus (read from one snapshot
// per scrape, so the hot path never touches prom-client) plus Node.js process metrics; GET /healthz (liveness)
// and GET /readyz (readiness) answer 200 or 503 with the worker's health as JSON; GET /leases answers the leases
// this worker holds as lessor, the lease slots it owns and its leasing counters, as JSON.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { LeaseCounters } from './lease/lease-metrics.ts';
import type { LeaseView } from './lease/lessor.ts';
import { registerLeaseMetrics } from './lease/prometheus.ts';
import type { InMemorySchedulerMetrics } from './scheduler/metrics.ts';
import { registerSchedulerMetrics } from './scheduler/prometheus.ts';
import type { WorkerHealth } from './worker.ts';

export interface MetricsServer {
  /** The address it listens on, as bound (e.g. `127.0.0.1`, `0.0.0.0`, `::`). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** 0: any free port. */
  readonly port: number;
  /** The address to listen on: `127.0.0.1` keeps the endpoint on this machine, `0.0.0.0` opens it to all. */
  readonly host: string;
  readonly metrics: InMemorySchedulerMetrics;
  readonly workerId: string;
  readonly health: () => WorkerHealth;
  readonly leases: () => { counters: Readonly<LeaseCounters>; leases: readonly LeaseView[] };
}

/** Listens on `host`:`port`. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { port, host, metrics, workerId, health, leases } = options;
  const registry = new Registry();
  registry.setDefaultLabels({ worker: workerId });
  registerSchedulerMetrics(registry, metrics);
  registerLeaseMetrics(registry, leases);
  collectDefaultMetrics({ register: registry, prefix: 'dirigo_process_' });
  const server = createServer((req, res) => {
    if (req.url === '/healthz' || req.url === '/readyz') {
      const h = health();
      const ok = req.url === '/healthz' ? h.live : h.ready;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(h)}\n`);
      return;
    }
    if (req.url === '/leases') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(leases())}\n`);
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics, /healthz, /readyz or /leases\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500).end(String(e)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
