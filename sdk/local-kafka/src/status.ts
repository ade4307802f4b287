// The status file of a cluster started by the CLI (`npm run kafka -- start`): `<cache>/run/status.json`.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runDir } from './paths.ts';
import type { LocalSecurity, SecurityMode } from './secure-config.ts';
import { isOurProcess } from './tools.ts';

export interface StatusNode {
  readonly id: number;
  readonly port: number;
  readonly controllerPort: number;
  readonly pid: number;
  /** A string found in the process's command line (its server.properties path), to recognise it. */
  readonly marker: string;
}

export interface ClusterStatus {
  readonly version: string;
  readonly brokers: string;
  readonly basePort: number;
  readonly dataDir: string;
  readonly startedAt: string;
  readonly nodes: readonly StatusNode[];
  /** For a cluster started with `--security`: its listeners and the files of client settings. */
  readonly security?: {
    readonly mode: SecurityMode;
    readonly bootstrap: LocalSecurity['bootstrap'];
    readonly envFiles: LocalSecurity['envFiles'];
    readonly caLocation: string;
  };
}

export function statusFile(dir = runDir()): string {
  return join(dir, 'status.json');
}

export async function readStatus(dir = runDir()): Promise<ClusterStatus | undefined> {
  let text: string;
  try {
    text = await readFile(statusFile(dir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as ClusterStatus;
    return Array.isArray(s.nodes) && typeof s.brokers === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

export async function writeStatus(status: ClusterStatus, dir = runDir()): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = `${statusFile(dir)}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(status, null, 2)}\n`);
  await rename(tmp, statusFile(dir));
}

export async function removeStatus(dir = runDir()): Promise<void> {
  await rm(statusFile(dir), { force: true });
}

/** Which nodes of a status still run (by pid, checked against the command line where /proc exists). */
export function liveNodes(status: ClusterStatus): StatusNode[] {
  return status.nodes.filter((n) => isOurProcess(n.pid, n.marker));
}

/** The cluster started by the CLI when all of its processes are alive, else undefined. */
export async function runningCluster(dir = runDir()): Promise<ClusterStatus | undefined> {
  const status = await readStatus(dir);
  if (!status) return undefined;
  return liveNodes(status).length === status.nodes.length && status.nodes.length > 0 ? status : undefined;
}
