import { describe, expect, it } from 'vitest';
import { logFormat } from './logging.ts';

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
