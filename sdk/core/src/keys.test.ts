// Actor identities are injective over key bytes; the key serdes turn keys into text and back.
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { SerdeError } from './errors.ts';
import { actorId, actorKeyBytes, isNullActor, keys } from './keys.ts';

const long = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
};

describe('actor identities', () => {
  it('give 100,000 Java LongSerializer keys 100,000 actors (as UTF-8 text they collapse to far fewer)', () => {
    const ids = new Set<string>();
    const texts = new Set<string>();
    for (let i = 0n; i < 100_000n; i++) {
      const b = long(i * 7919n);
      ids.add(actorId(b));
      texts.add(b.toString('utf8'));
    }
    expect(ids.size).toBe(100_000);
    expect(texts.size).toBeLessThan(100_000);
  });

  it('round-trip any bytes, and keep null, empty, UTF-8 and U+0001-prefixed keys apart', () => {
    const samples: (Buffer | null)[] = [
      null,
      Buffer.alloc(0),
      Buffer.from('user-1'),
      Buffer.from('café ✓'),
      Buffer.from([0xff, 0xfe, 0x00]),
      Buffer.from([0x01]),
      Buffer.from('\u0001abc'),
      Buffer.from([0xef, 0xbf, 0xbd]), // U+FFFD itself, valid UTF-8
      Buffer.from([0xc3]), // a truncated sequence
    ];
    for (let i = 0; i < 500; i++)
      samples.push(Buffer.from(Array.from({ length: i % 13 }, (_, j) => (i * 31 + j * 17) % 256)));
    const seen = new Map<string, string>();
    for (const b of samples) {
      const id = actorId(b);
      const back = actorKeyBytes(id);
      expect(back === null ? null : back.toString('hex')).toBe(b === null ? null : b.toString('hex'));
      const hex = b === null ? 'null' : b.toString('hex');
      if (seen.has(id)) expect(seen.get(id)).toBe(hex);
      seen.set(id, hex);
    }
    expect(actorId(Buffer.from('user-1'))).toBe('user-1');
    expect(actorId(Buffer.alloc(0))).toBe('');
    expect(isNullActor(actorId(null))).toBe(true);
    expect(actorId(null)).not.toBe(actorId(Buffer.alloc(0)));
  });

  it('take a key as text exactly when it is valid UTF-8 (random bytes, mostly continuation bytes)', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let valid = 0;
    for (let n = 0; n < 20_000; n++) {
      const b = Buffer.alloc(1 + Math.floor(rand() * 6));
      for (let i = 0; i < b.length; i++)
        b[i] = rand() < 0.5 ? Math.floor(rand() * 256) : 0x80 + Math.floor(rand() * 64);
      const asText = b[0] !== 1 && isUtf8(b);
      if (asText) valid++;
      expect(actorId(b)).toBe(asText ? b.toString('utf8') : `\u0001${b.toString('base64')}`);
    }
    expect(valid).toBeGreaterThan(100);
  });

  it('take short ASCII keys (built in JS up to 8 bytes) exactly as the UTF-8 decode does, at every length', () => {
    let seed = 11;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let n = 0; n < 20_000; n++) {
      const b = Buffer.alloc(1 + (n % 12));
      // Bytes 0 to 0x7f, with 0x00, 0x01 (the escape when first) and 0x7f often; now and then one byte >= 0x80.
      for (let i = 0; i < b.length; i++) {
        const r = rand();
        b[i] =
          r < 0.1
            ? 1
            : r < 0.15
              ? 0
              : r < 0.2
                ? 0x7f
                : r < 0.22
                  ? 0x80 + Math.floor(rand() * 128)
                  : Math.floor(rand() * 128);
      }
      const asText = b[0] !== 1 && isUtf8(b);
      expect(actorId(b)).toBe(asText ? b.toString('utf8') : `\u0001${b.toString('base64')}`);
    }
    expect(actorId(Buffer.from('k1'))).toBe('k1');
    expect(actorId(Buffer.from('\u0001abc'))).toBe(`\u0001${Buffer.from('\u0001abc').toString('base64')}`);
  });
});

describe('key serdes', () => {
  it('int64: decimal text of the 8 bytes, exact beyond 2^53, and a clear error on other lengths', () => {
    const k = keys.int64();
    expect(k.deserialize(long(-42n))).toBe('-42');
    expect(k.deserialize(long(9007199254740993n))).toBe('9007199254740993');
    expect(k.serialize('9007199254740993').equals(long(9007199254740993n))).toBe(true);
    expect(() => k.deserialize(Buffer.from('abc'))).toThrow(SerdeError);
    expect(() => k.serialize('12a')).toThrow(/decimal integer/);
    expect(() => k.serialize('9223372036854775808')).toThrow(/64-bit range/);
  });

  it('bytes as hex, json as its text, string as UTF-8', () => {
    expect(keys.bytes().deserialize(Buffer.from([0, 255, 16]))).toBe('00ff10');
    expect(
      keys
        .bytes()
        .serialize('00ff10')
        .equals(Buffer.from([0, 255, 16])),
    ).toBe(true);
    expect(() => keys.bytes().serialize('xyz')).toThrow(/hex/);
    expect(keys.json().deserialize(Buffer.from('{"id":7}'))).toBe('{"id":7}');
    expect(() => keys.json().deserialize(Buffer.from('{'))).toThrow(SerdeError);
    expect(keys.string().serialize('é').equals(Buffer.from('é'))).toBe(true);
  });
});
