// An application that loads kafkajs before @dirigo/kafkajs must still get the kafkajs fixes (the read_committed
// filter above all): the package then loads a copy of kafkajs of its own.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

describe('kafkajs fixes and load order', () => {
  it('apply even when kafkajs was loaded first', async () => {
    const early = require('kafkajs') as typeof import('kafkajs');
    expect(require.cache[require.resolve('kafkajs/src/consumer/batch.js')]).toBeDefined();
    const patches = await import('./kafkajs-patches.ts');
    expect(patches.abortFilterPatched()).toBe(true);
    expect(patches.groupingPatched()).toBe(true);
    expect(patches.addPartitionsRefusalPatched()).toBe(true);
    expect(patches.idleQueuesQuiet()).toBe(true);
    expect(patches.recordEncoderPatched()).toBe(true);
    expect(patches.crcPatched()).toBe(true);
    expect(patches.kafkajs).not.toBe(early);
    expect(typeof patches.kafkajs.Kafka).toBe('function');
  });
});
