// Test helper: a transport whose admin answers the first `times` watermark reads of a changelog topic with no
// partition at all (a metadata race), so that opening a partition with state fails and must be retried.
import type { MemoryTransport } from '../memory/transport.ts';

/** Makes `transport`'s changelog watermark reads lie `times` times; `lied()` tells whether they all happened. */
export function lieAboutChangelogWatermarks(transport: MemoryTransport, times = 1): { lied(): boolean } {
  let lies = times;
  const realAdmin = transport.admin.bind(transport);
  transport.admin = async () => {
    const admin = await realAdmin();
    const real = admin.fetchTopicOffsets.bind(admin);
    admin.fetchTopicOffsets = async (topic: string) =>
      topic.endsWith('.changelog') && lies-- > 0 ? [] : real(topic);
    return admin;
  };
  return { lied: () => lies < 1 };
}
