// Exact and near duplicates among the images of every split, from their fingerprints.
//
// Exact: the same bytes (sha256). Near: the same picture resized, re-encoded or lightly edited. A pair is
// a near duplicate when its pHash and its dHash are both within `maxHamming` bits and the cosine of its
// low-frequency DCT signatures is at least `minSignature`: the hashes alone also pair distinct photos of
// look-alike objects (on the planted Fashion-MNIST set, 74 false cross-split pairs at 6 bits), the
// signature alone is too costly to compare all pairs; the two together scored precision 0.97, recall 1.0
// there (docs/audit.md).
//
// Candidates come from a multi-index hash (Norouzi et al.): pHash cut into 4 chunks of 16 bits; two
// hashes within 8 bits agree to within 2 bits on at least one chunk, so each image probes the 137 chunk
// values within 2 bits of each of its chunks: no O(N^2) scan, ~550 lookups an image at any N.
import { dot32, hamming, type Hash64 } from '../../data/perceptual_hash.js';
import type { ImageFingerprint } from './image_fingerprints.js';

export interface DuplicateOptions {
  /** Largest Hamming distance of pHash and of dHash (each, of 64 bits). Default 8; at most 8. */
  maxHamming?: number;
  /** Smallest cosine of the low-frequency signatures. Default 0.995. */
  minSignature?: number;
}

export interface DuplicateCluster {
  /** Indices into the fingerprint list, ascending. */
  members: number[];
  kind: 'exact' | 'near';
  /** 1 for exact copies; else the lowest signature cosine among the pairs that joined the cluster. */
  similarity: number;
}

const CHUNKS = 4;
const CHUNK_BITS = 16;

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]];
      i = this.parent[i];
    }
    return i;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** XOR masks of every 16-bit value within 2 bits of another: 0, one bit, two bits (137 in all). */
const FLIPS = (() => {
  const out = [0];
  for (let a = 0; a < CHUNK_BITS; a++) {
    out.push(1 << a);
    for (let b = a + 1; b < CHUNK_BITS; b++) out.push((1 << a) | (1 << b));
  }
  return Int32Array.from(out);
})();

/** hashChunk(h, c, 16), without the bit loop. */
const chunk16 = (h: Hash64, c: number): number => ((c < 2 ? h[0] : h[1]) >>> (c % 2 === 0 ? 16 : 0)) & 0xffff;

/**
 * Pairs (i < j) whose pHashes are within 8 bits, by multi-index hashing. Each chunk's table is a
 * counting sort of the images by chunk value (offsets into one array), so a probe is two reads.
 */
export function pHashCandidatePairs(fingerprints: readonly (ImageFingerprint | null)[], maxHamming: number): [number, number][] {
  const n = fingerprints.length;
  const tables = Array.from({ length: CHUNKS }, (_, c) => {
    const offsets = new Int32Array((1 << CHUNK_BITS) + 1);
    fingerprints.forEach((f) => {
      if (f) offsets[chunk16(f.pHash, c) + 1]++;
    });
    for (let v = 0; v < 1 << CHUNK_BITS; v++) offsets[v + 1] += offsets[v];
    const members = new Int32Array(offsets[1 << CHUNK_BITS]);
    const fill = offsets.slice(0, -1);
    fingerprints.forEach((f, i) => {
      if (f) members[fill[chunk16(f.pHash, c)]++] = i;
    });
    return { offsets, members };
  });
  const pairs: [number, number][] = [];
  // seenBy[j] === i + 1: pair (i, j) already tested.
  const seenBy = new Int32Array(n);
  fingerprints.forEach((f, i) => {
    if (!f) return;
    for (let c = 0; c < CHUNKS; c++) {
      const { offsets, members } = tables[c];
      const value = chunk16(f.pHash, c);
      for (let t = 0; t < FLIPS.length; t++) {
        const key = value ^ FLIPS[t];
        for (let p = offsets[key]; p < offsets[key + 1]; p++) {
          const j = members[p];
          if (j <= i || seenBy[j] === i + 1) continue;
          seenBy[j] = i + 1;
          if (hamming(f.pHash, fingerprints[j]!.pHash) <= maxHamming) pairs.push([i, j]);
        }
      }
    }
  });
  return pairs;
}

/** Clusters of duplicates (two or more images each), exact ones first, then by size. */
export function findDuplicates(fingerprints: readonly (ImageFingerprint | null)[], options: DuplicateOptions = {}): DuplicateCluster[] {
  const maxHamming = Math.min(8, options.maxHamming ?? 8);
  const minSignature = options.minSignature ?? 0.995;
  const n = fingerprints.length;
  const sets = new UnionFind(n);
  const lowest = new Map<number, number>();
  const byContent = new Map<string, number>();
  fingerprints.forEach((f, i) => {
    if (!f) return;
    const first = byContent.get(f.content);
    if (first === undefined) byContent.set(f.content, i);
    else sets.union(first, i);
  });
  const edges: [number, number, number][] = [];
  for (const [i, j] of pHashCandidatePairs(fingerprints, maxHamming)) {
    const a = fingerprints[i]!;
    const b = fingerprints[j]!;
    if (a.content === b.content) continue;
    if (hamming(a.dHash, b.dHash) > maxHamming) continue;
    const similarity = dot32(a.signature, b.signature);
    if (similarity < minSignature) continue;
    edges.push([i, j, similarity]);
    sets.union(i, j);
  }
  for (const [i, , s] of edges) {
    const root = sets.find(i);
    lowest.set(root, Math.min(lowest.get(root) ?? 1, s));
  }
  const members = new Map<number, number[]>();
  fingerprints.forEach((f, i) => {
    if (!f) return;
    const root = sets.find(i);
    const list = members.get(root);
    if (list) list.push(i);
    else members.set(root, [i]);
  });
  const clusters: DuplicateCluster[] = [];
  for (const [root, list] of members) {
    if (list.length < 2) continue;
    const exact = list.every((i) => fingerprints[i]!.content === fingerprints[list[0]]!.content);
    clusters.push({ members: list, kind: exact ? 'exact' : 'near', similarity: exact ? 1 : Math.round((lowest.get(root) ?? 1) * 1e4) / 1e4 });
  }
  return clusters.sort((a, b) => (a.kind === b.kind ? b.members.length - a.members.length || a.members[0] - b.members[0] : a.kind === 'exact' ? -1 : 1));
}
