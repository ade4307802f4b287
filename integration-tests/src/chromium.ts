// Chromium for the browser tests: Debian's package (`chromium`), or CHROMIUM_PATH. On a fresh machine where it is
// missing and we are root with apt-get (CI, a new development machine), it is installed once; otherwise the
// error says how to get it. `.ci/run` installs it up front so the test does not pay for it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

const find = (): string | undefined =>
  [process.env.CHROMIUM_PATH, ...CANDIDATES].find((p) => p !== undefined && p !== '' && existsSync(p));

/** The Chromium executable, installed with apt-get first when missing and possible. */
export function ensureChromium(): string {
  const found = find();
  if (found !== undefined) return found;
  const root = process.getuid?.() === 0;
  if (root && existsSync('/usr/bin/apt-get')) {
    process.stderr.write('Chromium is missing: apt-get install -y chromium (once)\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
    const installed = find();
    if (installed !== undefined) return installed;
  }
  throw new Error(
    'no Chromium for the browser test: `apt-get install -y chromium` (Debian) or set CHROMIUM_PATH',
  );
}
