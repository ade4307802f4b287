// Where the cache lives: `<repo>/.cache/kafka`, the repository root found from this package's location.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function isWorkspaceRoot(dir: string): boolean {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return false;
  try {
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { workspaces?: unknown };
    return pkg.workspaces !== undefined;
  } catch {
    return false;
  }
}

/** The monorepo root: the nearest ancestor of this file whose package.json declares workspaces. */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (;;) {
    if (isWorkspaceRoot(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Installed outside the monorepo: keep the cache next to the package.
  return resolve(here, '..');
}

/** `DIRIGO_KAFKA_CACHE` if set, else `<repo>/.cache/kafka` (git-ignored). */
export function cacheRoot(): string {
  return process.env.DIRIGO_KAFKA_CACHE ?? join(repoRoot(), '.cache', 'kafka');
}

/** Where the CLI keeps its status file and the data of the cluster it started. */
export function runDir(): string {
  return join(cacheRoot(), 'run');
}
