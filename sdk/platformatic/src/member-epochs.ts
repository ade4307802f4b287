// KIP-848 member epochs, as the group coordinator's heartbeat answers carry them. Exactly-once v2 on the `consumer`
// group protocol needs a member's epoch: a transactional offset commit carries it in place of the classic
// generation, and the coordinator refuses one whose epoch is not the member's current one. The client keeps the
// epoch private (no getter), but publishes every answer it parses on its documented diagnostics channel
// (`plt:kafka:connections:api`, a tracing channel: `asyncStart` carries the parsed answer as `result`, before the
// client's own callback sees it). Answers of ConsumerGroupHeartbeat are read there, by member id (a KIP-848 member id
// is a UUID the member chose, unique across groups). Refused answers carry no result and change nothing.
import { channel } from 'node:diagnostics_channel';

const CONSUMER_GROUP_HEARTBEAT = 68;
const ANSWERS = 'tracing:plt:kafka:connections:api:asyncStart';

interface ApiContext {
  readonly apiKey?: number;
  readonly result?: { readonly memberId?: string | null; readonly memberEpoch?: number };
}

/** How many forgotten member ids are remembered, so that a late answer to one does not bring its epoch back. */
export const FORGOTTEN_LIMIT = 256;

const epochs = new Map<string, number>();
/** Member ids forgotten, oldest first (a Set keeps insertion order). */
const forgotten = new Set<string>();
let watching = false;

function onAnswer(message: unknown): void {
  const context = message as ApiContext;
  if (context.apiKey !== CONSUMER_GROUP_HEARTBEAT) return;
  const memberId = context.result?.memberId;
  const epoch = context.result?.memberEpoch;
  if (typeof memberId !== 'string' || typeof epoch !== 'number' || forgotten.has(memberId)) return;
  // A leave is answered with epoch -1: the member has no epoch any more.
  if (epoch > 0) epochs.set(memberId, epoch);
  else epochs.delete(memberId);
}

/** Starts reading member epochs from the client's heartbeat answers (once per process). */
export function watchMemberEpochs(): void {
  if (watching) return;
  watching = true;
  channel(ANSWERS).subscribe(onAnswer);
}

/** The epoch of the last heartbeat answer to `memberId`, or undefined (none yet, left, or forgotten). */
export function memberEpoch(memberId: string): number | undefined {
  return epochs.get(memberId);
}

/**
 * Forgets a member that left or was replaced (its epoch is never used again). An answer to it that arrives later
 * (a heartbeat in flight) is ignored, so the map holds only members in use; the last FORGOTTEN_LIMIT forgotten
 * ids are kept for that.
 */
export function forgetMember(memberId: string): void {
  epochs.delete(memberId);
  forgotten.delete(memberId);
  forgotten.add(memberId);
  if (forgotten.size > FORGOTTEN_LIMIT) forgotten.delete(forgotten.values().next().value!);
}

/** How many members have an epoch here (tests). */
export function trackedMembers(): number {
  return epochs.size;
}
