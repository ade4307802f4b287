// Fixes for kafkajs 2.2.4 (pinned exactly), applied before kafkajs loads, by putting our implementations into the
// CommonJS module cache under kafkajs's own paths, so that kafkajs's `require('./…')` gets them. Process-wide:
// every kafkajs client in this process uses them. This module must be imported before anything imports 'kafkajs'
// (index.ts does so first); when kafkajs was loaded earlier, this package loads a fresh copy of kafkajs for itself
// (`loadPatched`). The package's files take kafkajs from `kafkajs` below, never from 'kafkajs' directly.
//
// 1. Producer: kafkajs groups a send's messages per partition with `[...current, message]` inside a reduce, which
//    is quadratic in the messages per partition (measured: about 13% of a passthrough worker's CPU). Ours is
//    linear with the same result (an object of partition -> messages in send order).
// 2. Consumer (read_committed): kafkajs hides the records of aborted transactions by walking the fetch's list of
//    aborted transactions one entry per RECORD, so when a fetch starts inside two or more aborted transactions of
//    different producers (the broker lists every aborted transaction that overlaps the fetched range, including
//    those that began before it), records of all but the first leak to the application as if committed. Ours
//    takes in every aborted transaction that has begun at each record's offset, as the Java client does.
// 3. Consumer group: kafkajs re-joins on its own after UNKNOWN_MEMBER_ID (a member frozen past its session
//    timeout) or from inside a fetch, without its rebalancing event; its fetchers may then still hold batches of the
//    old generation, so consumer.ts asks for a clean re-join. It could force one only from inside a batch, and an
//    idle member gets none: it kept its stale assignment for good. A member asked to re-join (`requestRejoin`)
//    fails its next heartbeat, which kafkajs sends after every empty fetch, with REBALANCE_IN_PROGRESS: kafkajs then
//    stops its fetchers, emits its rebalancing event and re-joins, as on a rebalance the coordinator started.
// 4. Consumer group: on OFFSET_OUT_OF_RANGE kafkajs COMMITS the reset sentinel (-2 earliest / -1 latest) as the
//    group's offset for the partition (OffsetManager.setDefaultOffset), which destroys the committed position
//    the runtime opens the partition from. It happened in the leasing chaos: a seek queued before a re-join (a
//    re-delivery after a fenced step) was applied in the next generation below the log start (records purged
//    since), kafkajs committed -2, the task opened at offset 0 and processed the lease partition's records again
//    (27 duplicates). Ours moves only the fetch position to the log start (or the end), as the Java client does,
//    and never commits: the runtime's committed positions are its own.
// 5. Consumer group: kafkajs keeps seeks queued (`consumer.seek`, applied at the next fetch) across a re-join and
//    applies them in the next generation, to partitions whose positions the new generation reads from the group's
//    committed offsets: the trigger of defect 4. A seek belongs to the assignment it was made in, as in the Java
//    client (a revoked partition's position is dropped): queued seeks are dropped when a join starts. Seeks made
//    while the new assignment is announced (the group-join event, after the sync) are kept.
// 6. Producer: a send attempt fails at its first failed Produce request while the requests to other leaders are
//    still in flight, and the retry sends those again under new sequence numbers: records written twice, also in
//    a transaction (send-messages.ts has the details and the replacement).
// 7. Exactly-once v2 (not a defect: kafkajs predates KIP-447): a transaction's offsets marked as a group member's
//    go out as TxnOffsetCommit v3 with the member's generation and id (eos-v2.ts), and a group-join listener can
//    read the generation its assignment is of (`joinedGeneration`).
// 8. Producer: when the broker refuses some partitions of an AddPartitionsToTxn (no WRITE on one topic of a
//    transaction), it answers OPERATION_NOT_ATTEMPTED for the others, and kafkajs throws the first partition error
//    of the answer, which may be one of those: the refusal, and the topic it names, were lost. Ours throws the
//    first error that is not OPERATION_NOT_ATTEMPTED, with the topic and partition it is about (`topic`,
//    `partition` on the error), so the transport names the refused topic.
// 9. Every connection: RequestQueue.checkPendingRequests ends by scheduling its next check at `throttledUntil -
//    Date.now()`, which is about minus the epoch when the broker never throttled (throttledUntil = -1) and nothing
//    is pending: Node clamps it to 1 ms and the check schedules itself again, a timer firing every millisecond per
//    connection for the connection's life, and Node 24 prints a TimeoutNegativeWarning on stderr (kafkajs issues
//    1704, 1751). Ours schedules a check only while a request is pending (at the throttle's end, or after 10 ms
//    as kafkajs does when a request waits for an in-flight slot) or while throttled.
// 10. Producer: kafkajs encodes each record of a Produce request with an Encoder per record and one more per
//    header, each zero-filling a 512-byte buffer, and a Buffer per varint: with the three scheduling headers on
//    every record (every `ctx.send` hop), sends took about half of a kafkajs passthrough's time. Ours writes the
//    same bytes into one exactly sized buffer (record-encoder.ts); records it does not cover go to kafkajs's.
// 11. Producer: kafkajs computes a record batch's CRC-32C one byte per step, about 5 ns per byte here (15% of a
//    kafkajs passthrough with headers). Ours (crc32c.ts) takes eight bytes per step, 0.7 ns per byte, same value.
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import type KafkaJS from 'kafkajs';
import {
  memberOf,
  TXN_OFFSET_COMMIT_KEY,
  TXN_OFFSET_COMMIT_VERSION,
  type TxnOffsetCommitArgs,
  txnOffsetCommitV3,
} from './eos-v2.ts';
import { crc32c } from './crc32c.ts';
import { createRecordEncoder, type RecordEncoder } from './record-encoder.ts';
import { createSendMessages } from './send-messages.ts';

const require = createRequire(import.meta.url);

interface GroupArgs {
  readonly topic: string;
  readonly partitionMetadata: readonly unknown[];
  readonly messages: readonly unknown[];
  readonly partitioner: (args: {
    topic: string;
    partitionMetadata: readonly unknown[];
    message: unknown;
  }) => number;
}

/** Linear grouping of messages per partition, in send order (what kafkajs's own version returns). */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: GroupArgs): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list === undefined) result[partition] = [message];
    else list.push(message);
  }
  return result;
}

/** What the filter needs of a kafkajs message (decoded record or control record). */
interface FetchedMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly isControlRecord?: boolean;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

/** An aborted transaction as a read_committed Fetch answer lists it. */
interface AbortedTransaction {
  readonly producerId: string;
  readonly firstOffset: string;
}

/** Control record key of an ABORT marker: version 0 (int16), type 0 (int16). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

/**
 * The messages of one fetch without those of aborted transactions (control records are kept; kafkajs drops them
 * afterwards). Before each message, every listed aborted transaction whose first offset is at or below the
 * message's offset is taken in (its producer's transactional records are aborted from there on); the producer's
 * ABORT marker ends it.
 */
export function filterAbortedMessages<M extends FetchedMessage>({
  messages,
  abortedTransactions,
}: {
  messages: M[];
  abortedTransactions?: readonly AbortedTransaction[] | null;
}): M[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => Number(a.firstOffset) - Number(b.firstOffset));
  let next = 0;
  const aborted = new Set<string>();
  return messages.filter((m) => {
    const offset = Number(m.offset);
    while (next < pending.length && Number(pending[next]!.firstOffset) <= offset) {
      aborted.add(pending[next]!.producerId);
      next++;
    }
    const producerId = m.batchContext.producerId;
    if (m.isControlRecord === true) {
      if (m.key !== null && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) aborted.delete(producerId);
      return true;
    }
    return !(m.batchContext.inTransaction && aborted.has(producerId));
  });
}

const GROUPING = 'kafkajs/src/producer/groupMessagesPerPartition.js';
const ABORT_FILTER = 'kafkajs/src/consumer/filterAbortedMessages.js';
const SEND_MESSAGES = 'kafkajs/src/producer/sendMessages.js';
const RECORD = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
const ENCODER = 'kafkajs/src/protocol/encoder.js';
const CRC32C = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
/** kafkajs modules that capture the patched ones when they load. */
const USERS = [
  'kafkajs/src/producer/sendMessages.js',
  'kafkajs/src/producer/messageProducer.js',
  'kafkajs/src/consumer/batch.js',
  'kafkajs/src/protocol/requests/produce/v3/request.js',
  'kafkajs/src/protocol/recordBatch/v0/index.js',
];

/** Marks fix 10's record encoder, so that a copy of kafkajs loaded earlier is told from ours. */
const RECORD_ENCODER = Symbol.for('dirigo.kafkajs.recordEncoder');

/** kafkajs's own record encoder, once fix 10 wrapped it. */
let kafkajsRecord: RecordEncoder | undefined;

/** Fix 10: kafkajs's record encoder (loaded first, for what ours leaves to it) wrapped by ours. */
function recordEncoder(): unknown {
  const original = require(RECORD) as RecordEncoder & Record<symbol, unknown>;
  if (original[RECORD_ENCODER] === true) return original; // this module loaded twice: ours is in place
  kafkajsRecord = original;
  const prototype = (require(ENCODER) as { prototype: object }).prototype;
  return Object.assign(createRecordEncoder(original, prototype), { [RECORD_ENCODER]: true });
}

/** Puts `exports` into the module cache as kafkajs module `path` (loading the real one first, for a real Module). */
function swapModule(path: string, exports: unknown): boolean {
  const resolved = require.resolve(path);
  if (require.cache[resolved] === undefined) require(resolved);
  const entry = require.cache[resolved];
  if (entry === undefined) return false;
  entry.exports = exports;
  return true;
}

/**
 * kafkajs with both fixes. When the process loaded kafkajs before this module (an application that imports
 * 'kafkajs' first), its modules already hold the originals; then every cached kafkajs module is dropped and
 * this package loads its own copy, so the fixes never silently fail to apply. (The application's earlier
 * references keep the copy they have.)
 */
function loadPatched(): {
  kafkajs: typeof KafkaJS;
  grouping: boolean;
  filter: boolean;
  send: boolean;
  record: boolean;
  crc: boolean;
} {
  const loaded = USERS.some((u) => require.cache[require.resolve(u)] !== undefined);
  const ours =
    require.cache[require.resolve(GROUPING)]?.exports === groupMessagesPerPartition &&
    require.cache[require.resolve(ABORT_FILTER)]?.exports === filterAbortedMessages &&
    require.cache[require.resolve(SEND_MESSAGES)]?.exports === createSendMessages &&
    (require.cache[require.resolve(RECORD)]?.exports as Record<symbol, unknown> | undefined)?.[
      RECORD_ENCODER
    ] === true &&
    require.cache[require.resolve(CRC32C)]?.exports === crc32c;
  if (loaded && !ours) {
    const dir = `${dirname(require.resolve('kafkajs/package.json'))}${sep}`;
    for (const key of Object.keys(require.cache)) if (key.startsWith(dir)) delete require.cache[key];
  }
  const grouping = swapModule(GROUPING, groupMessagesPerPartition);
  const filter = swapModule(ABORT_FILTER, filterAbortedMessages);
  const send = swapModule(SEND_MESSAGES, createSendMessages);
  const record = swapModule(RECORD, recordEncoder());
  const crc = swapModule(CRC32C, crc32c);
  return { kafkajs: require('kafkajs') as typeof KafkaJS, grouping, filter, send, record, crc };
}

const loadedKafkajs = loadPatched();

/** The kafkajs module this package uses (with the fixes above); import it from here, never from 'kafkajs'. */
export const kafkajs: typeof KafkaJS = loadedKafkajs.kafkajs;

const CONSUMER_GROUP = 'kafkajs/src/consumer/consumerGroup.js';
const OFFSET_MANAGER = 'kafkajs/src/consumer/offsetManager/index.js';

type Method = (this: never, ...args: never[]) => unknown;
type Marked = { [mark: symbol]: true | undefined };
const prototypeOf = (path: string): Record<string, unknown> =>
  (require(path) as { prototype: Record<string, unknown> }).prototype;

/**
 * Replaces `method` on the prototype of kafkajs module `path` (the copy loaded above) with `wrap(original)`,
 * marked with `mark`, unless it is marked already (this module loaded twice).
 */
function patchMethod<F extends Method>(
  path: string,
  method: string,
  mark: symbol,
  wrap: (original: F) => F,
): void {
  const proto = prototypeOf(path);
  const original = proto[method] as F & Marked;
  if (original[mark] === true) return;
  proto[method] = Object.assign(wrap(original), { [mark]: true });
}

/** Whether `method` of kafkajs module `path` is the one `patchMethod` put there with `mark`, in this process. */
const isPatched = (path: string, method: string, mark: symbol): boolean =>
  (prototypeOf(path)[method] as Marked)[mark] === true;

/** Members asked to re-join (by member id), with the error their next heartbeat fails with. */
const rejoinRequests = new Map<string, Error>();

type Heartbeat = (this: { memberId: string | null }, args: unknown) => Promise<unknown>;
const PATCHED_HEARTBEAT = Symbol.for('dirigo.kafkajs.heartbeat');

// Fix 3: ConsumerGroup.heartbeat fails once for a member asked to re-join.
patchMethod<Heartbeat>(
  CONSUMER_GROUP,
  'heartbeat',
  PATCHED_HEARTBEAT,
  (original) =>
    function (this, args) {
      const error = this.memberId === null ? undefined : rejoinRequests.get(this.memberId);
      if (error !== undefined && this.memberId !== null) {
        rejoinRequests.delete(this.memberId);
        return Promise.reject(error);
      }
      return original.call(this, args);
    },
);

interface ConsumerGroupLike {
  readonly seekOffset: Map<string, unknown>;
  readonly memberId: string | null;
  readonly generationId: number | null;
}
type JoinAndSync = (this: ConsumerGroupLike) => Promise<void>;
const PATCHED_JOIN = Symbol.for('dirigo.kafkajs.joinAndSync');
/** Consumer groups inside `joinAndSync` (kafkajs emits its group-join event from there, synchronously). */
const joining = new Set<ConsumerGroupLike>();

// Fix 5: ConsumerGroup.joinAndSync drops the queued seeks first. Fix 7 (generation): while it runs, the group is
// findable by member id, so that a group-join listener can read the generation the announced assignment is of
// (`joinedGeneration`; kafkajs's event carries the member id but not the generation).
patchMethod<JoinAndSync>(
  CONSUMER_GROUP,
  'joinAndSync',
  PATCHED_JOIN,
  (original) =>
    function (this) {
      this.seekOffset.clear();
      joining.add(this);
      return original.call(this).finally(() => joining.delete(this));
    },
);

/**
 * The generation of member `memberId`, read from inside kafkajs's group-join event (the generation whose
 * assignment the event announces); undefined elsewhere, or for a member not joining in this process.
 */
export function joinedGeneration(memberId: string): number | undefined {
  for (const group of joining) {
    if (group.memberId === memberId && group.generationId !== null) return group.generationId;
  }
  return undefined;
}

/** Whether kafkajs drops the seeks queued before a re-join (fix 5) in this process. */
export const staleSeeksDropped = (): boolean => isPatched(CONSUMER_GROUP, 'joinAndSync', PATCHED_JOIN);

interface OffsetManagerLike {
  readonly cluster: {
    fetchTopicsOffset(
      topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
    ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
  };
  readonly topicConfigurations: Record<string, { fromBeginning?: boolean } | undefined>;
  resolvedOffsets: Record<string, Record<number, string> | undefined>;
}
type SetDefaultOffset = (this: OffsetManagerLike, tp: { topic: string; partition: number }) => Promise<void>;
const PATCHED_RESET = Symbol.for('dirigo.kafkajs.setDefaultOffset');

/**
 * The fetch position of `partition` after OFFSET_OUT_OF_RANGE: the log start (`fromBeginning`, the consumer's
 * earliest reset) or the end, without committing anything (fix 4).
 */
export const resetFetchPosition: SetDefaultOffset = async function (this, { topic, partition }) {
  const fromBeginning = this.topicConfigurations[topic]?.fromBeginning === true;
  const answer = await this.cluster.fetchTopicsOffset([
    { topic, partitions: [{ partition }], fromBeginning },
  ]);
  const offset = answer
    .find((t) => t.topic === topic)
    ?.partitions.find((p) => p.partition === partition)?.offset;
  if (offset === undefined)
    throw new Error(`no ${fromBeginning ? 'log start' : 'end'} offset for ${topic}/${partition}`);
  const resolved = this.resolvedOffsets[topic] ?? {};
  resolved[partition] = offset;
  this.resolvedOffsets[topic] = resolved;
};

// Fix 4: OffsetManager.setDefaultOffset replaced (the original commits the reset sentinel).
patchMethod<SetDefaultOffset>(
  OFFSET_MANAGER,
  'setDefaultOffset',
  PATCHED_RESET,
  () =>
    function (this, tp) {
      return resetFetchPosition.call(this, tp);
    },
);

const BROKER = 'kafkajs/src/broker/index.js';
interface BrokerLike {
  readonly versions: Record<number, { minVersion: number; maxVersion: number } | undefined> | null;
  readonly connectionPool: { send(request: unknown): Promise<unknown> };
}
type TxnOffsetCommit = (this: BrokerLike, args: TxnOffsetCommitArgs) => Promise<unknown>;
const PATCHED_TXN_OFFSETS = Symbol.for('dirigo.kafkajs.txnOffsetCommit');
/** kafkajs's private send of a broker (it closes the broker on a closed connection), if found. */
const sendRequest = Object.getOwnPropertySymbols(prototypeOf(BROKER)).find(
  (s) => s.description === 'private:Broker:sendRequest',
);

// Fix 7: Broker.txnOffsetCommit sends offsets marked as a group member's (`commitAsMember`, exactly-once v2) as
// TxnOffsetCommit v3, with the member's generation and id; kafkajs's own versions (v0-v1) carry neither.
patchMethod<TxnOffsetCommit>(
  BROKER,
  'txnOffsetCommit',
  PATCHED_TXN_OFFSETS,
  (original) =>
    async function (this, args) {
      const member = memberOf(args.topics);
      if (member === undefined) return original.call(this, args);
      const max = this.versions?.[TXN_OFFSET_COMMIT_KEY]?.maxVersion ?? -1;
      if (max < TXN_OFFSET_COMMIT_VERSION) {
        throw new Error(
          `exactly-once v2 needs TxnOffsetCommit v${TXN_OFFSET_COMMIT_VERSION} (Kafka 2.5+); this broker speaks up to v${max}: set exactlyOnceV2: false`,
        );
      }
      const request = txnOffsetCommitV3(args, member);
      const send =
        sendRequest === undefined ? undefined : (this as unknown as Record<symbol, unknown>)[sendRequest];
      return typeof send === 'function'
        ? (send as (r: unknown) => Promise<unknown>).call(this, request)
        : this.connectionPool.send(request);
    },
);

/** Whether kafkajs sends a member's transactional offsets as TxnOffsetCommit v3 (fix 7) in this process. */
export const memberOffsetsPatched = (): boolean =>
  isPatched(BROKER, 'txnOffsetCommit', PATCHED_TXN_OFFSETS) &&
  isPatched(CONSUMER_GROUP, 'joinAndSync', PATCHED_JOIN);

const ADD_PARTITIONS_TO_TXN = 'kafkajs/src/protocol/requests/addPartitionsToTxn/index.js';
/** The broker's answer to the partitions it did not try because another of the request was refused. */
const OPERATION_NOT_ATTEMPTED = 55;

/** A decoded AddPartitionsToTxn answer (v0-v1, the versions kafkajs speaks). */
export interface AddPartitionsToTxnAnswer {
  readonly errors: readonly {
    readonly topic: string;
    readonly partitionErrors: readonly { readonly partition: number; readonly errorCode: number }[];
  }[];
}
type ParseAnswer = (data: AddPartitionsToTxnAnswer) => Promise<unknown>;
interface RequestVersion {
  (args: unknown): { request: unknown; response: { decode: unknown; parse: ParseAnswer } };
}
interface RequestDefinition {
  protocol: ((args: { version: number }) => RequestVersion) & Marked;
}

/**
 * Fix 8: parses an AddPartitionsToTxn answer with kafkajs's `parse`, but makes it throw the first partition error
 * that is not OPERATION_NOT_ATTEMPTED (the refusal the others were not attempted for), with `topic` and `partition`
 * set on the error.
 */
export async function parseAddPartitionsToTxn(
  data: AddPartitionsToTxnAnswer,
  parse: ParseAnswer,
): Promise<unknown> {
  for (const t of data.errors) {
    for (const p of t.partitionErrors) {
      if (p.errorCode === 0 || p.errorCode === OPERATION_NOT_ATTEMPTED) continue;
      try {
        await parse({ ...data, errors: [{ topic: t.topic, partitionErrors: [p] }] });
      } catch (e) {
        if (e !== null && typeof e === 'object') Object.assign(e, { topic: t.topic, partition: p.partition });
        throw e;
      }
    }
  }
  return parse(data);
}

const PATCHED_ADD_PARTITIONS = Symbol.for('dirigo.kafkajs.addPartitionsToTxn');
{
  const definition = require(ADD_PARTITIONS_TO_TXN) as RequestDefinition;
  const original = definition.protocol;
  if (original[PATCHED_ADD_PARTITIONS] !== true) {
    definition.protocol = Object.assign(
      (args: { version: number }): RequestVersion => {
        const make = original(args);
        return (request: unknown) => {
          const made = make(request);
          const parse = made.response.parse;
          return {
            ...made,
            response: { ...made.response, parse: (data) => parseAddPartitionsToTxn(data, parse) },
          };
        };
      },
      { [PATCHED_ADD_PARTITIONS]: true } as Marked,
    );
  }
}

const REQUEST_QUEUE = 'kafkajs/src/network/requestQueue/index.js';
/** kafkajs's interval between checks of a request waiting for an in-flight slot (CHECK_PENDING_REQUESTS_INTERVAL). */
const PENDING_CHECK_MS = 10;
interface RequestQueueLike {
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  readonly pending: readonly unknown[];
  checkPendingRequests(): void;
}
type ScheduleCheck = (this: RequestQueueLike) => void;
const PATCHED_SCHEDULE_CHECK = Symbol.for('dirigo.kafkajs.scheduleCheckPendingRequests');

/** Fix 9: the next check of the pending requests, only while one is pending or the queue is throttled. */
export const scheduleCheckPendingRequests: ScheduleCheck = function (this) {
  if (this.throttleCheckTimeoutId !== null) return;
  const throttledFor = this.throttledUntil - Date.now();
  let delay: number;
  if (this.pending.length > 0) delay = throttledFor > 0 ? throttledFor : PENDING_CHECK_MS;
  else if (throttledFor > 0) delay = throttledFor;
  else return;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delay);
};

patchMethod<ScheduleCheck>(
  REQUEST_QUEUE,
  'scheduleCheckPendingRequests',
  PATCHED_SCHEDULE_CHECK,
  () => scheduleCheckPendingRequests,
);

/** Whether kafkajs's request queues stop polling when idle (fix 9) in this process. */
export const idleQueuesQuiet = (): boolean =>
  isPatched(REQUEST_QUEUE, 'scheduleCheckPendingRequests', PATCHED_SCHEDULE_CHECK);

/** Whether kafkajs names the refused partition of an AddPartitionsToTxn (fix 8) in this process. */
export const addPartitionsRefusalPatched = (): boolean =>
  (require(ADD_PARTITIONS_TO_TXN) as RequestDefinition).protocol[PATCHED_ADD_PARTITIONS] === true;

/** Whether kafkajs's consumer resets an out-of-range position without committing it (fix 4) in this process. */
export const offsetResetFixed = (): boolean => isPatched(OFFSET_MANAGER, 'setDefaultOffset', PATCHED_RESET);

/**
 * Makes the member's next heartbeat fail with `error` (a REBALANCE_IN_PROGRESS protocol error), so that kafkajs
 * re-joins the group with its rebalancing event even when no batch comes (fix 3). One heartbeat only.
 */
export function requestRejoin(memberId: string, error: Error): void {
  if (!isPatched(CONSUMER_GROUP, 'heartbeat', PATCHED_HEARTBEAT))
    throw new Error('kafkajs heartbeat patch is not applied');
  rejoinRequests.set(memberId, error);
}

/** Withdraws a `requestRejoin` (the member re-joined cleanly, or is closing). */
export function cancelRejoin(memberId: string | undefined): void {
  if (memberId !== undefined) rejoinRequests.delete(memberId);
}

/** Whether kafkajs's producer uses the linear grouping in this process. */
export function groupingPatched(): boolean {
  return loadedKafkajs.grouping && require(GROUPING) === groupMessagesPerPartition;
}

/** Whether kafkajs's producer uses the send that lets every request of an attempt settle (fix 6). */
export function sendPatched(): boolean {
  return loadedKafkajs.send && require(SEND_MESSAGES) === createSendMessages;
}

/** Whether kafkajs's Produce requests use fix 10's record encoder in this process. */
export function recordEncoderPatched(): boolean {
  return loadedKafkajs.record && (require(RECORD) as Record<symbol, unknown>)[RECORD_ENCODER] === true;
}

/** Whether kafkajs's record batches take fix 11's CRC-32C in this process. */
export function crcPatched(): boolean {
  return loadedKafkajs.crc && require(CRC32C) === crc32c;
}

/** @internal kafkajs's own record encoder (tests compare fix 10's bytes with it). */
export function originalRecordEncoder(): RecordEncoder {
  if (kafkajsRecord === undefined) throw new Error('kafkajs record encoder patch is not applied');
  return kafkajsRecord;
}

/** Whether kafkajs's consumer uses the corrected aborted-transaction filter in this process. */
export function abortFilterPatched(): boolean {
  return loadedKafkajs.filter && require(ABORT_FILTER) === filterAbortedMessages;
}

// kafkajs 2.2.4 arms a timer with a negative delay (tulios/kafkajs#1751); Node 24 then prints a
// TimeoutNegativeWarning once per process. The timer still behaves (Node treats it as 1 ms), so this one warning
// type, and nothing else, is not printed.
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
  const first = rest[0];
  const type =
    typeof first === 'string'
      ? first
      : ((first as { type?: string } | undefined)?.type ??
        (warning instanceof Error ? warning.name : undefined));
  if (type === 'TimeoutNegativeWarning') return;
  (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
} as typeof process.emitWarning;
