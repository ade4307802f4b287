// Decimal header values: read from the bytes for plain integers, exactly as `Number` reads their Latin-1 text.
import { describe, expect, it } from 'vitest';
import { decimalOf, headerNumber } from './headers.ts';

/** What the reader must agree with: JavaScript's Number of the text, finite numbers only. */
const reference = (v: Buffer): number | undefined => {
  const x = Number(v.toString('latin1'));
  return Number.isFinite(x) ? x : undefined;
};

describe('decimalOf', () => {
  it('reads every value as Number reads its text: integers, signs, zeros, blanks, decimals, junk, long digits', () => {
    const fixed = [
      '',
      '0',
      '-0',
      '-',
      '007',
      '1700000000000',
      '-1700000000000',
      '999999999999999',
      '9999999999999999',
      '12345678901234567890',
      ' 12',
      '12 ',
      '1e3',
      '1.5',
      '0x10',
      'Infinity',
      '-Infinity',
      'NaN',
      '12a',
      '+5',
      '--5',
      '\u00ff1',
    ];
    for (const t of fixed) {
      const v = Buffer.from(t, 'latin1');
      expect(Object.is(decimalOf(v), reference(v)), t).toBe(true);
    }
    let seed = 9;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = '0123456789-+. exX\u00ff';
    for (let k = 0; k < 20_000; k++) {
      const digits = next(3) > 0;
      const length = next(20);
      let t = '';
      for (let i = 0; i < length; i++)
        t += digits && next(10) > 0 ? String(next(10)) : alphabet[next(alphabet.length)]!;
      const v = Buffer.from(t, 'latin1');
      expect(Object.is(decimalOf(v), reference(v)), JSON.stringify(t)).toBe(true);
    }
  });

  it('is what headerNumber reads, and absent headers are undefined', () => {
    expect(headerNumber({ a: Buffer.from('42') }, 'a')).toBe(42);
    expect(headerNumber({ a: Buffer.from('x') }, 'a')).toBeUndefined();
    expect(headerNumber({}, 'a')).toBeUndefined();
  });
});
