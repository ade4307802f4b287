// A real Schema Registry on loopback for development and tests: Apicurio Registry (in-memory storage), whose
// `-all.zip` distribution (io.apicurio:apicurio-registry-app, classifier `all`) is fetched once from Maven
// Central into `<repo>/.cache/registry/<version>` and run with Java 17. It serves the Confluent REST API under
// `/apis/ccompat/v7`. `ensureRegistry` is what tests call: SCHEMA_REGISTRY_URL, else the one `npm run registry
// -- start` left running, else one of its own.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';
import { busyPorts } from './probe.ts';
import { isOurProcess, javaCommand, mavenCommand, run, sleep, terminate } from './tools.ts';

export const DEFAULT_REGISTRY_VERSION = '2.6.13.Final';
export const DEFAULT_REGISTRY_PORT = 18081;
/** Path of the Confluent-compatible API on an Apicurio Registry. */
export const CCOMPAT_PATH = '/apis/ccompat/v7';
const MARKER = 'COMPLETE';

/** `DIRIGO_REGISTRY_CACHE` if set, else `<repo>/.cache/registry` (git-ignored). */
export function registryCacheRoot(): string {
  return process.env.DIRIGO_REGISTRY_CACHE ?? join(repoRoot(), '.cache', 'registry');
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** The directory of the unpacked distribution (holding `*-runner.jar` and `lib/`), fetched once. */
export async function fetchRegistry(
  version = DEFAULT_REGISTRY_VERSION,
  root = registryCacheRoot(),
): Promise<{ dir: string; fetched: boolean }> {
  const dir = join(root, version);
  if (await exists(join(dir, MARKER))) return { dir, fetched: false };
  await mkdir(root, { recursive: true });
  // Each fetcher works in its own directory and renames it into place complete: `dir` is absent or whole.
  const tmp = join(root, `.tmp-${version}-${process.pid}-${Date.now()}`);
  try {
    const artifact = `io.apicurio:apicurio-registry-app:${version}:zip:all`;
    const r = await run(
      mavenCommand(),
      [
        '-q',
        '-B',
        '-Dstyle.color=never',
        'dependency:copy',
        `-Dartifact=${artifact}`,
        `-DoutputDirectory=${tmp}`,
      ],
      { cwd: root, timeoutMs: 15 * 60_000 },
    );
    if (r.error) throw new Error(`could not run mvn: ${r.error.message}`);
    const zip = join(tmp, `apicurio-registry-app-${version}-all.zip`);
    if (r.code !== 0 || !(await exists(zip))) {
      const out = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-20).join('\n');
      throw new Error(`mvn could not fetch ${artifact} (exit ${r.code}):\n${out}`);
    }
    const unzip = await run('unzip', ['-q', zip, '-d', join(tmp, 'dist')], { timeoutMs: 5 * 60_000 });
    if (unzip.code !== 0) {
      // No unzip: the JDK's jar tool unpacks zips too.
      await mkdir(join(tmp, 'dist'), { recursive: true });
      const jar = await run('jar', ['xf', zip], { cwd: join(tmp, 'dist'), timeoutMs: 5 * 60_000 });
      if (jar.code !== 0) throw new Error(`could not unpack ${zip}: ${unzip.stderr}${jar.stderr}`);
    }
    await rm(zip, { force: true });
    await writeFile(
      join(tmp, 'dist', MARKER),
      `${JSON.stringify({ version, at: new Date().toISOString() })}\n`,
    );
    if (await exists(join(dir, MARKER))) return { dir, fetched: false }; // another fetcher won
    await rm(dir, { recursive: true, force: true });
    await rename(join(tmp, 'dist'), dir);
    return { dir, fetched: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface RegistryProcess {
  /** Base URL of the Confluent API, e.g. `http://127.0.0.1:18081/apis/ccompat/v7`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** A string in the process's command line, to recognise it. */
  readonly marker: string;
  readonly version: string;
  /** Ends the process (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  readonly port?: number;
  readonly version?: string;
  /** Keep running after this process exits (the CLI). Default false: ended when this process exits. */
  readonly detached?: boolean;
  /** Where its output goes. Default `<cache>/run/registry-<port>.log`. */
  readonly logFile?: string;
  readonly timeoutMs?: number;
}

/** Answers 200 on the Confluent API's subject list. */
export async function registryAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Starts Apicurio Registry with in-memory storage on 127.0.0.1 and waits until its Confluent API answers. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RegistryProcess> {
  const port = opts.port ?? DEFAULT_REGISTRY_PORT;
  const version = opts.version ?? DEFAULT_REGISTRY_VERSION;
  if ((await busyPorts([port])).length > 0) {
    throw new Error(
      `port ${port} is in use; is a registry running already? (\`npm run registry -- status\`)`,
    );
  }
  const { dir } = await fetchRegistry(version);
  const jar = (await readdir(dir)).find((f) => f.endsWith('-runner.jar'));
  if (jar === undefined) throw new Error(`no *-runner.jar in ${dir}; delete it to fetch again`);
  const runDir = join(registryCacheRoot(), 'run');
  await mkdir(runDir, { recursive: true });
  const logFile = opts.logFile ?? join(runDir, `registry-${port}.log`);
  const marker = `-Ddirigo.registry=${port}`;
  const out = openSync(logFile, 'w');
  const child = spawn(
    javaCommand(),
    [
      '-Xmx384m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:-UsePerfData',
      marker,
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.http.host=127.0.0.1',
      '-Dquarkus.log.level=WARN',
      '-jar',
      join(dir, jar),
    ],
    { cwd: dir, stdio: ['ignore', out, out], detached: opts.detached === true },
  );
  closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start java (${javaCommand()})`);
  const stop = () => terminate(pid, marker, { signal: 'SIGTERM', graceMs: 10_000 });
  const onExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  if (opts.detached !== true) process.once('exit', onExit);
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  while (!(await registryAnswers(url))) {
    if (!isOurProcess(pid, marker) || Date.now() > deadline) {
      await stop();
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(
        `Apicurio Registry ${version} did not answer on ${url} ${isOurProcess(pid, marker) ? 'in time' : '(it exited)'}; last lines of ${logFile}:\n${log.split('\n').slice(-15).join('\n')}`,
      );
    }
    await sleep(200);
  }
  return {
    url,
    port,
    pid,
    marker,
    version,
    stop: async () => {
      process.removeListener('exit', onExit);
      await stop();
    },
  };
}

/** The status file of the registry started by the CLI. */
export interface RegistryStatus {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly marker: string;
  readonly version: string;
  readonly startedAt: string;
}

const statusPath = () => join(registryCacheRoot(), 'run', 'status.json');

export async function readRegistryStatus(): Promise<RegistryStatus | undefined> {
  try {
    return JSON.parse(await readFile(statusPath(), 'utf8')) as RegistryStatus;
  } catch {
    return undefined;
  }
}

export async function writeRegistryStatus(s: RegistryStatus | undefined): Promise<void> {
  if (s === undefined) {
    await rm(statusPath(), { force: true });
    return;
  }
  await mkdir(join(registryCacheRoot(), 'run'), { recursive: true });
  await writeFile(`${statusPath()}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  await rename(`${statusPath()}.tmp`, statusPath());
}

/** The registry the CLI started, when its process still runs. */
export async function runningRegistry(): Promise<RegistryStatus | undefined> {
  const s = await readRegistryStatus();
  return s !== undefined && isOurProcess(s.pid, s.marker) ? s : undefined;
}

export interface EnsuredRegistry {
  readonly url: string;
  readonly source: 'env' | 'running' | 'local';
  /** Stops what this call started; a no-op otherwise. */
  stop(): Promise<void>;
}

/**
 * A registry for tests: SCHEMA_REGISTRY_URL (an existing one; it must answer), else the one `npm run registry
 * -- start` runs, else a new local one (Java 17+ and Maven), stopped by `stop()`.
 */
export async function ensureRegistry(opts: StartRegistryOptions = {}): Promise<EnsuredRegistry> {
  const env = process.env.SCHEMA_REGISTRY_URL?.trim().replace(/\/+$/, '');
  if (env) {
    if (!(await registryAnswers(env)))
      throw new Error(`SCHEMA_REGISTRY_URL=${env} does not answer GET /subjects`);
    return { url: env, source: 'env', stop: async () => {} };
  }
  const running = await runningRegistry();
  if (running !== undefined && (await registryAnswers(running.url))) {
    return { url: running.url, source: 'running', stop: async () => {} };
  }
  let port = opts.port ?? DEFAULT_REGISTRY_PORT;
  for (let i = 0; i < 10 && (await busyPorts([port])).length > 0; i++) port += 100;
  const started = await startRegistry({ ...opts, port });
  return { url: started.url, source: 'local', stop: () => started.stop() };
}

/** Stops the CLI's registry (its own pid only) and removes the status file. */
export async function stopRunningRegistry(): Promise<RegistryStatus | undefined> {
  const s = await readRegistryStatus();
  if (s === undefined) return undefined;
  await terminate(s.pid, s.marker, { signal: 'SIGTERM', graceMs: 10_000 });
  await writeRegistryStatus(undefined);
  return s;
}
