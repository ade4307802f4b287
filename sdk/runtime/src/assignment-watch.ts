// Notices consumers that stopped taking part in their group, through the transport contract alone: a healthy
// group member always holds an assignment (possibly empty) except during a rebalance, which ends within the
// group's rebalance timeout. A consumer that never got an assignment since it started, or lost it (partitions
// revoked) and never got one back, for much longer than that is dead for this worker: its client crashed for
// good (kafkajs stops for good after a non-retriable error, e.g. a session timeout outside the broker's
// range, or a missing authorisation), or it cannot reach its group coordinator at all.
//
// The watch wraps the transport the worker hands to its group members: every consumer it makes reports
// `onAssigned` / `onRevoked` here before passing them on. Limit: a member whose assignment was empty is not
// told when its client dies (no partition is revoked), so it is not noticed; it was doing no work then.
//
// A consumer whose transport knows it stopped for good (`onFatal`: the broker refused its group, a non-retriable
// client error) is reported at once to the watch's `fatal` callback, without waiting for the timeout.
import type { Consumer, ConsumerHandlers, ConsumerOptions, Transport } from '@dirigo/core';

interface Member {
  assigned: boolean;
  /** When it last held no assignment (run started, or partitions revoked), ms (monotonic). */
  since: number;
}

const monotonicNow = (): number => performance.now();

export class AssignmentWatch {
  private readonly members = new Map<string, Member>();
  private readonly now: () => number;

  private readonly fatal: ((group: string, error: Error) => void) | undefined;

  /** `fatal`: told when a consumer of a group stopped for good (its transport's `onFatal`). */
  constructor(now: () => number = monotonicNow, fatal?: (group: string, error: Error) => void) {
    this.now = now;
    this.fatal = fatal;
  }

  /** `transport`, with its consumers reporting here. Everything else is the transport's own. */
  wrap(transport: Transport): Transport {
    return {
      get name() {
        return transport.name;
      },
      get exactlyOnceV2() {
        return transport.exactlyOnceV2 === true;
      },
      admin: () => transport.admin(),
      producer: (options) => transport.producer(options),
      consumer: (options) => this.watch(transport.consumer(options), options),
      readToEnd: (partitions, onRecords) => transport.readToEnd(partitions, onRecords),
      close: () => transport.close(),
    };
  }

  /**
   * How long the consumer of `group` has held no assignment, ms: 0 while it holds one, undefined when no
   * consumer of that group has started running.
   */
  unassignedMs(group: string): number | undefined {
    const m = this.members.get(group);
    if (m === undefined) return undefined;
    return m.assigned ? 0 : this.now() - m.since;
  }

  /** Forgets a group (its consumer is being stopped on purpose). */
  forget(group: string): void {
    this.members.delete(group);
  }

  private watch(consumer: Consumer, options: ConsumerOptions): Consumer {
    const group = options.groupId;
    return {
      connect: () => consumer.connect(),
      subscribe: (topics) => consumer.subscribe(topics),
      run: (handlers: ConsumerHandlers) => {
        const member: Member = { assigned: false, since: this.now() };
        this.members.set(group, member);
        return consumer.run({
          eachBatch: (batch) => handlers.eachBatch(batch),
          onAssigned: (tps) => {
            member.assigned = true;
            return handlers.onAssigned?.(tps);
          },
          onRevoked: (tps) => {
            member.assigned = false;
            member.since = this.now();
            return handlers.onRevoked?.(tps);
          },
          onFatal: (error) => {
            handlers.onFatal?.(error);
            this.fatal?.(group, error);
          },
        });
      },
      commitOffsets: (offsets) => consumer.commitOffsets(offsets),
      pause: (topics) => consumer.pause(topics),
      resume: (topics) => consumer.resume(topics),
      seek: (position) => consumer.seek(position),
      assignment: () => consumer.assignment(),
      ...(consumer.groupMetadata === undefined ? {} : { groupMetadata: () => consumer.groupMetadata?.() }),
      disconnect: () => {
        this.members.delete(group);
        return consumer.disconnect();
      },
    };
  }
}
