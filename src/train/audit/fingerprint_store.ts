// Image fingerprints kept on disk per file identity (resolved path, size, mtime), in a store beside the
// feature stores (<cache root>/features/<fingerprint of this record format>/): a second comparison on the
// same folders, a sweep, or `tlkit audit` after a comparison decodes no file for its duplicate search.
// It is a FeatureStore of float32 records, so it shares the features' crash safety, concurrent writers,
// `tlkit cache` listing and least-recently-used pruning. Files that cannot be read or decoded are not
// stored (they are tried again next time, and fail fast).
import { createHash } from 'node:crypto';
import { openFeatureStore, type FeatureStore } from '../../engines/feature_store/feature_store.js';
import { fileIdentityKeys } from '../../engines/feature_store/file_identity.js';
import { resolveCacheDir } from '../../engines/onnx/compiled_cache.js';
import type { ProgressCallback } from '../../core/progress.js';
import { fingerprintFiles, FINGERPRINT_METHOD, type ImageFingerprint } from './image_fingerprints.js';
import { fingerprintFilesOffThread } from './fingerprint_thread.js';
import { LOW_SIDE } from '../../data/perceptual_hash.js';
import { DirectoryIterator } from '../../data/directory_iterator.js';

const SIGNATURE = LOW_SIDE * LOW_SIDE - 1;
// sha256 as 16 uint16 values, pHash and dHash as 4 each (every value exact in float32), then the signature.
const RECORD = 16 + 4 + 4 + SIGNATURE;

/** The record of a fingerprint: integers below 2^16 and the float32 signature, all exact in float32. */
export function encodeFingerprint(f: ImageFingerprint): Float32Array {
  const out = new Float32Array(RECORD);
  const content = Buffer.from(f.content, 'hex');
  for (let i = 0; i < 16; i++) out[i] = (content[2 * i] << 8) | content[2 * i + 1];
  [...f.pHash, ...f.dHash].forEach((word, w) => {
    out[16 + 2 * w] = word >>> 16;
    out[17 + 2 * w] = word & 0xffff;
  });
  out.set(f.signature, 24);
  return out;
}

export function decodeFingerprint(r: Float32Array): ImageFingerprint {
  const content = Buffer.alloc(32);
  for (let i = 0; i < 16; i++) {
    content[2 * i] = r[i] >>> 8;
    content[2 * i + 1] = r[i] & 0xff;
  }
  const word = (w: number): number => ((r[16 + 2 * w] << 16) | r[17 + 2 * w]) >>> 0;
  return { content: content.toString('hex'), pHash: [word(0), word(1)], dHash: [word(2), word(3)], signature: r.slice(24, 24 + SIGNATURE) };
}

export interface StoredFingerprintsOptions {
  /** Cache root (as the runs' `featureStore`): default the cache directory; false: nothing stored or read. */
  root?: string | false;
  /** Fingerprints computed at a time. Default 2. */
  concurrency?: number;
  /** Compute missing fingerprints on a worker thread (default true), not on the calling thread. */
  thread?: boolean;
  onProgress?: ProgressCallback;
}

async function openStore(root: string): Promise<FeatureStore | undefined> {
  const fingerprint = createHash('sha256').update(`tlkit audit fingerprints\n${FINGERPRINT_METHOD}\n${RECORD}`).digest('hex');
  return openFeatureStore(root, { fingerprint, shape: [RECORD], precision: 'float32', about: { backbone: 'audit fingerprints', method: FINGERPRINT_METHOD } }).catch(() => undefined);
}

/**
 * The fingerprints of `files` (null: unreadable), from the store when it holds them, else computed and
 * stored. The store never fails the audit: when it cannot be opened or written, the fingerprints are
 * computed as without it. `stored` counts the files that came from it.
 */
export async function storedFingerprints(files: readonly string[], options: StoredFingerprintsOptions = {}): Promise<{ prints: (ImageFingerprint | null)[]; stored: number }> {
  const compute = (list: readonly string[]) => (options.thread === false ? fingerprintFiles(list, { concurrency: options.concurrency ?? 2, onProgress: options.onProgress }) : fingerprintFilesOffThread(list, options));
  const root = resolveCacheDir(options.root);
  const store = root === false || files.length === 0 ? undefined : await openStore(root);
  if (!store) return { prints: await compute(files), stored: 0 };
  try {
    const keys = await fileIdentityKeys(files);
    const records = await store.getMany(keys.map((k) => k ?? ''));
    const prints: (ImageFingerprint | null)[] = records.map((r) => (r && r.length === RECORD ? decodeFingerprint(r) : null));
    const missing = prints.flatMap((p, i) => (p === null ? [i] : []));
    if (missing.length > 0) {
      const computed = await compute(missing.map((i) => files[i]));
      const fresh: number[] = [];
      computed.forEach((p, j) => {
        prints[missing[j]] = p;
        if (p && keys[missing[j]]) fresh.push(j);
      });
      await store.put(fresh.map((j) => keys[missing[j]]!), fresh.map((j) => encodeFingerprint(computed[j]!))).catch(() => undefined);
    } else {
      options.onProgress?.({ task: 'hashes', current: files.length, total: files.length, unit: 'img', done: true });
    }
    return { prints, stored: files.length - missing.length };
  } finally {
    await store.close();
  }
}

/**
 * Collects the fingerprints the data pipeline computes as it decodes (DirectoryIterator.onFingerprint) for
 * the iterators given that read folders, until `save` puts them in the store under `root` (best effort: a
 * store that cannot be written costs the audit a decode of those files later, nothing else).
 */
export function collectFingerprints(iterators: readonly unknown[]): { readonly count: number; save(root: string | false | undefined): Promise<void> } {
  const prints = new Map<string, ImageFingerprint>();
  const folders = iterators.filter((it): it is DirectoryIterator => it instanceof DirectoryIterator);
  for (const it of folders) it.onFingerprint = (file, print) => prints.set(file, print);
  return {
    get count() {
      return prints.size;
    },
    async save(rootOption) {
      for (const it of folders) it.onFingerprint = undefined;
      const root = resolveCacheDir(rootOption);
      if (root === false || prints.size === 0) return;
      const store = await openStore(root);
      if (!store) return;
      try {
        const files = [...prints.keys()];
        const keys = await fileIdentityKeys(files);
        const kept = files.flatMap((file, i) => (keys[i] ? [i] : []));
        await store.put(kept.map((i) => keys[i]!), kept.map((i) => encodeFingerprint(prints.get(files[i])!))).catch(() => undefined);
      } finally {
        await store.close();
      }
    },
  };
}
