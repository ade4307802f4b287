// `dirigo record`: a topic (or a range of it) to a record file on stdout, bytes kept exactly.
import { createWriteStream } from 'node:fs';
import { parseBound, recordTopic } from '../replay/record.ts';
import { type ExitCode, flushStdout, KAFKA_OPTIONS, out, parseVerb, say, transportFrom } from './common.ts';

export const USAGE = `usage: dirigo record --topic T [--from <offset|time>] [--to <offset|time>] [--partition N]... [--out FILE]
                     [--brokers host:port,...]
  Writes every committed record of topic T (up to its end when the command starts) as JSON Lines: topic,
  partition, offset, timestamp, and the key, value and header bytes in base64 (see docs/guide.md, "Record
  and replay"). Progress goes to stderr, records to stdout (or --out).
  --from, --to  an offset (e.g. 1200, the same in every partition; --to is exclusive) or a time (an ISO date
                such as 2026-01-01T10:00:00Z, or epoch milliseconds as 1767261600000ms)
  --partition   only these partitions (repeatable)
  Then: dirigo replay file.jsonl --to T2, or driver.pipeFile('file.jsonl') in a test.`;

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseVerb(
    argv,
    {
      ...KAFKA_OPTIONS,
      topic: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      partition: { type: 'string', multiple: true },
      out: { type: 'string' },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  if (typeof v.topic !== 'string') {
    say(`record: --topic is required\n\n${USAGE}`);
    return 2;
  }
  const from = typeof v.from === 'string' ? parseBound(v.from, '--from') : undefined;
  const to = typeof v.to === 'string' ? parseBound(v.to, '--to') : undefined;
  const partitions = (v.partition as string[] | undefined)?.map(Number);
  const file = typeof v.out === 'string' ? createWriteStream(v.out) : undefined;
  const transport = transportFrom(v, 'dirigo-record');
  const began = Date.now();
  let last = began;
  try {
    const n = await recordTopic(
      transport,
      {
        topic: v.topic,
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(partitions ? { partitions } : {}),
      },
      async (line) => {
        if (file === undefined) await out(`${line}\n`);
        else if (!file.write(`${line}\n`)) await new Promise<void>((r) => file.once('drain', () => r()));
        if (Date.now() - last >= 1000) {
          last = Date.now();
          say(`record: ${v.topic}: reading...`);
        }
      },
    );
    if (file !== undefined)
      await new Promise<void>((r, j) => file.end((e?: Error | null) => (e ? j(e) : r())));
    await flushStdout();
    say(`record: ${n} records of ${v.topic} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    await transport.close();
  }
}
