// `dirigo lag`: records each function (and each re-keying ingress) of an app has not processed yet, exact under
// transactions (see lag.ts), per partition.
import type { ResolvedApp, Transport } from '@dirigo/core';
import { appsFrom, type ExitCode, KAFKA_OPTIONS, out, parseVerb, table, transportFrom } from './common.ts';

export const USAGE = `usage: dirigo lag <app-module>... [--app NAME] [--partitions] [--brokers host:port,...]
  Prints, per app and function (and per re-keying ingress router), the committed records of its input topic
  that its consumer group has not processed yet. Exact: partitions behind their high watermark are read from
  the committed offset (transaction markers take offsets but are not records).
  --partitions  one row per partition`;

export interface LagRow {
  readonly app: string;
  readonly fn: string;
  readonly group: string;
  readonly topic: string;
  readonly partition: number | undefined;
  readonly committed: number;
  readonly high: number;
  readonly lag: number;
}

/** The lag of every function and router of `app`, per partition. */
export async function appLag(transport: Transport, app: ResolvedApp): Promise<LagRow[]> {
  const admin = await transport.admin();
  const inputs = [
    ...[...app.functions.values()].map((f) => ({ fn: f.name, group: f.group, topic: f.topic })),
    ...app.ingresses
      .filter((i) => !i.direct)
      .map((i) => ({ fn: `ingress-${i.topic}`, group: i.group, topic: i.topic })),
  ];
  const rows: LagRow[] = [];
  for (const { fn, group, topic } of inputs) {
    const [high, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchCommittedOffsets(group, topic),
    ]);
    for (const h of high) {
      const c = committed.find((x) => x.partition === h.partition)?.offset ?? -1;
      const from = Math.max(c, h.low);
      let lag = 0;
      if (from < h.high) {
        await transport.readToEnd([{ topic, partition: h.partition, fromOffset: from }], (rs) => {
          lag += rs.length;
        });
      }
      rows.push({ app: app.name, fn, group, topic, partition: h.partition, committed: c, high: h.high, lag });
    }
  }
  return rows;
}

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseVerb(
    argv,
    { ...KAFKA_OPTIONS, app: { type: 'string' }, partitions: { type: 'boolean' } },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const apps = await appsFrom(parsed.positionals, v.app as string | undefined);
  const transport = transportFrom(v, 'dirigo-lag');
  try {
    const rows: (string | number)[][] = [];
    for (const app of apps) {
      const lag = await appLag(transport, app);
      if (v.partitions === true) {
        for (const r of lag)
          rows.push([
            r.app,
            r.fn,
            r.topic,
            r.partition ?? '',
            r.committed < 0 ? '-' : r.committed,
            r.high,
            r.lag,
          ]);
      } else {
        const by = new Map<string, LagRow[]>();
        for (const r of lag) by.set(r.fn, [...(by.get(r.fn) ?? []), r]);
        for (const [fn, rs] of by)
          rows.push([app.name, fn, rs[0]!.topic, rs.length, rs.reduce((a, r) => a + r.lag, 0)]);
      }
    }
    await out(
      v.partitions === true
        ? table(['app', 'function', 'topic', 'partition', 'committed', 'high', 'lag'], rows)
        : table(['app', 'function', 'topic', 'partitions', 'lag'], rows),
    );
    return 0;
  } finally {
    await transport.close();
  }
}
