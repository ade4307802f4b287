// The purger against a scripted admin: it deletes below the committed positions at most once per interval, only
// what moved since its last success, counts successes and failures per topic, and the worker's Prometheus
// endpoint shows those counts (a principal without DELETE on the topic fails every purge: the metric to alert on).
import { type PartitionOffset, silentLogger, type Transport } from '@dirigo/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerWorkerMetrics } from '../metrics/prometheus.ts';
import { PurgeMetricsTable } from '../metrics/purge-metrics.ts';
import { FunctionMetricsTable } from '../metrics/function-metrics.ts';
import { Purger } from './purge.ts';

/** A transport whose admin only deletes records: each call is recorded, and fails while `failing` is set. */
function scriptedTransport() {
  const calls: { topic: string; offsets: PartitionOffset[] }[] = [];
  const state = { failing: false };
  const transport = {
    admin: async () => ({
      deleteRecords: async (topic: string, offsets: readonly PartitionOffset[]) => {
        calls.push({ topic, offsets: [...offsets] });
        if (state.failing) throw new Error('TOPIC_AUTHORIZATION_FAILED');
      },
    }),
  } as unknown as Transport;
  return { transport, calls, state };
}

describe('Purger', () => {
  it('deletes below the committed positions once per interval, retries failures, and counts both', async () => {
    const { transport, calls, state } = scriptedTransport();
    const table = new PurgeMetricsTable();
    const purger = new Purger(transport, 't', 1000, silentLogger(), table.get('t'));
    let committed: PartitionOffset[] = [
      { partition: 0, offset: 5 },
      { partition: 1, offset: 0 },
    ];
    await purger.maybePurge(0, () => committed);
    expect(calls).toEqual([{ topic: 't', offsets: [{ partition: 0, offset: 5 }] }]);
    // Not due yet.
    committed = [
      { partition: 0, offset: 9 },
      { partition: 1, offset: 3 },
    ];
    expect(purger.maybePurge(999, () => committed)).toBeUndefined();
    state.failing = true;
    await purger.maybePurge(1000, () => committed);
    state.failing = false;
    // The failed purge is tried again (both partitions), and nothing unmoved is sent.
    await purger.maybePurge(2000, () => committed);
    expect(calls.slice(1).map((c) => c.offsets)).toEqual([
      [
        { partition: 0, offset: 9 },
        { partition: 1, offset: 3 },
      ],
      [
        { partition: 0, offset: 9 },
        { partition: 1, offset: 3 },
      ],
    ]);
    expect(purger.maybePurge(3000, () => committed)).toBeUndefined();
    const stats = table.get('t');
    expect({ ok: stats.succeeded, failed: stats.failed, to: Object.fromEntries(stats.purgedTo) }).toEqual({
      ok: 2,
      failed: 1,
      to: { 0: 9, 1: 3 },
    });

    const registry = new Registry();
    const families = registerWorkerMetrics(registry, {
      functions: new FunctionMetricsTable(),
      lag: () => [],
      targets: () => new Map(),
      purges: table,
    });
    const text = await registry.metrics();
    families.close();
    expect(text).toContain('dirigo_topic_purges_total{topic="t",outcome="ok"} 2');
    expect(text).toContain('dirigo_topic_purges_total{topic="t",outcome="failed"} 1');
    expect(text).toContain('dirigo_topic_purged_offset{topic="t",partition="0"} 9');
    expect(text).toContain('dirigo_topic_purged_offset{topic="t",partition="1"} 3');
  });

  it('never purges with an interval of 0', () => {
    const { transport, calls } = scriptedTransport();
    const purger = new Purger(transport, 't', 0, silentLogger());
    expect(purger.maybePurge(10_000, () => [{ partition: 0, offset: 5 }])).toBeUndefined();
    expect(calls).toEqual([]);
  });
});
