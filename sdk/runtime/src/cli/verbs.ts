// The `dirigo` verbs other than `worker` (which cli.ts runs itself): each lives in its own module, loaded only
// when used. `dirigo help` lists them; `dirigo <verb> --help` explains one.
import { ConfigError } from '@dirigo/core';
import { type ExitCode, flushStdout, say } from './common.ts';

interface Verb {
  readonly summary: string;
  load(): Promise<{ main(argv: readonly string[]): Promise<ExitCode> }>;
}

export const VERBS: Readonly<Record<string, Verb>> = {
  record: {
    summary: 'write a topic (or a range of it) to a record file, bytes kept exactly',
    load: () => import('./record.ts'),
  },
  replay: {
    summary: 'produce a record file (or a range of a live topic) into a topic',
    load: () => import('./replay.ts'),
  },
  topics: { summary: 'list, check or create the topics an app needs', load: () => import('./topics.ts') },
  state: {
    summary: "print an actor's committed state, read from its changelog",
    load: () => import('./state.ts'),
  },
  lag: { summary: 'records each function of an app has not processed yet', load: () => import('./lag.ts') },
  dlq: { summary: 'list dead letters, and re-drive them after a fix', load: () => import('./dlq.ts') },
  acls: {
    summary: "the ACLs a worker's principal needs for an app, and the commands that create them",
    load: () => import('./acls.ts'),
  },
};

export const OVERVIEW = `usage: dirigo <verb> [options]     (dirigo <verb> --help for one verb)
  worker   run a worker hosting apps (every option as a flag)
${Object.entries(VERBS)
  .map(([name, v]) => `  ${name.padEnd(8)} ${v.summary}`)
  .join('\n')}
  Verbs that talk to Kafka take --brokers host:port,... (default: $KAFKA_BROKERS).`;

/** True when `argv` names a verb of this module (or asks for the overview). */
export const isVerb = (name: string | undefined): boolean =>
  name !== undefined && (name in VERBS || name === 'help');

/** Runs a verb and exits with its code (after stdout is flushed). */
export async function runVerb(name: string, argv: readonly string[]): Promise<never> {
  let code: number;
  if (name === 'help') {
    process.stdout.write(`${OVERVIEW}\n`);
    code = 0;
  } else {
    try {
      code = await (await VERBS[name]!.load()).main(argv);
    } catch (e) {
      const err = e as Error;
      say(`dirigo ${name}: ${err instanceof ConfigError ? err.message : (err.message ?? String(e))}`);
      code = 1;
    }
  }
  await flushStdout();
  process.exit(code);
}
