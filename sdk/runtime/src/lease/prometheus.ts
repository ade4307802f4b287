// Prometheus exposition of leasing (prom-client), read at scrape time from the worker's lease counters and
// leases: dirigo_lease_<counter>_total for every counter, dirigo_lease_blocked_seconds_total, and gauges of the
// leases held as lessor (by app and function: no actor keys in labels) and of the keys BLOCKED now.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LeaseCounters } from './lease-metrics.ts';
import type { LeaseView } from './lessor.ts';

const COUNTERS: readonly [keyof LeaseCounters, string][] = [
  ['granted', 'Leases granted (a key got its first lessee)'],
  ['slotsAdded', 'Lessees added to running leases'],
  ['revoked', 'Lessees revoked'],
  ['forwarded', 'Messages forwarded to lessees'],
  ['syncs', 'Sync rounds started by critical messages'],
  ['merged', 'Partial replies merged'],
  ['barriers', 'Barriers run (critical messages at the lessor)'],
  ['blockedPeriods', 'Periods a key spent BLOCKED'],
  ['stale', 'Stale protocol messages skipped'],
  ['unknown', 'Protocol records not understood, skipped'],
  ['lesseeProcessed', 'Forwarded messages processed as lessee'],
  ['replies', 'Partial replies sent as lessee'],
  ['rejectedForwards', 'Forwarded messages a slot could not take (dead-lettered)'],
  ['forwardTransits', 'Forwarded messages received as lessee with their forwarding time'],
];

/** Counters of ms exported in seconds: field, metric name (after the prefix), help. */
const SECONDS: readonly [keyof LeaseCounters, string, string][] = [
  [
    'blockedMs',
    'blocked_seconds_total',
    'Time keys spent BLOCKED waiting for partial replies (ended periods)',
  ],
  [
    'forwardTransitMs',
    'forward_transit_seconds_total',
    'Hops of forwarded messages received as lessee, summed: lessor step to lessee step (divide by forward_transits_total)',
  ],
];

export function registerLeaseMetrics(
  registry: Registry,
  source: () => { counters: Readonly<LeaseCounters>; leases: readonly LeaseView[] },
  prefix = 'dirigo_lease_',
): void {
  const registers = [registry];
  for (const [field, help] of COUNTERS) {
    const name = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    new Counter({
      name: `${prefix}${name}_total`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(source().counters[field]);
      },
    });
  }
  for (const [field, name, help] of SECONDS) {
    new Counter({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(source().counters[field] / 1000);
      },
    });
  }
  new Gauge({
    name: `${prefix}active`,
    help: 'Leases this worker holds as lessor, and keys BLOCKED now',
    labelNames: ['app', 'fn', 'mode'],
    registers,
    collect() {
      this.reset();
      for (const l of source().leases) this.inc({ app: l.app, fn: l.fn, mode: l.mode });
    },
  });
}
