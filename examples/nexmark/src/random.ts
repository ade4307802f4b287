// Deterministic randomness for the generator (never Math.random): a 32-bit hash to derive independent seeds
// (one per event, per id score, per channel), the mulberry32 PRNG, and Beam's string helpers on top of it.

/** MurmurHash3's 32-bit finalizer: a bijective mix of a 32-bit integer. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Hashes a 32-bit seed and a non-negative safe integer `n` (up to 2^53) to 32 bits. */
export function hash32(seed: number, n: number): number {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x1_0000_0000) >>> 0;
  let h = mix32(seed ^ 0x9e3779b9);
  h = mix32(h ^ lo);
  h = mix32((h + Math.imul(hi, 0x27d4eb2f)) ^ 0x165667b1);
  return h;
}

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;

/** The mulberry32 PRNG (32-bit state, period 2^32): small, fast and good enough for synthetic data. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67_108_864 + b) / TWO_POW_53;
  }

  /** A uniform integer in [0, n) for 1 <= n <= 2^53 (bias below 2^-20 for n up to 2^32). */
  nextInt(n: number): number {
    if (n <= TWO_POW_32) return Math.floor((this.nextU32() / TWO_POW_32) * n);
    return Math.floor(this.nextDouble() * n);
  }
}

/** Beam's shortest random string. */
const MIN_STRING_LENGTH = 3;

/**
 * Beam's `nextString`: 3 to `maxLength` - 1 characters, lowercase letters with `special` one time in 13,
 * trimmed (so spaces never start or end it).
 */
export function nextString(r: Random, maxLength: number, special = ' '): string {
  let len = MIN_STRING_LENGTH + r.nextInt(maxLength - MIN_STRING_LENGTH);
  let s = '';
  while (len-- > 0) s += r.nextInt(13) === 0 ? special : String.fromCharCode(97 + r.nextInt(26));
  return s.trim();
}

/** Exactly `length` lowercase letters. */
export function nextExactString(r: Random, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(97 + r.nextInt(26));
  return s;
}

/**
 * Beam's `nextExtra`: padding such that `currentSize` plus its length averages `averageSize` (uniform within
 * ±20% of the missing size); empty when the record is already at least that big.
 */
export function nextExtra(r: Random, currentSize: number, averageSize: number): string {
  if (currentSize >= averageSize) return '';
  const missing = averageSize - currentSize;
  const delta = Math.round(missing * 0.2);
  const size = missing - delta + (delta === 0 ? 0 : r.nextInt(2 * delta + 1));
  return nextExactString(r, size);
}

/** Java's `Integer.reverse` (bit order of a 32-bit int reversed), as a signed 32-bit integer. */
export function reverseBits32(x: number): number {
  let v = x >>> 0;
  let out = 0;
  for (let i = 0; i < 32; i++) {
    out = (out << 1) | (v & 1);
    v >>>= 1;
  }
  return out | 0;
}
