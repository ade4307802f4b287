// The leasing run's workload and its independent tracker. A few hot keys take most of the traffic (the share
// is drawn per seed, 60-80%), the rest is spread over the cold keys; reports (critical) are interleaved, more
// often on hot keys. The tracker is updated only for records the broker acknowledged, in send order: one
// producer sends the batches one after the other, so per key (one partition) the input order is the send order,
// and each report's expected value is the count and sum of the adds of its key acknowledged before it.
import type { OutgoingRecord } from '@dirigo/core';
import type { Draft } from '../checks/shape.ts';
import { coldKey, hotKeys, type LeaseInput } from './names.ts';

export interface WorkloadSettings {
  readonly hotKeys: number;
  readonly coldKeys: number;
  readonly partitions: number;
  /** Probability that a record of a hot / a cold key is a report. */
  readonly reportHot: number;
  readonly reportCold: number;
}

export interface ExpectedReport {
  readonly key: string;
  readonly count: number;
  readonly sum: number;
}

export class LeaseTracker {
  readonly hot: readonly string[];
  readonly cold: readonly string[];
  /** Share of the records that go to the hot keys (drawn from the seed). */
  readonly hotShare: number;
  /** Seqs of the adds acknowledged, and the key of each. */
  readonly adds = new Map<number, string>();
  /** Expected value of every acknowledged report, by seq. */
  readonly reports = new Map<number, ExpectedReport>();
  /** Count and sum of the acknowledged adds, per key. */
  readonly totals = new Map<string, { count: number; sum: number }>();
  private readonly topic: string;
  private readonly s: WorkloadSettings;

  constructor(topic: string, s: WorkloadSettings, random: () => number) {
    this.topic = topic;
    this.s = s;
    this.hot = hotKeys(s.hotKeys, s.partitions);
    this.cold = Array.from({ length: s.coldKeys }, (_, i) => coldKey(i));
    this.hotShare = s.hotKeys === 0 ? 0 : s.coldKeys === 0 ? 1 : 0.6 + random() * 0.2;
  }

  get sent(): number {
    return this.adds.size + this.reports.size;
  }

  /** Every key the workload uses (the final reports go to each). */
  keys(): string[] {
    return [...this.hot, ...this.cold];
  }

  /** Record `seq` of the main feed: a key by the hot/cold split, an add or (sometimes) a report. */
  draw(seq: number, random: () => number): Draft {
    const isHot = random() < this.hotShare;
    const key = isHot
      ? this.hot[Math.floor(random() * this.hot.length)]!
      : this.cold[Math.floor(random() * this.cold.length)]!;
    const report = random() < (isHot ? this.s.reportHot : this.s.reportCold);
    return report ? this.report(seq, key) : this.add(seq, key, 1 + Math.floor(random() * 100));
  }

  add(seq: number, key: string, v: number): Draft {
    return {
      record: this.record(key, { seq, kind: 'add', v }),
      acked: () => {
        const t = this.totals.get(key) ?? { count: 0, sum: 0 };
        t.count++;
        t.sum += v;
        this.totals.set(key, t);
        this.adds.set(seq, key);
      },
    };
  }

  report(seq: number, key: string): Draft {
    return {
      record: this.record(key, { seq, kind: 'report' }),
      acked: () => {
        const t = this.totals.get(key) ?? { count: 0, sum: 0 };
        this.reports.set(seq, { key, count: t.count, sum: t.sum });
      },
    };
  }

  private record(key: string, value: LeaseInput): OutgoingRecord {
    return { topic: this.topic, key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) };
  }
}
