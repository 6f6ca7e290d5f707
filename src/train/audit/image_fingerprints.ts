// Fingerprints of files the data pipeline did not decode (`tlkit audit` without features, a compare whose
// runs read every file's features from the store): one small grayscale decode each (32x32: a few hundred
// microseconds a file, decoded on libuv's threads while the next files are read). The fingerprint itself
// (data/image_fingerprint.ts) is the same function of the pixels as the one a run's sample jobs compute.
import { readFile } from 'node:fs/promises';
import { decodeImageBuffer, headerSize } from '../../data/decode.js';
import type { ProgressCallback } from '../../core/progress.js';
import { HASH_SIDE } from '../../data/perceptual_hash.js';
import { contentHash, fingerprintOfGray, type ImageFingerprint } from '../../data/image_fingerprint.js';

/**
 * Images up to this side are decoded at full size and area-averaged to 32x32 here; larger ones are
 * resized by sharp (lanczos; JPEG decoded at 1/2-1/8 scale). For small images sharp's resize cost twice
 * the decode: 2,530 files at 96-120 px took 4.0-5.4 s of CPU this way against 8.3-8.8 s, with the same
 * leaks found on the planted set (31 pairs, precision 0.968, recall 1.0).
 */
const AREA_RESIZE_BELOW = 256;

/** What decides a fingerprint's numbers (the fingerprint store keeps them under it: change it with the method). */
export const FINGERPRINT_METHOD = `sha256; ${HASH_SIDE}x${HASH_SIDE} grayscale, area average up to ${AREA_RESIZE_BELOW} px else lanczos, auto-oriented (sharp), or from a training run's decode at its input size (area average); pHash 8x8 of the DCT; dHash 9x8; signature: 16x16 DCT without DC`;

export type { ImageFingerprint };

export async function fingerprintFile(file: string): Promise<ImageFingerprint> {
  const bytes = await readFile(file);
  const size = headerSize(bytes);
  const small = size !== null && Math.max(size.width, size.height) <= AREA_RESIZE_BELOW;
  const image = await decodeImageBuffer(bytes, file, small ? { colorMode: 'grayscale' } : { targetSize: [HASH_SIDE, HASH_SIDE], colorMode: 'grayscale', interpolation: 'lanczos' });
  return fingerprintOfGray(contentHash(bytes), image.data, image.width, image.height);
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
