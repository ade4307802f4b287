// `dirigo topics`: the topics an app needs (what a worker creates, and the ingress topics it expects to exist),
// checked against the cluster or created.
import type { ResolvedApp, TopicSpec } from '@dirigo/core';
import {
  appsFrom,
  type ExitCode,
  KAFKA_OPTIONS,
  out,
  parseVerb,
  positive,
  say,
  table,
  transportFrom,
} from './common.ts';
import { PURGED_TOPIC_CONFIG, retentionProblem } from '../topic-retention.ts';

export const USAGE = `usage: dirigo topics <app-module>... [--create] [--ingress-partitions N] [--app NAME] [--brokers host:port,...]
  Lists every topic the apps need, with its role and partitions, and checks them on the cluster: missing,
  or with partitions that do not match (a changelog must have as many as its function's input), or internal
  topics whose time retention can delete records before they are consumed. Exit 1 when something is wrong.
  --create              creates the missing topics a worker would create (function inputs, changelogs,
                        egresses, lease topics, the dead-letter topic); ingress topics only with
  --ingress-partitions  N: the partitions of missing ingress topics`;

/** A topic an app needs. `partitions` undefined: whatever it has (an existing ingress topic). */
export interface NeededTopic extends Omit<TopicSpec, 'partitions'> {
  readonly role: string;
  readonly partitions: number | undefined;
  /** Created by the worker (false: an ingress topic the user must create). */
  readonly managed: boolean;
  /** Must have as many partitions as this topic (a changelog and its input). */
  readonly coPartitionedWith?: string;
}

/** Every topic `app` needs, as the worker's start creates or expects them. */
export function neededTopics(app: ResolvedApp): NeededTopic[] {
  const rf = app.options.replicationFactor;
  const r = rf === undefined ? {} : { replicationFactor: rf };
  const list: NeededTopic[] = [];
  for (const ing of app.ingresses)
    list.push({ name: ing.topic, role: `ingress -> ${ing.to}`, partitions: undefined, managed: false });
  for (const fn of app.functions.values()) {
    if (!fn.external)
      list.push({
        name: fn.topic,
        role: `input of ${fn.name}`,
        partitions: fn.partitions,
        managed: true,
        config: PURGED_TOPIC_CONFIG,
        ...r,
      });
    list.push({
      name: fn.changelogTopic,
      role: `changelog of ${fn.name}`,
      partitions: fn.partitions,
      compacted: true,
      managed: true,
      coPartitionedWith: fn.topic,
      ...r,
    });
  }
  for (const eg of app.egresses.values())
    list.push({ name: eg.topic, role: `egress ${eg.name}`, partitions: eg.partitions, managed: true, ...r });
  if (app.lease !== undefined) {
    list.push({
      name: app.lease.topic,
      role: 'lease slots',
      partitions: app.lease.slots,
      managed: true,
      config: PURGED_TOPIC_CONFIG,
      ...r,
    });
    list.push({
      name: app.lease.changelogTopic,
      role: 'lease changelog',
      partitions: app.lease.slots,
      compacted: true,
      managed: true,
      ...r,
    });
  }
  list.push({
    name: app.options.deadLetterTopic,
    role: 'dead letters',
    partitions: app.options.defaultPartitions,
    managed: true,
    ...r,
  });
  // One entry per topic (an egress may be another app's ingress, or declared twice).
  const seen = new Set<string>();
  return list.filter((t) => {
    if (seen.has(t.name)) return false;
    seen.add(t.name);
    return true;
  });
}

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseVerb(
    argv,
    {
      ...KAFKA_OPTIONS,
      create: { type: 'boolean' },
      'ingress-partitions': { type: 'string' },
      app: { type: 'string' },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const apps = await appsFrom(parsed.positionals, v.app as string | undefined);
  const ingressPartitions = positive(v['ingress-partitions'] as string | undefined, '--ingress-partitions');
  const transport = transportFrom(v, 'dirigo-topics');
  try {
    const admin = await transport.admin();
    const needed = apps.flatMap((app) => neededTopics(app).map((t) => ({ app: app.name, ...t })));
    const describe = async () => {
      const existing = new Set(await admin.listTopics());
      const names = [...new Set(needed.map((t) => t.name))].filter((n) => existing.has(n));
      return new Map((await admin.describeTopics(names)).map((d) => [d.name, d]));
    };
    let described = await describe();
    let actual = new Map([...described].map(([n, d]) => [n, d.partitions]));
    if (v.create === true) {
      const specs: TopicSpec[] = [];
      for (const t of needed) {
        if (actual.has(t.name)) continue;
        if (t.managed)
          specs.push({
            ...t,
            partitions:
              t.partitions ?? actual.get(t.coPartitionedWith ?? '') ?? app0(apps).options.defaultPartitions,
          });
        else if (ingressPartitions !== undefined) specs.push({ name: t.name, partitions: ingressPartitions });
      }
      // Changelogs of direct ingresses follow their ingress topic's partitions: create those after it.
      const fixed = specs.map((s) => {
        const t = needed.find((n) => n.name === s.name);
        const twin = t?.coPartitionedWith;
        if (twin === undefined || t?.partitions !== undefined) return s;
        const n = actual.get(twin) ?? specs.find((x) => x.name === twin)?.partitions;
        return n === undefined ? s : { ...s, partitions: n };
      });
      if (fixed.length > 0) {
        await admin.createTopics(fixed);
        say(`topics: created ${fixed.map((s) => `${s.name} (${s.partitions})`).join(', ')}`);
      }
      described = await describe();
      actual = new Map([...described].map(([n, d]) => [n, d.partitions]));
    }
    const warnings: string[] = [];
    let problems = 0;
    const rows = needed.map((t) => {
      const has = actual.get(t.name);
      let status = 'ok';
      if (has === undefined)
        status = t.managed
          ? 'missing (a worker creates it)'
          : 'MISSING: create it (--create --ingress-partitions N)';
      else if (t.partitions !== undefined && has !== t.partitions) status = `MISMATCH: wants ${t.partitions}`;
      else if (
        t.coPartitionedWith !== undefined &&
        actual.get(t.coPartitionedWith) !== undefined &&
        actual.get(t.coPartitionedWith) !== has
      )
        status = `MISMATCH: ${t.coPartitionedWith} has ${actual.get(t.coPartitionedWith)}`;
      else if (t.config === PURGED_TOPIC_CONFIG && has !== undefined) {
        const problem = retentionProblem(t.name, described.get(t.name)!.config);
        if (problem !== undefined) {
          status = 'RETENTION: set retention.ms=-1';
          warnings.push(problem);
        }
      }
      if (status.startsWith('MISSING') || status.startsWith('MISMATCH') || status.startsWith('RETENTION'))
        problems++;
      return [t.app, t.name, t.role, has ?? '-', status];
    });
    await out(table(['app', 'topic', 'role', 'partitions', 'status'], rows));
    for (const w of warnings) say(`topics: ${w}`);
    if (problems > 0) say(`topics: ${problems} problem${problems === 1 ? '' : 's'}`);
    return problems > 0 ? 1 : 0;
  } finally {
    await transport.close();
  }
}

const app0 = (apps: readonly ResolvedApp[]) => apps[0]!;
