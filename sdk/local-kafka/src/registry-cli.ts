#!/usr/bin/env node
// `npm run registry -- start|stop|status|fetch`: a local Schema Registry (Apicurio, in-memory) that outlives the
// command, for development. stdout carries only results (the URL, the status); progress goes to stderr.
import { parseArgs } from 'node:util';
import {
  DEFAULT_REGISTRY_PORT,
  DEFAULT_REGISTRY_VERSION,
  fetchRegistry,
  readRegistryStatus,
  registryCacheRoot,
  runningRegistry,
  startRegistry,
  stopRunningRegistry,
  writeRegistryStatus,
} from './registry.ts';

const USAGE = `usage: npm run registry -- start [--port ${DEFAULT_REGISTRY_PORT}] [--version ${DEFAULT_REGISTRY_VERSION}]   # prints the URL
       npm run registry -- status | stop | fetch
  Apicurio Registry with in-memory storage on 127.0.0.1, fetched once from Maven Central (needs Java 17+ and
  Maven) into ${registryCacheRoot()}. Clients use its Confluent API: http://127.0.0.1:<port>/apis/ccompat/v7.
  With SCHEMA_REGISTRY_URL set, that registry is used and nothing is started.`;

const say = (line: string) => process.stderr.write(`${line}\n`);
const out = (line: string) => process.stdout.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    say(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  const version = values.version ?? DEFAULT_REGISTRY_VERSION;
  const env = process.env.SCHEMA_REGISTRY_URL?.trim();
  if (values.help || command === undefined || command === 'help') {
    out(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'fetch': {
      const began = Date.now();
      const r = await fetchRegistry(version);
      say(
        `Apicurio Registry ${version} is ${r.fetched ? 'fetched' : 'already cached'} in ${r.dir} (${((Date.now() - began) / 1000).toFixed(1)} s)`,
      );
      return 0;
    }
    case 'start': {
      if (env) {
        say('SCHEMA_REGISTRY_URL is set: using that registry, not starting one.');
        out(env);
        return 0;
      }
      const running = await runningRegistry();
      if (running !== undefined) {
        say(`Already running: Apicurio Registry ${running.version}, pid ${running.pid}`);
        out(running.url);
        return 0;
      }
      say(`Starting Apicurio Registry ${version} (fetched from Maven Central the first time)...`);
      const began = Date.now();
      const port = values.port === undefined ? DEFAULT_REGISTRY_PORT : Number(values.port);
      const r = await startRegistry({ port, version, detached: true });
      await writeRegistryStatus({
        url: r.url,
        port: r.port,
        pid: r.pid,
        marker: r.marker,
        version: r.version,
        startedAt: new Date().toISOString(),
      });
      say(
        `Ready in ${((Date.now() - began) / 1000).toFixed(1)} s, pid ${r.pid}. Stop it with \`npm run registry -- stop\`.`,
      );
      out(r.url);
      return 0;
    }
    case 'status': {
      if (env) {
        out(`external: ${env} (SCHEMA_REGISTRY_URL)`);
        return 0;
      }
      const running = await runningRegistry();
      out(running === undefined ? 'not running' : `running: ${running.url} (pid ${running.pid})`);
      return running === undefined ? 1 : 0;
    }
    case 'stop': {
      const was = await readRegistryStatus();
      await stopRunningRegistry();
      say(was === undefined ? 'No registry started by `npm run registry -- start` is running.' : 'Stopped.');
      return 0;
    }
    default:
      say(`unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: { port: { type: 'string' }, version: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  say(`registry: ${(e as Error).message}`);
  process.exitCode = 1;
}
process.exit(process.exitCode);
