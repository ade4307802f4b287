// A metric family read at scrape time from plain numbers, registered in a prom-client Registry (which formats
// it, adds the default labels and merges registries). prom-client's own Counter/Histogram objects are never
// touched on the hot path: every value here is collected from the worker's fields when Prometheus asks.
import type { Metric, Registry } from 'prom-client';

export type Labels = Record<string, string | number>;

/** One sample; `suffix` is appended to the family name (`_bucket`, `_sum`, `_count`). */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
  readonly suffix?: string;
}

export type FamilyType = 'counter' | 'gauge' | 'histogram';

/** Registers `name` in `registry`; `collect` answers its samples at each scrape. */
export function registerFamily(
  registry: Registry,
  name: string,
  help: string,
  type: FamilyType,
  collect: () => readonly Sample[],
): void {
  const get = async () => ({
    name,
    help,
    type,
    aggregator: 'sum' as const,
    values: collect().map((s) => ({
      labels: s.labels,
      value: s.value,
      ...(s.suffix === undefined ? {} : { metricName: `${name}${s.suffix}` }),
    })),
  });
  registry.registerMetric({ name, help, type, aggregator: 'sum', get, reset() {} } as unknown as Metric);
}

/** The samples of one histogram series: cumulative `_bucket{le}` (bounds in seconds, then +Inf), `_sum`, `_count`. */
export function histogramSamples(
  labels: Labels,
  boundsS: readonly number[],
  cumulative: readonly number[],
  sumS: number,
): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < cumulative.length; i++) {
    const le = i < boundsS.length ? String(boundsS[i]) : '+Inf';
    out.push({ labels: { ...labels, le }, value: cumulative[i]!, suffix: '_bucket' });
  }
  out.push({ labels, value: sumS, suffix: '_sum' });
  out.push({ labels, value: cumulative[cumulative.length - 1] ?? 0, suffix: '_count' });
  return out;
}
