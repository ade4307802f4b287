// A transport whose consumer of one group calls `onBatch` with every batch before the runtime gets it: the
// throughput benchmark times from the first batch, the rebalance benchmark records every delivery.
import type { RecordBatch, Transport } from '@dirigo/core';

export function tapBatches(
  transport: Transport,
  group: string,
  onBatch: (batch: RecordBatch) => void,
): Transport {
  return {
    name: transport.name,
    exactlyOnceV2: transport.exactlyOnceV2 === true,
    admin: () => transport.admin(),
    producer: (options) => transport.producer(options),
    readToEnd: (partitions, onRecords) => transport.readToEnd(partitions, onRecords),
    close: () => transport.close(),
    consumer: (options) => {
      const consumer = transport.consumer(options);
      if (options.groupId !== group) return consumer;
      const run = consumer.run.bind(consumer);
      consumer.run = (handlers) =>
        run({
          ...handlers,
          eachBatch: (batch) => {
            onBatch(batch);
            return handlers.eachBatch(batch);
          },
        });
      return consumer;
    },
  };
}
