// What one step of a task produced, in typed buckets, committed together by `commitStep` (as Kafka Streams'
// RecordCollector + StreamTask.commit): records to produce (outputs of handlers, dead letters, fired timers,
// messages forwarded to lessees, protocol messages, changelog updates) and the input position the step
// consumed up to. Nothing is read back by arithmetic: each bucket keeps its own records and counters.
import type { OutgoingRecord } from '@dirigo/core';

export class StepOutput {
  /** Records of `ctx.send` and `ctx.emit`. */
  readonly outputs: OutgoingRecord[] = [];
  /** Failed input records, with the reason in their headers. */
  readonly deadLetters: OutgoingRecord[] = [];
  /** Records of timers that fired in this step. */
  readonly timers: OutgoingRecord[] = [];
  /** Input records handed to lessees (to lease slots). */
  readonly forwards: OutgoingRecord[] = [];
  /** Protocol messages (lease grants, syncs, partial replies...). */
  readonly control: OutgoingRecord[] = [];
  /** Changelog records of the cells the step changed. */
  readonly changelog: OutgoingRecord[] = [];
  /** The next input offset once this step commits; undefined when it consumed no input (timers only). */
  position: number | undefined = undefined;
  /** Input records handled (successfully), dead-lettered, forwarded. */
  processed = 0;
  deadLettered = 0;
  forwarded = 0;

  /** Records to produce in this step. */
  get size(): number {
    return (
      this.outputs.length +
      this.deadLetters.length +
      this.timers.length +
      this.forwards.length +
      this.control.length +
      this.changelog.length
    );
  }

  /**
   * Every record to produce, in bucket order (outputs, dead letters, timers, forwards, control, changelog): one
   * array for one produce call. Records of one partition keep their order within a bucket.
   */
  records(): readonly OutgoingRecord[] {
    const buckets = [
      this.outputs,
      this.deadLetters,
      this.timers,
      this.forwards,
      this.control,
      this.changelog,
    ];
    let only: OutgoingRecord[] | undefined;
    let nonEmpty = 0;
    for (const b of buckets) {
      if (b.length > 0) {
        nonEmpty++;
        only = b;
      }
    }
    if (nonEmpty <= 1) return only ?? [];
    const all: OutgoingRecord[] = [];
    for (const b of buckets) for (let i = 0; i < b.length; i++) all.push(b[i]!);
    return all;
  }
}
