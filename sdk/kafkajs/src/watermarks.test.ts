// Regression: after a topic this transport asked about is deleted, offsets of other topics still work.
import { describe, expect, inject, it } from 'vitest';
import { KafkajsTransport } from './index.ts';

describe('watermarks after a topic is deleted', () => {
  it('still answers for other topics', async () => {
    const transport = new KafkajsTransport({ brokers: process.env.KAFKA_BROKERS ?? inject('kafkaBrokers') });
    const admin = await transport.admin();
    const a = `wm-a-${Date.now()}`;
    const b = `wm-b-${Date.now()}`;
    await admin.createTopics([{ name: a, partitions: 1 }]);
    expect(await admin.fetchTopicOffsets(a)).toHaveLength(1);
    await admin.deleteTopics([a]);
    await admin.createTopics([{ name: b, partitions: 2 }]);
    expect((await admin.fetchTopicOffsets(b)).map((o) => o.high)).toEqual([0, 0]);
    await admin.deleteTopics([b]);
    await transport.close();
  });
});
