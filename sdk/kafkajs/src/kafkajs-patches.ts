// A fix for kafkajs 2.2.4 (pinned exactly), applied before kafkajs loads: its producer groups a send's
// messages per partition with `[...current, message]` inside a reduce, which is quadratic in the messages per
// partition (measured: about 13% of a passthrough worker's CPU). This module puts a linear implementation with
// the same result (an object of partition -> messages in send order) into the CommonJS module cache under
// kafkajs's own path, so kafkajs's `require('./groupMessagesPerPartition')` gets it. Process-wide: any kafkajs
// client in this process benefits. It must be imported before anything imports 'kafkajs' (index.ts does so
// first); when kafkajs was loaded earlier, nothing changes and `groupingPatched()` says so.
import { createRequire } from 'node:module';

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

let patched = false;
const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const sendMessagesPath = require.resolve('kafkajs/src/producer/sendMessages.js');
if (require.cache[sendMessagesPath] === undefined) {
  const cached = require.cache[path];
  if (cached === undefined) {
    // Load kafkajs's module (so the cache entry is a real Module), then swap its exports.
    require(path);
  }
  const entry = require.cache[path];
  if (entry !== undefined) {
    entry.exports = groupMessagesPerPartition;
    patched = true;
  }
}

/** Whether kafkajs's producer uses the linear grouping in this process. */
export function groupingPatched(): boolean {
  return (
    patched && require('kafkajs/src/producer/groupMessagesPerPartition.js') === groupMessagesPerPartition
  );
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
