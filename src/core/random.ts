// Seeded random numbers for augmentation and shuffling. sfc32 (a small, fast, well-tested 128-bit
// state generator) instead of Math.random so that a seed reproduces every batch, and so that the
// state can be saved in a training checkpoint and restored (getState / setState).

/** The four 32-bit words of the generator: plain numbers, so it fits in JSON. */
export type RandomState = [number, number, number, number];

/** 32-bit avalanche (murmur3's finaliser): spreads nearby seeds far apart. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Combines integers (a seed, an epoch, a sample position...) into one 32-bit seed. Used to give every
 * sample its own generator, so a sample's augmentation does not depend on which worker ran it or when.
 */
export function mixSeed(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    // Seeds up to 2^53: fold the high part in too.
    const lo = v >>> 0;
    const hi = Math.floor(v / 4294967296) >>> 0;
    h = fmix32(Math.imul(h ^ lo, 0x27d4eb2d) + 0x165667b1);
    h = fmix32(Math.imul(h ^ hi, 0x27d4eb2d) + 0x165667b1);
  }
  return h >>> 0;
}

/** A seed when the caller gave none (Keras then uses numpy's unseeded global state). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

export class Random {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /** `new Random(seed)` or `new Random(seed, epoch, position)`: one stream per tuple of integers. */
  constructor(seed: number, ...streams: number[]) {
    const s = mixSeed(seed, ...streams);
    this.a = 0;
    this.b = s;
    this.c = fmix32(s ^ 0x6a09e667);
    this.d = 1;
    // Warm up: sfc32's first outputs are correlated with the seed.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  static fromState(state: RandomState): Random {
    const r = new Random(0);
    r.setState(state);
    return r;
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits, like numpy's random(). */
  random(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [low, high), like numpy's uniform(low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** Integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Random.int expects n >= 1; got ${n}`);
    if (n > 4294967296) return Math.floor(this.random() * n);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  choice<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  getState(): RandomState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  setState(state: RandomState): void {
    if (!Array.isArray(state) || state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`Random state must be four unsigned 32-bit integers; got ${JSON.stringify(state)}`);
    }
    [this.a, this.b, this.c, this.d] = state.map((v) => v | 0) as RandomState;
  }
}

/** A function returning uniform numbers in [0, 1) from one seeded stream (what Math.random's callers expect). */
export function seededUniform(seed: number, ...streams: number[]): () => number {
  const r = new Random(seed, ...streams);
  return () => r.random();
}

/**
 * Runs a synchronous function with Math.random replaced by a seeded stream. tfjs seeds the noise of
 * Dropout (and other unseeded random ops) from Math.random, and offers no other hook; a training step
 * is synchronous, so the swap cannot leak into other code.
 */
export function withSeededMathRandom<T>(seed: number, f: () => T): T {
  const original = Math.random;
  Math.random = seededUniform(seed);
  try {
    return f();
  } finally {
    Math.random = original;
  }
}
