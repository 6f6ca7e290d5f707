// An image's fingerprint for the duplicate finder: a hash of its bytes (exact copies) and perceptual hashes
// of its pixels (near copies). Made from pixels already decoded, so that the data pipeline, which decodes
// every file anyway, can hand them to the audit at almost no cost (a sha256 of the bytes it read and a
// 32x32 area average: a fraction of a millisecond against the several of a decode).
import { createHash } from 'node:crypto';
import { lumaOf } from './decode.js';
import { areaResize, dHash, lowFrequencies, lowFrequencySignature, pHashOfLow, type Hash64 } from './perceptual_hash.js';

export interface ImageFingerprint {
  /** sha256 of the file's bytes, hex. */
  content: string;
  pHash: Hash64;
  dHash: Hash64;
  /** lowFrequencySignature of the 32x32 thumbnail: confirms hash matches. */
  signature: Float32Array;
}

/** sha256 of a file's bytes, hex: the exact-copy half of a fingerprint. */
export function contentHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The fingerprint of a file from its bytes' hash and its grayscale pixels, already 32x32 or larger. */
export function fingerprintOfGray(content: string, gray: ArrayLike<number>, width: number, height: number): ImageFingerprint {
  const pixels = areaResize(gray, width, height);
  const low = lowFrequencies(pixels);
  return { content, pHash: pHashOfLow(low), dHash: dHash(pixels), signature: lowFrequencySignature(low) };
}

/**
 * The fingerprint of a file from its bytes and its decoded 8-bit HWC pixels (any size; the data pipeline's
 * are at the model's input size): luma, area-averaged to 32x32, then the hashes.
 */
export function fingerprintOfDecoded(bytes: Uint8Array, image: { data: Uint8Array; width: number; height: number; channels: number }): ImageFingerprint {
  return fingerprintOfGray(contentHash(bytes), lumaOf(image.data, image.width * image.height, image.channels), image.width, image.height);
}
