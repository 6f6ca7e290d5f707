// Small seeded PRNG (mulberry32) and a way to make tfjs's own randomness reproducible.

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed (so each (seed, epoch, batch) step gets its own stream). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  }
  return h >>> 0;
}

/**
 * Runs a synchronous function with Math.random replaced by a seeded stream. tfjs seeds the noise of
 * Dropout (and other unseeded random ops) from Math.random, and offers no other hook; a training step
 * is synchronous, so the swap cannot leak into other code.
 */
export function withSeededMathRandom<T>(seed: number, f: () => T): T {
  const original = Math.random;
  Math.random = mulberry32(seed);
  try {
    return f();
  } finally {
    Math.random = original;
  }
}

/** Fisher-Yates permutation of 0..n-1 from a seed. */
export function seededPermutation(n: number, seed: number): number[] {
  const random = mulberry32(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
