// Fingerprints of files the data pipeline did not decode (`tlkit audit` without features, a compare whose
// runs read every file's features from the store): one small grayscale decode each (32x32: a few hundred
// microseconds a file, decoded on libuv's threads while the next files are read). The fingerprint itself
// (data/image_fingerprint.ts) is the same function of the pixels as the one a run's sample jobs compute.
import { readFile } from 'node:fs/promises';
import type { ProgressCallback } from '../../core/progress.js';
import { fingerprintOfBytes, FINGERPRINT_METHOD, type ImageFingerprint } from '../../data/image_fingerprint.js';

export { FINGERPRINT_METHOD };
export type { ImageFingerprint };

export async function fingerprintFile(file: string): Promise<ImageFingerprint> {
  return fingerprintOfBytes(await readFile(file), file);
}

/**
 * Fingerprints of `files`, `concurrency` at a time; a file that cannot be read or decoded gets null
 * (the training pass reports it; the audit skips it).
 */
export async function fingerprintFiles(files: readonly string[], options: { concurrency?: number; onProgress?: ProgressCallback } = {}): Promise<(ImageFingerprint | null)[]> {
  const out: (ImageFingerprint | null)[] = new Array(files.length).fill(null);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      out[i] = await fingerprintFile(files[i]).catch(() => null);
      done++;
      if (done % 256 === 0) options.onProgress?.({ task: 'hashes', current: done, total: files.length, unit: 'img' });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  options.onProgress?.({ task: 'hashes', current: files.length, total: files.length, unit: 'img', done: true });
  return out;
}
