// `dirigo dlq`: list an app's dead letters, and re-drive them (after a fix) to the topic each came from, exactly
// once: the re-driven records and the position of the re-drive group `<dlq>.redrive` commit in one transaction,
// so running it again sends only what was dead-lettered since.
import type { IncomingRecord, OutgoingRecord, RecordHeaders, ResolvedApp, Transport } from '@dirigo/core';
import {
  H_APP,
  H_ERROR,
  H_ERROR_STAGE,
  H_FUNCTION,
  H_ORIGIN_OFFSET,
  H_ORIGIN_PARTITION,
  H_ORIGIN_TOPIC,
  H_TRUNCATED,
} from '../headers.ts';
import {
  type ExitCode,
  KAFKA_OPTIONS,
  oneApp,
  out,
  parseVerb,
  positive,
  say,
  table,
  transportFrom,
} from './common.ts';

export const USAGE = `usage: dirigo dlq list <app-module> [--app NAME] [--limit N] [--json] [--brokers host:port,...]
       dirigo dlq redrive <app-module> [--app NAME] [--stage decode|handler|timeout|lease] [--dry-run]
  list     the dead letters of the app (topic <ns>.<app>.dlq or its deadLetterTopic): where each came from, the
           stage and the error; 'redriven' marks those a re-drive already sent back
  redrive  sends the dead letters not re-driven yet back to the topic each came from (original key, value and
           headers, without the dirigo-error/origin headers), exactly once: the re-drive group
           <dlq>.redrive commits its position in the same transaction. Fix the handler (or the producer) first.
           Truncated dead letters (dirigo-truncated) are skipped: their value is not whole.
  --stage  only dead letters of this stage (the others stay pending)`;

/** The consumer group whose committed position marks how far the dead letters were re-driven. */
export const redriveGroup = (app: ResolvedApp): string => `${app.options.deadLetterTopic}.redrive`;

/** Headers the runtime adds to a dead letter (removed again when it is re-driven). */
const ADDED = [
  H_ERROR,
  H_APP,
  H_FUNCTION,
  H_ORIGIN_TOPIC,
  H_ORIGIN_PARTITION,
  H_ORIGIN_OFFSET,
  H_TRUNCATED,
  'dirigo-ingest',
  'dirigo-deadline',
];
const added = (name: string) => name.startsWith('dirigo-error') || ADDED.includes(name);

const text = (h: RecordHeaders, name: string) => h[name]?.toString('utf8');

interface DeadLetter {
  readonly record: IncomingRecord;
  readonly redriven: boolean;
}

async function readDeadLetters(transport: Transport, app: ResolvedApp): Promise<DeadLetter[]> {
  const topic = app.options.deadLetterTopic;
  const admin = await transport.admin();
  const [offsets, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchCommittedOffsets(redriveGroup(app), topic),
  ]);
  const out: DeadLetter[] = [];
  const nonEmpty = offsets.filter((o) => o.low < o.high);
  if (nonEmpty.length === 0) return out;
  await transport.readToEnd(
    nonEmpty.map((o) => ({ topic, partition: o.partition, fromOffset: o.low })),
    (rs) => {
      for (const r of rs) {
        const c = committed.find((x) => x.partition === r.partition)?.offset ?? -1;
        out.push({ record: r, redriven: r.offset < c });
      }
    },
  );
  return out;
}

/** The record a dead letter came from, back to its origin topic. */
function original(r: IncomingRecord): OutgoingRecord | undefined {
  const topic = text(r.headers, H_ORIGIN_TOPIC);
  if (topic === undefined || r.headers[H_TRUNCATED] !== undefined) return undefined;
  const headers: Record<string, Buffer> = {};
  for (const name in r.headers) if (!added(name)) headers[name] = r.headers[name]!;
  return { topic, key: r.key, value: r.value, headers };
}

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const [action, ...rest] = argv;
  if (action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (action !== 'list' && action !== 'redrive') {
    say(`dlq: expected 'list' or 'redrive'\n\n${USAGE}`);
    return 2;
  }
  const parsed = parseVerb(
    rest,
    {
      ...KAFKA_OPTIONS,
      app: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      stage: { type: 'string' },
      'dry-run': { type: 'boolean' },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const app = await oneApp(parsed.positionals, v.app as string | undefined);
  const transport = transportFrom(v, 'dirigo-dlq');
  try {
    const all = await readDeadLetters(transport, app);
    if (action === 'list') {
      const limit = positive(v.limit as string | undefined, '--limit') ?? Number.POSITIVE_INFINITY;
      const shown = all.slice(0, limit);
      if (v.json === true) {
        for (const { record: r, redriven } of shown) {
          const h = r.headers;
          await out(
            `${JSON.stringify({ partition: r.partition, offset: r.offset, timestamp: r.timestamp, redriven, origin: `${text(h, H_ORIGIN_TOPIC)}/${text(h, H_ORIGIN_PARTITION)}@${text(h, H_ORIGIN_OFFSET)}`, function: text(h, H_FUNCTION), stage: text(h, H_ERROR_STAGE), error: text(h, H_ERROR), key: r.key?.toString('base64') ?? null, value: r.value?.toString('base64') ?? null })}\n`,
          );
        }
      } else {
        const rows = shown.map(({ record: r, redriven }) => {
          const h = r.headers;
          return [
            `${r.partition}@${r.offset}`,
            `${text(h, H_ORIGIN_TOPIC)}/${text(h, H_ORIGIN_PARTITION)}@${text(h, H_ORIGIN_OFFSET)}`,
            text(h, H_FUNCTION) ?? '',
            text(h, H_ERROR_STAGE) ?? '',
            redriven ? 'redriven' : 'pending',
            (text(h, H_ERROR) ?? '').slice(0, 100),
          ];
        });
        await out(table(['dlq', 'origin', 'function', 'stage', 'state', 'error'], rows));
      }
      say(
        `dlq: ${all.length} dead letter${all.length === 1 ? '' : 's'} in ${app.options.deadLetterTopic}, ${all.filter((d) => !d.redriven).length} not re-driven`,
      );
      return 0;
    }
    const stage = v.stage as string | undefined;
    const pending = all.filter((d) => !d.redriven);
    const send: OutgoingRecord[] = [];
    let skipped = 0;
    // The re-drive position moves past every pending dead letter of a partition up to the last one sent, but
    // never past one that was left out (another stage): those stay pending for a later re-drive.
    const position = new Map<number, number>();
    const blocked = new Set<number>();
    for (const { record: r } of pending) {
      if (blocked.has(r.partition)) continue;
      const o = stage === undefined || text(r.headers, H_ERROR_STAGE) === stage ? original(r) : undefined;
      if (o === undefined) {
        if (stage !== undefined && text(r.headers, H_ERROR_STAGE) !== stage) {
          blocked.add(r.partition);
          continue;
        }
        skipped++;
        say(
          `dlq: skipping ${r.partition}@${r.offset}: ${r.headers[H_TRUNCATED] ? 'its value was truncated' : 'no origin topic header'}`,
        );
      } else send.push(o);
      position.set(r.partition, r.offset + 1);
    }
    if (v['dry-run'] === true) {
      for (const o of send)
        await out(`${o.topic}\t${o.key?.toString('hex') ?? 'null'}\t${o.value?.length ?? 0} bytes\n`);
      say(`dlq: would re-drive ${send.length} (dry run)`);
      return 0;
    }
    if (position.size === 0) {
      say('dlq: nothing to re-drive');
      return 0;
    }
    const producer = transport.producer({ clientId: 'dirigo-dlq', transactionalId: redriveGroup(app) });
    await producer.connect();
    try {
      const txn = await producer.beginTransaction();
      try {
        if (send.length > 0) await txn.send(send);
        await txn.sendOffsets(
          redriveGroup(app),
          [...position].map(([partition, offset]) => ({
            topic: app.options.deadLetterTopic,
            partition,
            offset,
          })),
        );
        await txn.commit();
      } catch (e) {
        await txn.abort().catch(() => {});
        throw e;
      }
    } finally {
      await producer.disconnect();
    }
    const topics = [...new Set(send.map((o) => o.topic))];
    say(
      `dlq: re-drove ${send.length} dead letter${send.length === 1 ? '' : 's'} to ${topics.join(', ') || '-'}${skipped ? `, skipped ${skipped}` : ''}`,
    );
    return 0;
  } finally {
    await transport.close();
  }
}
