// `dirigo replay`: a record file (or a range of a live topic) into a topic, bytes kept exactly.

import { parseBound, recordTopic } from '../replay/record.ts';
import type { RecordedRecord } from '../replay/record-file.ts';
import { readRecordFile } from '../replay/record-file.ts';
import { replayRecords } from '../replay/replay.ts';
import { type ExitCode, KAFKA_OPTIONS, parseVerb, positive, say, transportFrom } from './common.ts';

export const USAGE = `usage: dirigo replay <file.jsonl> [--to T] [--rate N | --speed X] [--timestamps original|now]
                     [--partitions original|key] [--brokers host:port,...]
       dirigo replay --topic S [--from <offset|time>] [--until <offset|time>] --to T [...]
  Produces the records of a record file (from \`dirigo record\`), or of a range of the live topic S, with their
  exact key, value and header bytes.
  --to          the target topic (default: each record's recorded topic); it must exist
  --rate        at most N records per second; --speed: X times the recorded pace (1 = real time)
  --timestamps  original (default): the recorded timestamps; now: stamped when sent
  --partitions  original (default): the recorded partition numbers; key: placed by key like any producer`;

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseVerb(
    argv,
    {
      ...KAFKA_OPTIONS,
      to: { type: 'string' },
      topic: { type: 'string' },
      from: { type: 'string' },
      until: { type: 'string' },
      rate: { type: 'string' },
      speed: { type: 'string' },
      timestamps: { type: 'string' },
      partitions: { type: 'string' },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const file = parsed.positionals[0];
  if ((file === undefined) === (v.topic === undefined)) {
    say(`replay: give a record file or --topic (one of them)\n\n${USAGE}`);
    return 2;
  }
  const timestamps = (v.timestamps as string | undefined) ?? 'original';
  const partitions = (v.partitions as string | undefined) ?? 'original';
  if (!['original', 'now'].includes(timestamps) || !['original', 'key'].includes(partitions)) {
    say(`replay: --timestamps is original or now, --partitions original or key\n\n${USAGE}`);
    return 2;
  }
  if (v.rate !== undefined && v.speed !== undefined) {
    say('replay: --rate and --speed exclude each other: choose one');
    return 2;
  }
  const rate = positive(v.rate as string | undefined, '--rate');
  const speed = positive(v.speed as string | undefined, '--speed');
  const transport = transportFrom(v, 'dirigo-replay');
  try {
    let records: RecordedRecord[];
    if (file !== undefined) records = await readRecordFile(file);
    else {
      if (v.to === undefined) {
        say('replay: --topic needs --to (the target topic)');
        return 2;
      }
      records = [];
      const from = typeof v.from === 'string' ? parseBound(v.from, '--from') : undefined;
      const to = typeof v.until === 'string' ? parseBound(v.until, '--until') : undefined;
      await recordTopic(
        transport,
        { topic: v.topic as string, ...(from ? { from } : {}), ...(to ? { to } : {}) },
        (_line, r) => {
          records.push(r);
        },
      );
    }
    const began = Date.now();
    let last = began;
    const n = await replayRecords(transport, records, {
      ...(typeof v.to === 'string' ? { topic: v.to } : {}),
      timestamps: timestamps as 'original' | 'now',
      partitions: partitions as 'original' | 'key',
      ...(rate === undefined ? {} : { rate }),
      ...(speed === undefined ? {} : { speed }),
      onProgress: (sent, total) => {
        if (Date.now() - last < 1000) return;
        last = Date.now();
        say(`replay: ${sent}/${total} (${Math.round((100 * sent) / total)}%)`);
      },
    });
    say(
      `replay: ${n} records to ${v.to ?? 'their recorded topics'} in ${((Date.now() - began) / 1000).toFixed(1)} s`,
    );
    return 0;
  } finally {
    await transport.close();
  }
}
