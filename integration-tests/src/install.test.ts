// The packages as users get them: every sdk/* package packs with `npm pack` into a tarball with built JS, types
// and a README; the tarballs install into a fresh project outside the repository (a temp directory), where a
// TypeScript app type-checks against the packaged types, runs on the installed TestDriver, and runs on the real
// broker through the installed `dirigo` CLI (topics --create, worker, replay, lag, state).
import { execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@dirigo/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { brokers, unique } from './harness.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const work = mkdtempSync(join(tmpdir(), 'dirigo-install-'));
const project = join(work, 'project');
const packs = join(work, 'packs');
// npm and the installed bins run on the same Node as the tests (the `node` devDependency).
const env = {
  ...process.env,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
  KAFKA_BROKERS: brokers(),
  npm_config_update_notifier: 'false',
};
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function run(
  file: string,
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? env,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
const node = (args: readonly string[], extra: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, args, { cwd: project, env: { ...env, ...extra } });
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('installing the packages outside the repository', () => {
  it('packs every sdk package, installs the tarballs in a fresh project, and runs an app there', async () => {
    const sdk = readdirSync(join(repo, 'sdk')).filter((d) =>
      existsSync(join(repo, 'sdk', d, 'package.json')),
    );
    // Fresh build outputs (a no-op when up to date), then one tarball per package.
    const build = await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-b'], {
      cwd: repo,
    });
    expect(build.stdout + build.stderr).toBe('');
    mkdirSync(packs);
    const pack = await run(
      npm,
      ['pack', '--pack-destination', packs, '--json', ...sdk.flatMap((d) => ['-w', `sdk/${d}`])],
      {
        cwd: repo,
        env: { ...env, npm_config_loglevel: 'error' },
      },
    );
    expect(pack.code, pack.stderr).toBe(0);
    const packed = JSON.parse(pack.stdout) as { name: string; filename: string; files: { path: string }[] }[];
    expect(packed.map((p) => p.name).sort()).toEqual(
      sdk.map((d) => JSON.parse(readFileSync(join(repo, 'sdk', d, 'package.json'), 'utf8')).name).sort(),
    );
    for (const p of packed) {
      const files = p.files.map((f) => f.path);
      expect(files, p.name).toContain('README.md');
      expect(files, p.name).toContain('dist/index.js');
      expect(files, p.name).toContain('dist/index.d.ts');
      expect(
        files.filter((f) => /\.test\.|\/src\//.test(f)),
        p.name,
      ).toEqual([]);
    }

    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'outside', private: true, type: 'module' })}\n`,
    );
    for (const f of ['app.ts', 'driver.ts']) copyFileSync(join(here, 'outside', f), join(project, f));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2023',
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          types: ['node'],
        },
        include: ['*.ts'],
      }),
    );
    const install = await run(
      npm,
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        ...packed.map((p) => join(packs, p.filename)),
      ],
      { cwd: project, env: { ...env, npm_config_loglevel: 'error' }, timeoutMs: 300_000 },
    );
    expect(install.code, install.stderr).toBe(0);

    // The packaged types: the app and the driver script type-check (the repository's tsc, the project's files).
    const types = await node([join(repo, 'node_modules/typescript/bin/tsc'), '-p', project]);
    expect(types.stdout + types.stderr).toBe('');
    // The installed TestDriver.
    const driver = await node(['driver.ts']);
    expect(driver.stderr).toBe('');
    expect(JSON.parse(driver.stdout)).toEqual({ a: 5, b: 1 });

    // The installed CLI on the real broker.
    const ns = unique('outside');
    const dirigo = (...args: string[]) =>
      node([join(project, 'node_modules/.bin/dirigo'), ...args], { OUTSIDE_NS: ns });
    expect((await dirigo('help')).stdout).toMatch(/dirigo <verb>/);
    const created = await dirigo('topics', 'app.ts', '--create', '--ingress-partitions', '2');
    expect(created.stderr).toMatch(new RegExp(`created .*${ns}-in \\(2\\)`));
    expect(created.code).toBe(0);
    const worker = spawn(
      process.execPath,
      [
        join(project, 'node_modules/.bin/dirigo'),
        'worker',
        'app.ts',
        '--ready-file',
        'ready',
        '--log-level',
        'error',
      ],
      {
        cwd: project,
        env: { ...env, OUTSIDE_NS: ns },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    children.push(worker);
    await waitFor(() => existsSync(join(project, 'ready')), 60_000, { intervalMs: 200 });
    const line = (key: string, add: number, offset: number) =>
      JSON.stringify({
        v: 1,
        topic: `${ns}-in`,
        partition: 0,
        offset,
        timestamp: Date.now(),
        key: Buffer.from(key).toString('base64'),
        value: Buffer.from(JSON.stringify({ add })).toString('base64'),
        headers: {},
      });
    writeFileSync(
      join(project, 'in.jsonl'),
      `${[line('a', 2, 0), line('a', 3, 1), line('b', 1, 2)].join('\n')}\n`,
    );
    const replayed = await dirigo('replay', 'in.jsonl', '--partitions', 'key');
    expect(replayed.code, replayed.stderr).toBe(0);
    await waitFor(
      async () => /count\s+\S+\s+2\s+0\s*$/m.test((await dirigo('lag', 'app.ts')).stdout),
      60_000,
      { intervalMs: 500 },
    );
    const state = await dirigo('state', 'app.ts', '--fn', 'count', '--key', 'a');
    expect(JSON.parse(state.stdout)).toEqual({ n: 5 });
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  });
});
