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
import { dot32, hamming, hashChunk } from './perceptual_hash.js';
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

/** Every 16-bit value within 2 bits of `v`. */
function within2Bits(v: number): number[] {
  const out = [v];
  for (let a = 0; a < CHUNK_BITS; a++) {
    const va = v ^ (1 << a);
    out.push(va);
    for (let b = a + 1; b < CHUNK_BITS; b++) out.push(va ^ (1 << b));
  }
  return out;
}

/** Pairs (i < j) whose pHashes are within 8 bits, by multi-index hashing. */
export function pHashCandidatePairs(fingerprints: readonly (ImageFingerprint | null)[], maxHamming: number): [number, number][] {
  const tables = Array.from({ length: CHUNKS }, () => new Map<number, number[]>());
  fingerprints.forEach((f, i) => {
    if (!f) return;
    for (let c = 0; c < CHUNKS; c++) {
      const key = hashChunk(f.pHash, c, CHUNK_BITS);
      const list = tables[c].get(key);
      if (list) list.push(i);
      else tables[c].set(key, [i]);
    }
  });
  const pairs: [number, number][] = [];
  const seen = new Set<number>();
  fingerprints.forEach((f, i) => {
    if (!f) return;
    seen.clear();
    for (let c = 0; c < CHUNKS; c++) {
      for (const key of within2Bits(hashChunk(f.pHash, c, CHUNK_BITS))) {
        for (const j of tables[c].get(key) ?? []) {
          if (j <= i || seen.has(j)) continue;
          seen.add(j);
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
