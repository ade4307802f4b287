import { describe, expect, it } from 'vitest';
import { SerdeError } from './errors.ts';
import { integerJson, json } from './serde.ts';

describe('json serde', () => {
  const serde = json<unknown>();

  it('writes integers as JSON.stringify does, digit for digit, and reads them back', () => {
    const samples = [
      0,
      -0,
      1,
      -1,
      7,
      9,
      10,
      -10,
      99,
      100,
      101,
      12345,
      -987654321,
      2 ** 31,
      -(2 ** 31),
      2 ** 32,
    ];
    for (let p = 1; p <= 15; p++) samples.push(10 ** p, 10 ** p - 1, -(10 ** p), -(10 ** p) + 1);
    samples.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER);
    // A seeded walk over magnitudes, so that every digit count and both signs come up.
    let x = 0x2545f491;
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const digits = 1 + (x % 16);
      const v = Math.floor((x / 2 ** 32) * 10 ** digits) % Number.MAX_SAFE_INTEGER;
      samples.push(i % 2 === 0 ? v : -v);
    }
    for (const v of samples) {
      const bytes = serde.serialize(v);
      expect(bytes.toString('latin1'), String(v)).toBe(JSON.stringify(v));
      expect(integerJson(v).equals(bytes)).toBe(true);
      expect(serde.deserialize(bytes)).toBe(v === 0 ? 0 : v);
    }
  });

  it('leaves every other value to JSON.stringify (fractions, unsafe integers, non-finite numbers, text)', () => {
    for (const v of [
      0.5,
      -1.25,
      1e21,
      2 ** 53,
      -(2 ** 60),
      Number.NaN,
      Number.POSITIVE_INFINITY,
      'é"x',
      { n: 1 },
      [1, -2],
      null,
      true,
    ]) {
      expect(serde.serialize(v).toString('utf8')).toBe(JSON.stringify(v));
    }
    expect(() => serde.serialize(undefined)).toThrow(SerdeError);
  });
});
