// The verdict of a leasing chaos run, against the tracker (workload.ts) and what was committed (read_committed):
// - lost / duplicated: every add's seq exactly once in `adds` (wherever it ran), every report's seq exactly once
//   in `reports`;
// - criticalMismatches: each report's count and sum must equal those of the adds of its key before it in the
//   input (the last report of every key, sent after everything else, must so equal the totals); mismatched,
//   missing and duplicated reports each count;
// - stateMismatches: the lessor state in the function's changelog (internal `__*` states ignored) equals the
//   totals per key, and the lessees' partial state in the lease changelog is empty (deleted or identity) for
//   every key and slot;
// - leftovers: lease bookkeeping still open after quiescence, which no correct run leaves behind: a lease record
//   (`__leases`) with slots, awaited replies or a mode other than RUNNABLE, a message still waiting in
//   `__blocked`, a lease a slot still holds (`__lessees`);
// - deadLettered: records in the app's dead-letter topic (a forward a slot could not take goes there).
import type { Transport } from '@dirigo/core';
import { decodeChangelogKey, readChangelog, readTopic, Tally } from '../read.ts';
import { type AddOutput, LEASE_FN, leaseTopics, type ReportOutput } from './names.ts';
import type { LeaseTracker } from './workload.ts';

export interface LeasingVerdict {
  lost: number;
  duplicated: number;
  stateMismatches: number;
  criticalMismatches: number;
  leftovers: number;
  deadLettered: number;
  readonly notes: string[];
}

const MAX_NOTES = 5;

class Verdicts {
  readonly v: LeasingVerdict = {
    lost: 0,
    duplicated: 0,
    stateMismatches: 0,
    criticalMismatches: 0,
    leftovers: 0,
    deadLettered: 0,
    notes: [],
  };
  private readonly shown = new Map<string, number>();
  fail(kind: Exclude<keyof LeasingVerdict, 'notes'>, n: number, note: () => string): void {
    if (n <= 0) return;
    this.v[kind] += n;
    const shown = this.shown.get(kind) ?? 0;
    this.shown.set(kind, shown + 1);
    if (shown < MAX_NOTES) this.v.notes.push(`${kind}: ${note()}`);
  }
}

const isIdentity = (v: unknown) => v === undefined || v === null || v === 0;

export async function verifyLeasing(
  transport: Transport,
  ns: string,
  tracker: LeaseTracker,
): Promise<LeasingVerdict> {
  const t = leaseTopics(ns);
  const out = new Verdicts();

  // adds: each acknowledged add exactly once, wherever it ran.
  const adds = new Tally<number>();
  for (const r of await readTopic<AddOutput>(transport, t.adds)) adds.add(r.value.seq);
  for (const [seq, key] of tracker.adds) {
    out.fail('lost', adds.get(seq) === 0 ? 1 : 0, () => `add seq ${seq} (key ${key}) has no output`);
  }
  for (const [seq, n] of adds.counts) {
    if (!tracker.adds.has(seq)) {
      out.fail('duplicated', n, () => `add output for seq ${seq}, which was not an acknowledged add`);
    } else out.fail('duplicated', n - 1, () => `add seq ${seq} output ${n} times`);
  }

  // reports: each exactly once, with the count and sum of its key's adds before it.
  const reports = new Map<number, ReportOutput[]>();
  for (const r of await readTopic<ReportOutput>(transport, t.reports)) {
    const list = reports.get(r.value.seq) ?? [];
    list.push(r.value);
    reports.set(r.value.seq, list);
  }
  for (const [seq, want] of tracker.reports) {
    const got = reports.get(seq) ?? [];
    if (got.length === 0) {
      out.fail('lost', 1, () => `report seq ${seq} (key ${want.key}) has no output`);
      out.fail('criticalMismatches', 1, () => `report seq ${seq} (key ${want.key}) missing`);
      continue;
    }
    if (got.length > 1) {
      out.fail('duplicated', got.length - 1, () => `report seq ${seq} output ${got.length} times`);
      out.fail('criticalMismatches', got.length - 1, () => `report seq ${seq} output ${got.length} times`);
    }
    const bad = got.find((g) => g.key !== want.key || g.count !== want.count || g.sum !== want.sum);
    out.fail(
      'criticalMismatches',
      bad === undefined ? 0 : 1,
      () =>
        `report seq ${seq} key ${want.key}: expected count ${want.count} sum ${want.sum}, got count ${bad!.count} sum ${bad!.sum}${bad!.key === want.key ? '' : ` (key ${bad!.key})`}`,
    );
  }
  for (const [seq, got] of reports) {
    if (!tracker.reports.has(seq)) {
      out.fail('duplicated', got.length, () => `report output for seq ${seq}, which was not a report`);
    }
  }

  // The lessor's state: the totals per key (a key without adds has no state, or the identity).
  const lessor = await readChangelog(transport, t.changelog);
  for (const state of ['count', 'sum'] as const) {
    const cells = lessor.value<number>(state);
    for (const key of tracker.keys()) {
      const want = tracker.totals.get(key)?.[state] ?? 0;
      const got = cells.get(key) ?? 0;
      out.fail(
        'stateMismatches',
        got === want ? 0 : 1,
        () => `lessor ${state}[${key}]: expected ${want}, got ${got}`,
      );
    }
    for (const [key, v] of cells) {
      if (!tracker.totals.has(key) && !isIdentity(v)) {
        out.fail('stateMismatches', 1, () => `lessor ${state}[${key}] = ${v}, but the key got no add`);
      }
    }
  }
  out.fail('stateMismatches', lessor.undecodable, () => `${lessor.undecodable} undecodable changelog keys`);
  // The lessor's lease bookkeeping: every lease ended and merged, nothing waiting.
  for (const [, entries] of lessor.map<LeaseRecordLike>('__leases')) {
    for (const [key, rec] of entries) {
      const open = rec.slots.length > 0 || rec.waiting.length > 0 || rec.mode !== 'RUNNABLE';
      out.fail(
        'leftovers',
        open ? 1 : 0,
        () =>
          `lease of ${key} still open: epoch ${rec.epoch}, slots [${rec.slots}], waiting ${JSON.stringify(rec.waiting)}, ${rec.mode}`,
      );
    }
  }
  for (const [key, entries] of lessor.map('__blocked')) {
    out.fail('leftovers', entries.size, () => `${entries.size} messages of ${key} still wait in __blocked`);
  }

  // The lessees' partials: empty everywhere (each cell's last record a tombstone, or the identity).
  const partials = new Map<string, unknown>();
  const lessees = new Map<string, unknown>();
  let undecodable = 0;
  const admin = await transport.admin();
  await transport.readToEnd(
    (await admin.fetchTopicOffsets(t.leaseChangelog)).map((p) => ({
      topic: t.leaseChangelog,
      partition: p.partition,
      fromOffset: 0,
    })),
    (records) => {
      for (const r of records) {
        const k = r.key === null ? undefined : decodeChangelogKey(r.key);
        if (k === undefined) {
          undecodable++;
          continue;
        }
        const v = r.value === null ? undefined : (JSON.parse(r.value.toString('utf8')) as unknown);
        const id = `${k.fn}/slot ${k.slot}/${k.state}[${k.actor}]${k.mapKey === undefined ? '' : `[${JSON.stringify(k.mapKey)}]`}`;
        const into = k.state.startsWith('__') ? lessees : partials;
        if (v === undefined) into.delete(id);
        else into.set(id, v);
      }
    },
  );
  for (const [id, v] of partials) {
    out.fail('stateMismatches', isIdentity(v) ? 0 : 1, () => `lessee partial ${id} = ${JSON.stringify(v)}`);
  }
  out.fail('stateMismatches', undecodable, () => `${undecodable} undecodable lease changelog keys`);
  for (const [id, v] of lessees) {
    if (id.startsWith(`__lease/`) && id.includes('/__lessees[')) {
      out.fail('leftovers', 1, () => `slot still holds a lease: ${id} = ${JSON.stringify(v)}`);
    } else if (!id.startsWith(`${LEASE_FN}/`)) out.fail('leftovers', 1, () => `unexpected lease cell ${id}`);
  }

  // Dead letters (a forward a slot could not take; a handler that threw).
  const dlq = await readDeadLetters(transport, t.dlq);
  out.fail('deadLettered', dlq.length, () => `dead letters, e.g. ${dlq.slice(0, 3).join(' | ')}`);
  return out.v;
}

interface LeaseRecordLike {
  readonly epoch: number;
  readonly slots: readonly number[];
  readonly waiting: readonly unknown[];
  readonly mode: string;
}

/** The dead-letter topic's records, as `stage: error` (empty when the topic does not exist). */
async function readDeadLetters(transport: Transport, topic: string): Promise<string[]> {
  const admin = await transport.admin();
  if (!(await admin.listTopics()).includes(topic)) return [];
  const out: string[] = [];
  await transport.readToEnd(
    (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records) {
        const h = (name: string) => r.headers[name]?.toString() ?? '?';
        out.push(`${h('dirigo-error-stage')}: ${h('dirigo-error').slice(0, 200)}`);
      }
    },
  );
  return out;
}

/**
 * The lease record of `key` as last committed before `atMs` (wall clock) in partition `partition` of the
 * function's changelog: the records of a killed worker that a read_committed reader sees were committed before
 * it died, and a successor's are stamped after the kill. Undefined when there is none.
 */
export async function committedLeaseAt(
  transport: Transport,
  changelog: string,
  partition: number,
  key: string,
  atMs: number,
): Promise<{ mode: string; epoch: number; waiting: number } | undefined> {
  let last: { mode: string; epoch: number; waiting: number } | undefined;
  await transport.readToEnd([{ topic: changelog, partition, fromOffset: 0 }], (records) => {
    for (const r of records) {
      if (r.key === null || r.timestamp > atMs) continue;
      const k = decodeChangelogKey(r.key);
      if (k?.state !== '__leases' || k.mapKey !== key) continue;
      if (r.value === null) {
        last = undefined;
        continue;
      }
      const rec = JSON.parse(r.value.toString('utf8')) as LeaseRecordLike;
      last = { mode: rec.mode, epoch: rec.epoch, waiting: rec.waiting.length };
    }
  });
  return last;
}
