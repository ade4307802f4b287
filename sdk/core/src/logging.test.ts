import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, logFormat } from './logging.ts';

describe('logFormat', () => {
  it('is pretty on a terminal and JSON otherwise, unless the option or DIRIGO_LOG_FORMAT says', () => {
    expect(logFormat(undefined, undefined, true)).toBe('pretty');
    expect(logFormat(undefined, undefined, false)).toBe('json');
    expect(logFormat(undefined, 'json', true)).toBe('json');
    expect(logFormat(undefined, 'pretty', false)).toBe('pretty');
    expect(logFormat(undefined, 'nonsense', false)).toBe('json');
    expect(logFormat('json', 'pretty', true)).toBe('json');
  });
});

describe('createLogger with a file', () => {
  it('appends JSON lines to it, creating its directory', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dirigo-log-')), 'sub', 'worker.log');
    const logger = createLogger({ level: 'info', file });
    logger.child({ worker: 'w1' }).info({ key: 'k' }, 'lease granted');
    logger.debug('below the level');
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      name: 'dirigo',
      worker: 'w1',
      key: 'k',
      msg: 'lease granted',
      level: 30,
    });
  });
});
