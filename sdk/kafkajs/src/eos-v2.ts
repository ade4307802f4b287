// Exactly-once v2 (KIP-447) on kafkajs, which speaks only the requests from before it: TxnOffsetCommit v0-v1 (no
// group generation or member id) and OffsetFetch up to v4 (no `require_stable`). This file writes the two newer
// requests the runtime's transaction unit needs, as kafkajs request objects sent through kafkajs's own broker
// connections (so TLS, SASL, timeouts and the connection's correlation ids stay kafkajs's):
// - TxnOffsetCommit v3 (Kafka 2.5+): the transaction's offsets committed as a group member's, with its generation
//   and member id, so the group coordinator refuses those of a member whose generation moved on (a zombie);
// - OffsetFetch v7 (Kafka 2.5+): committed offsets with `require_stable`, answered UNSTABLE_OFFSET_COMMIT while an
//   open transaction holds offsets of the group (a new owner waits for a zombie's transaction to end).
// Both are flexible versions: a request header v2 (client id, then a tagged-field buffer) and a response header v1
// (correlation id, then a tagged-field buffer). kafkajs writes header v1, so the request body starts with the
// header's empty tag buffer, as kafkajs's own ListPartitionReassignments v0 does; the response decoder reads the
// response header's tag buffer first.
//
// Schemas (Apache Kafka's clients/src/main/resources/common/message/*.json):
//
// TxnOffsetCommit Request (Version: 3) => transactional_id group_id producer_id producer_epoch generation_id
//                                         member_id group_instance_id [topics] TAG_BUFFER
//   transactional_id => COMPACT_STRING, group_id => COMPACT_STRING, producer_id => INT64,
//   producer_epoch => INT16, generation_id => INT32, member_id => COMPACT_STRING,
//   group_instance_id => COMPACT_NULLABLE_STRING
//   topics => name [partitions] TAG_BUFFER
//     name => COMPACT_STRING
//     partitions => partition_index committed_offset committed_leader_epoch committed_metadata TAG_BUFFER
//       partition_index => INT32, committed_offset => INT64, committed_leader_epoch => INT32,
//       committed_metadata => COMPACT_NULLABLE_STRING
// TxnOffsetCommit Response (Version: 3) => throttle_time_ms [topics] TAG_BUFFER
//   topics => name [partitions] TAG_BUFFER
//     partitions => partition_index error_code TAG_BUFFER
//
// OffsetFetch Request (Version: 7) => group_id [topics] require_stable TAG_BUFFER
//   group_id => COMPACT_STRING
//   topics => name [partition_indexes] TAG_BUFFER (COMPACT_NULLABLE_ARRAY)
//     name => COMPACT_STRING, partition_indexes => INT32 (COMPACT_ARRAY)
//   require_stable => BOOLEAN
// OffsetFetch Response (Version: 7) => throttle_time_ms [topics] error_code TAG_BUFFER
//   topics => name [partitions] TAG_BUFFER
//     partitions => partition_index committed_offset committed_leader_epoch metadata error_code TAG_BUFFER
//       partition_index => INT32, committed_offset => INT64, committed_leader_epoch => INT32,
//       metadata => COMPACT_NULLABLE_STRING, error_code => INT16
import { createRequire } from 'node:module';
import type { GroupMetadata } from '@dirigo/core';

const require = createRequire(import.meta.url);

export const TXN_OFFSET_COMMIT_KEY = 28;
const OFFSET_FETCH_KEY = 9;
/** The versions written here: the first with the member's generation, the last with `require_stable` at the top. */
export const TXN_OFFSET_COMMIT_VERSION = 3;
export const OFFSET_FETCH_VERSION = 7;

interface KEncoder {
  writeInt8(v: number): KEncoder;
  writeInt16(v: number): KEncoder;
  writeInt32(v: number): KEncoder;
  writeInt64(v: string | number): KEncoder;
  writeBoolean(v: boolean): KEncoder;
  writeUVarInt(v: number): KEncoder;
  writeUVarIntString(v: string | null): KEncoder;
  writeEncoder(v: KEncoder): KEncoder;
}
interface KDecoder {
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readUVarInt(): number;
  readUVarIntString(): string | null;
  readTaggedFields(): unknown;
}
const Encoder = (): KEncoder => new (require('kafkajs/src/protocol/encoder.js') as new () => KEncoder)();
const Decoder = (b: Buffer): KDecoder =>
  new (require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => KDecoder)(b);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode(code: number): Error & { type?: string; retriable?: boolean };
};

/** A request as kafkajs's connection sends it (`connectionPool.send`). */
export interface KafkajsRequest<T> {
  readonly request: {
    readonly apiKey: number;
    readonly apiVersion: number;
    readonly apiName: string;
    encode(): Promise<KEncoder>;
  };
  readonly response: { decode(raw: Buffer): Promise<T>; parse(data: T): Promise<T> };
}

/** Offsets as kafkajs's transaction manager hands them on (`sendOffsets({ topics })`). */
export type KafkajsOffsetTopics = readonly {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly offset: string }[];
}[];

/** A compact array of `items` written by `write` (length + 1, then the items). */
function compactArray<T>(e: KEncoder, items: readonly T[], write: (e: KEncoder, item: T) => void): KEncoder {
  e.writeUVarInt(items.length + 1);
  for (const item of items) write(e, item);
  return e;
}

/** Reads a compact array; null (length 0) is read as empty. */
function readCompactArray<T>(d: KDecoder, read: (d: KDecoder) => T): T[] {
  const n = d.readUVarInt();
  const out: T[] = [];
  for (let i = 0; i < n - 1; i++) out.push(read(d));
  return out;
}

/** kafkajs's protocol error for `code` (its `type` names the error, e.g. ILLEGAL_GENERATION). */
const errorOf = (code: number) => createErrorFromCode(code);

export interface TxnOffsetCommitArgs {
  readonly transactionalId: string;
  readonly groupId: string;
  readonly producerId: number | string;
  readonly producerEpoch: number;
  readonly topics: KafkajsOffsetTopics;
}

/** Per partition of the answer: its error code (0: committed in the transaction). */
export interface TxnOffsetCommitAnswer {
  readonly throttleTimeMs: number;
  readonly topics: { topic: string; partitions: { partition: number; errorCode: number }[] }[];
}

/**
 * TxnOffsetCommit v3: the transaction's offsets as `member`'s. Its answer rejects with kafkajs's protocol error of
 * the first partition that failed (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and REBALANCE_IN_PROGRESS: the member's
 * generation moved on; NOT_COORDINATOR and the like: kafkajs's transaction manager looks the coordinator up again).
 */
export function txnOffsetCommitV3(
  args: TxnOffsetCommitArgs,
  member: GroupMetadata,
): KafkajsRequest<TxnOffsetCommitAnswer> {
  return {
    request: {
      apiKey: TXN_OFFSET_COMMIT_KEY,
      apiVersion: TXN_OFFSET_COMMIT_VERSION,
      apiName: 'TxnOffsetCommit',
      encode: async () => {
        const e = Encoder()
          .writeUVarInt(0) // the request header's tag buffer (kafkajs writes header v1)
          .writeUVarIntString(args.transactionalId)
          .writeUVarIntString(args.groupId)
          .writeInt64(String(args.producerId))
          .writeInt16(args.producerEpoch)
          .writeInt32(member.generationId)
          .writeUVarIntString(member.memberId)
          .writeUVarIntString(null); // group_instance_id: no static membership
        compactArray(e, args.topics, (e, t) => {
          e.writeUVarIntString(t.topic);
          compactArray(e, t.partitions, (e, p) => {
            e.writeInt32(p.partition)
              .writeInt64(p.offset)
              .writeInt32(-1) // committed_leader_epoch: unknown
              .writeUVarIntString(null) // committed_metadata
              .writeUVarInt(0);
          });
          e.writeUVarInt(0);
        });
        return e.writeUVarInt(0);
      },
    },
    response: {
      decode: async (raw) => {
        const d = Decoder(raw);
        d.readTaggedFields(); // the response header's
        const throttleTimeMs = d.readInt32();
        const topics = readCompactArray(d, (d) => {
          const topic = d.readUVarIntString() ?? '';
          const partitions = readCompactArray(d, (d) => {
            const p = { partition: d.readInt32(), errorCode: d.readInt16() };
            d.readTaggedFields();
            return p;
          });
          d.readTaggedFields();
          return { topic, partitions };
        });
        d.readTaggedFields();
        return { throttleTimeMs, topics };
      },
      parse: async (data) => {
        for (const t of data.topics)
          for (const p of t.partitions) if (p.errorCode !== 0) throw errorOf(p.errorCode);
        return data;
      },
    },
  };
}

/** The committed offsets of one topic, per partition (-1: none), and the error of each partition (0: none). */
export interface OffsetFetchAnswer {
  readonly errorCode: number;
  readonly partitions: { partition: number; offset: number; errorCode: number }[];
}

/**
 * OffsetFetch v7 of `partitions` of `topic`; with `requireStable`, partitions whose offsets an open transaction holds
 * are answered UNSTABLE_OFFSET_COMMIT. The answer is returned as it is (errors included): the caller decides
 * what to try again.
 */
export function offsetFetchV7(
  groupId: string,
  topic: string,
  partitions: readonly number[],
  requireStable: boolean,
): KafkajsRequest<OffsetFetchAnswer> {
  return {
    request: {
      apiKey: OFFSET_FETCH_KEY,
      apiVersion: OFFSET_FETCH_VERSION,
      apiName: 'OffsetFetch',
      encode: async () => {
        const e = Encoder().writeUVarInt(0).writeUVarIntString(groupId);
        compactArray(e, [topic], (e, name) => {
          e.writeUVarIntString(name);
          compactArray(e, partitions, (e, p) => e.writeInt32(p));
          e.writeUVarInt(0);
        });
        return e.writeBoolean(requireStable).writeUVarInt(0);
      },
    },
    response: {
      decode: async (raw) => {
        const d = Decoder(raw);
        d.readTaggedFields();
        d.readInt32(); // throttle time
        const answered: OffsetFetchAnswer['partitions'] = [];
        readCompactArray(d, (d) => {
          const name = d.readUVarIntString();
          readCompactArray(d, (d) => {
            const partition = d.readInt32();
            const offset = Number(d.readInt64().toString());
            d.readInt32(); // committed leader epoch
            d.readUVarIntString(); // metadata
            const errorCode = d.readInt16();
            d.readTaggedFields();
            if (name === topic) answered.push({ partition, offset, errorCode });
          });
          d.readTaggedFields();
        });
        const errorCode = d.readInt16();
        d.readTaggedFields();
        return { errorCode, partitions: answered };
      },
      parse: async (data) => data,
    },
  };
}

/**
 * OffsetFetch answers worth another attempt (kafkajs's names): the coordinator is loading or moved (each attempt
 * looks it up again), or a transaction holds offsets of the group.
 */
export const OFFSET_FETCH_TRY_AGAIN: ReadonlySet<string> = new Set([
  'GROUP_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'UNSTABLE_OFFSET_COMMIT',
]);

/** The first error of an OffsetFetch answer (top level first), or undefined. */
export function offsetFetchError(answer: OffsetFetchAnswer): (Error & { type?: string }) | undefined {
  if (answer.errorCode !== 0) return errorOf(answer.errorCode);
  for (const p of answer.partitions) if (p.errorCode !== 0) return errorOf(p.errorCode);
  return undefined;
}

/**
 * Offsets a kafkajs transaction is to commit as a group member's: kafkajs's transaction manager hands the very
 * `topics` array it was given to the group coordinator's `txnOffsetCommit`, where the patched broker method
 * (kafkajs-patches.ts, fix 7) finds the member by it and sends v3. A WeakMap: nothing to clean up.
 */
const members = new WeakMap<KafkajsOffsetTopics, GroupMetadata>();

/** Marks `topics` as `member`'s offsets (before they are handed to kafkajs's `transaction.sendOffsets`). */
export function commitAsMember(topics: KafkajsOffsetTopics, member: GroupMetadata): void {
  members.set(topics, member);
}

/** The member whose offsets `topics` are, if they were marked. */
export function memberOf(topics: KafkajsOffsetTopics): GroupMetadata | undefined {
  return members.get(topics);
}
