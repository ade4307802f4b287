// What the harness needs from each chaos shape besides its app: the ingress topics to create, the function
// groups to watch for progress, input records to feed (with the independent tracker updated only for records
// the broker acknowledged), timers still outstanding, and the final verdict against the committed outputs and
// changelogs.
import type { OutgoingRecord, Transport } from '@dirigo/core';
import type { ShapeName } from '../names.ts';

/** A function's consumer group and the topic it consumes. */
export interface GroupInput {
  readonly group: string;
  readonly topic: string;
}

/** One input record and what to add to the tracker once it is acknowledged. */
export interface Draft {
  readonly record: OutgoingRecord;
  acked(): void;
}

export interface Verdict {
  lost: number;
  duplicated: number;
  stateMismatches: number;
  timerMismatches: number;
  /** A few examples of each kind of failure, for people. */
  readonly notes: string[];
}

export interface ShapeHarness {
  readonly name: ShapeName;
  readonly ingressTopics: readonly string[];
  readonly groups: readonly GroupInput[];
  /** Records acknowledged so far. */
  readonly sent: number;
  draw(seq: number, random: () => number): Draft;
  /** Timers due to have fired whose output is not committed yet (names, for the log); empty when none. */
  pendingTimers(transport: Transport): Promise<string[]>;
  /** `exact`: exactly-once (state must equal the tracker); else at-least-once (state may only be higher). */
  verify(transport: Transport, exact: boolean): Promise<Verdict>;
}

const MAX_NOTES = 5;

/** Collects a verdict, keeping a few examples per kind of failure. */
export class VerdictBuilder {
  readonly verdict: Verdict = { lost: 0, duplicated: 0, stateMismatches: 0, timerMismatches: 0, notes: [] };
  private readonly perKind = new Map<string, number>();
  private readonly shape: ShapeName;
  constructor(shape: ShapeName) {
    this.shape = shape;
  }

  fail(kind: keyof Omit<Verdict, 'notes'>, n: number, note: () => string): void {
    if (n <= 0) return;
    this.verdict[kind] += n;
    const shown = this.perKind.get(kind) ?? 0;
    this.perKind.set(kind, shown + 1);
    if (shown < MAX_NOTES) this.verdict.notes.push(`${this.shape} ${kind}: ${note()}`);
  }

  /** A state value compared with the tracker: equal (exactly-once) or at least as high (at-least-once). */
  expectCount(exact: boolean, what: string, expected: number, actual: unknown): void {
    const ok = typeof actual === 'number' && (exact ? actual === expected : actual >= expected);
    this.fail('stateMismatches', ok ? 0 : 1, () => `${what}: expected ${expected}, got ${String(actual)}`);
  }

  /** Actors with state that the tracker never expected. */
  unexpectedActors(
    what: string,
    actual: ReadonlyMap<string, unknown>,
    expected: ReadonlyMap<string, unknown>,
  ): void {
    for (const a of actual.keys()) {
      if (!expected.has(a))
        this.fail('stateMismatches', 1, () => `${what}: actor '${a}' has state but got no input`);
    }
  }
}
