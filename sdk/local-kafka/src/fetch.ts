// Fetching a broker's classpath from Maven Central into `<cache>/<version>/libs`, once; and the command-line tools'
// (`org.apache.kafka:kafka-tools`, e.g. kafka-acls.sh's AclCommand) into `<cache>/<version>-tools/libs`.
//
// Concurrency: one fetcher at a time holds `<cache>/<version>.lock` (created with O_EXCL, holding its pid);
// the others wait for it. The fetcher works in a private temporary directory and renames it into place with
// the marker already inside, so `<cache>/<version>` is either absent or complete, whatever gets killed when.
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@dirigo/core';
import { fetchPom, mavenArgs, toolsPom } from './config.ts';
import { cacheRoot } from './paths.ts';
import { isAlive, mavenCommand, run, sleep } from './tools.ts';

export const MARKER = 'COMPLETE';

export interface KafkaDistribution {
  readonly version: string;
  /** Directory holding the jars; the classpath is `<libsDir>/*`. */
  readonly libsDir: string;
  /** Whether this call downloaded it (false: it was in the cache). */
  readonly fetched: boolean;
}

function versionDir(root: string, version: string): string {
  return join(root, version);
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    await stat(join(dir, MARKER));
    return true;
  } catch {
    return false;
  }
}

/** The cached distribution of `version`, or undefined when it has not been fetched (completely). */
export function cachedKafka(version: string, root = cacheRoot()): Promise<KafkaDistribution | undefined> {
  return cachedIn(root, version, version);
}

/** The classpath cached under `<root>/<name>` (of Kafka `version`), or undefined when it is not complete. */
async function cachedIn(root: string, name: string, version: string): Promise<KafkaDistribution | undefined> {
  const dir = versionDir(root, name);
  return (await isComplete(dir)) ? { version, libsDir: join(dir, 'libs'), fetched: false } : undefined;
}

/** Takes the lock, or returns false when a live process holds it. Removes a lock whose holder died. */
async function tryLock(lockFile: string): Promise<boolean> {
  try {
    const fh = await open(lockFile, 'wx');
    await fh.writeFile(String(process.pid));
    await fh.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let holder = Number.NaN;
  try {
    holder = Number((await readFile(lockFile, 'utf8')).trim());
  } catch {
    return false; // just released, or being written: look again later
  }
  let age = 0;
  try {
    age = Date.now() - (await stat(lockFile)).mtimeMs;
  } catch {
    return false;
  }
  // A lock without a pid for a while, or whose holder is gone, is stale.
  const stale = Number.isInteger(holder) && holder > 0 ? !isAlive(holder) : age > 30_000;
  if (stale) await rm(lockFile, { force: true });
  return false;
}

/** What one cached classpath is: its directory under the cache, its pom, and the jar that proves it complete. */
interface ClasspathSpec {
  /** Directory (and lock) name under the cache root. */
  readonly name: string;
  readonly version: string;
  readonly pom: string;
  /** The artifact the pom is about, for messages (`org.apache.kafka:kafka_2.13:4.2.2`). */
  readonly artifact: string;
  /** File-name prefix of the jar that must be among those fetched. */
  readonly jar: string;
}

/**
 * Makes sure Kafka `version` is in the cache and returns where its jars are. Needs `mvn` (and Java) on PATH;
 * Maven's own repository (~/.m2) is reused between versions.
 */
export function fetchKafka(
  version: string,
  opts: { logger?: Logger; root?: string; timeoutMs?: number } = {},
): Promise<KafkaDistribution> {
  return fetchClasspath(
    {
      name: version,
      version,
      pom: fetchPom(version),
      artifact: `org.apache.kafka:kafka_2.13:${version}`,
      jar: `kafka_2.13-${version}`,
    },
    opts,
  );
}

/**
 * Makes sure the command-line tools of Kafka `version` (`org.apache.kafka:kafka-tools`: the classes behind
 * kafka-acls.sh, kafka-topics.sh and the others, e.g. `org.apache.kafka.tools.AclCommand`) are in the cache
 * (`<cache>/<version>-tools`), as `fetchKafka` does for the broker. Kafka 3.5 and later.
 */
export function fetchKafkaTools(
  version: string,
  opts: { logger?: Logger; root?: string; timeoutMs?: number } = {},
): Promise<KafkaDistribution> {
  return fetchClasspath(
    {
      name: `${version}-tools`,
      version,
      pom: toolsPom(version),
      artifact: `org.apache.kafka:kafka-tools:${version}`,
      jar: `kafka-tools-${version}`,
    },
    opts,
  );
}

async function fetchClasspath(
  spec: ClasspathSpec,
  opts: { logger?: Logger; root?: string; timeoutMs?: number },
): Promise<KafkaDistribution> {
  const root = opts.root ?? cacheRoot();
  const cached = await cachedIn(root, spec.name, spec.version);
  if (cached) return cached;

  await mkdir(root, { recursive: true });
  const lockFile = join(root, `${spec.name}.lock`);
  const deadline = Date.now() + (opts.timeoutMs ?? 15 * 60_000);
  let announced = false;
  while (!(await tryLock(lockFile))) {
    const done = await cachedIn(root, spec.name, spec.version);
    if (done) return done;
    if (!announced) {
      opts.logger?.info({ artifact: spec.artifact, lockFile }, 'waiting for another process fetching it');
      announced = true;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${lockFile}`);
    await sleep(500);
  }
  try {
    const done = await cachedIn(root, spec.name, spec.version);
    if (done) return done;
    return await fetchLocked(spec, root, opts.logger, Math.max(60_000, deadline - Date.now()));
  } finally {
    await rm(lockFile, { force: true });
  }
}

async function fetchLocked(
  spec: ClasspathSpec,
  root: string,
  logger: Logger | undefined,
  timeoutMs: number,
): Promise<KafkaDistribution> {
  const dir = versionDir(root, spec.name);
  // Leftovers of fetchers that were killed (we hold the lock: nobody else works in them).
  for (const entry of await readdir(root)) {
    if (entry.startsWith(`.tmp-${spec.name}-`)) await rm(join(root, entry), { recursive: true, force: true });
  }
  const tmp = join(root, `.tmp-${spec.name}-${process.pid}-${Date.now()}`);
  const started = Date.now();
  logger?.info({ artifact: spec.artifact, dir }, 'fetching from Maven Central (once)');
  try {
    await mkdir(join(tmp, 'libs'), { recursive: true });
    await writeFile(join(tmp, 'pom.xml'), spec.pom);
    const r = await run(mavenCommand(), mavenArgs(join(tmp, 'libs')), { cwd: tmp, timeoutMs });
    if (r.error) throw new Error(`could not run mvn: ${r.error.message}`);
    if (r.code !== 0) {
      const out = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-30).join('\n');
      throw new Error(`mvn could not fetch ${spec.artifact} (exit ${r.code}):\n${out}`);
    }
    const jars = (await readdir(join(tmp, 'libs'))).filter((f) => f.endsWith('.jar'));
    if (!jars.some((j) => j.startsWith(spec.jar))) {
      throw new Error(`mvn finished but ${spec.jar}.jar is not among the ${jars.length} jars`);
    }
    await writeFile(
      join(tmp, MARKER),
      `${JSON.stringify({ version: spec.version, artifact: spec.artifact, jars: jars.length, fetchedAt: new Date().toISOString() })}\n`,
    );
    // Anything at `dir` now is a leftover without the marker (we hold the lock): replace it.
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    logger?.info({ artifact: spec.artifact, jars: jars.length, ms: Date.now() - started }, 'fetched');
    return { version: spec.version, libsDir: join(dir, 'libs'), fetched: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
