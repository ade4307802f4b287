// `dirigo state`: an actor's committed state, read from its function's changelog (what a new owner of the
// partition would restore), decoded with the app's state serdes.
import { actorId, ConfigError, partitionFor, type ResolvedFunction, type Transport } from '@dirigo/core';
import { decodeChangelogKey } from '../state/cell-key.ts';
import { type ExitCode, KAFKA_OPTIONS, oneApp, out, parseVerb, say, transportFrom } from './common.ts';

export const USAGE = `usage: dirigo state <app-module> --fn F (--key K | --key-hex HEX | --null-key) [--state S] [--app NAME]
                    [--brokers host:port,...]
  Prints the committed state of actor K of function F as JSON ({ "<state>": value, "<map state>": {entries} }),
  read from the changelog <ns>.<app>.<F>.changelog: what the next owner of the partition restores.
  --key      the key as the handler sees it (ctx.key, text of the function's key serde)
  --key-hex  the key's exact bytes, in hex
  --state    only this state (also the internal ones, e.g. __timers)`;

/** The committed state of an actor from the changelog: declared states (or `only`), decoded. */
export async function readActorState(
  transport: Transport,
  fn: ResolvedFunction,
  app: string,
  keyBytes: Buffer | null,
  only?: string,
): Promise<Record<string, unknown>> {
  const id = actorId(keyBytes);
  const admin = await transport.admin();
  const offsets = await admin.fetchTopicOffsets(fn.changelogTopic);
  const partition = keyBytes === null ? undefined : partitionFor(keyBytes, offsets.length);
  const values = new Map<string, Buffer | null>();
  const maps = new Map<string, Map<string, Buffer | null>>();
  const legacy = { app, fn: fn.name, slot: null };
  const parts = offsets.filter(
    (o) => (partition === undefined || o.partition === partition) && o.low < o.high,
  );
  await transport.readToEnd(
    parts.map((o) => ({ topic: fn.changelogTopic, partition: o.partition, fromOffset: o.low })),
    (rs) => {
      for (const r of rs) {
        if (r.key === null) continue;
        const k = decodeChangelogKey(r.key, legacy);
        if (k === undefined || k.app !== app || k.fn !== fn.name || k.slot !== null || k.key !== id) continue;
        if (only !== undefined && k.state !== only) continue;
        if (k.entry === undefined) values.set(k.state, r.value);
        else {
          let m = maps.get(k.state);
          if (m === undefined) {
            m = new Map();
            maps.set(k.state, m);
          }
          m.set(k.entry, r.value);
        }
      }
    },
  );
  const decode = async (state: string, v: Buffer) => {
    const serde = fn.states.find((s) => s.name === state)?.serde;
    if (serde === undefined) return JSON.parse(v.toString('utf8')) as unknown;
    await serde.prepare?.(v);
    return serde.deserialize(v);
  };
  const result: Record<string, unknown> = {};
  for (const [state, v] of values) if (v !== null) result[state] = await decode(state, v);
  for (const [state, m] of maps) {
    const o: Record<string, unknown> = {};
    for (const [entry, v] of m) if (v !== null) o[entry] = await decode(state, v);
    if (Object.keys(o).length > 0) result[state] = o;
  }
  return result;
}

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseVerb(
    argv,
    {
      ...KAFKA_OPTIONS,
      app: { type: 'string' },
      fn: { type: 'string' },
      key: { type: 'string' },
      'key-hex': { type: 'string' },
      'null-key': { type: 'boolean' },
      state: { type: 'string' },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const app = await oneApp(parsed.positionals, v.app as string | undefined);
  const fn = app.functions.get((v.fn as string | undefined) ?? '');
  if (fn === undefined) {
    throw new ConfigError(
      '--fn',
      `give one of the functions of app '${app.name}': ${[...app.functions.keys()].join(', ')}`,
    );
  }
  const given = [v.key, v['key-hex'], v['null-key']].filter((x) => x !== undefined).length;
  if (given !== 1) {
    say(`state: give the key with exactly one of --key, --key-hex, --null-key\n\n${USAGE}`);
    return 2;
  }
  await fn.keySerde.open?.();
  for (const s of fn.states) await s.serde.open?.();
  const keyBytes =
    v['null-key'] === true
      ? null
      : typeof v['key-hex'] === 'string'
        ? Buffer.from(v['key-hex'], 'hex')
        : fn.keySerde.serialize(v.key as string);
  const transport = transportFrom(v, 'dirigo-state');
  try {
    const state = await readActorState(transport, fn, app.name, keyBytes, v.state as string | undefined);
    await out(`${JSON.stringify(state, null, 2)}\n`);
    if (Object.keys(state).length === 0) say(`state: actor has no committed state in ${fn.changelogTopic}`);
    return 0;
  } finally {
    await transport.close();
  }
}
