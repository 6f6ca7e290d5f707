// An image's fingerprint for the duplicate finder: a hash of its bytes (exact copies) and perceptual hashes
// of its pixels (near copies). Made from pixels already decoded, so that the data pipeline, which decodes
// every file anyway, can hand them to the audit at almost no cost (a sha256 of the bytes it read and a
// 32x32 area average: a fraction of a millisecond against the several of a decode).
import { createHash } from 'node:crypto';
import { decodeImageBuffer, headerSize, lumaOf } from './decode.js';
import { areaResize, HASH_SIDE, dHash, lowFrequencies, lowFrequencySignature, pHashOfLow, type Hash64 } from './perceptual_hash.js';

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
 * Images up to this side are decoded at full size and area-averaged to 32x32; larger ones are resized by
 * sharp (lanczos; JPEG decoded at 1/2-1/8 scale). For small images sharp's resize cost twice the decode:
 * 2,530 files at 96-120 px took 4.0-5.4 s of CPU this way against 8.3-8.8 s, with the same leaks found on
 * the planted set (31 pairs, precision 0.968, recall 1.0).
 */
const AREA_RESIZE_BELOW = 256;

/** What decides a fingerprint's numbers (the fingerprint store keeps them under it: change it with the method). */
export const FINGERPRINT_METHOD = `sha256; ${HASH_SIDE}x${HASH_SIDE} grayscale, area average up to ${AREA_RESIZE_BELOW} px else lanczos, auto-oriented (sharp), or the area average of a training run's decode when faithful; pHash 8x8 of the DCT; dHash 9x8; signature: 16x16 DCT without DC`;

/** The fingerprint of a file from its bytes alone: one small grayscale decode. */
export async function fingerprintOfBytes(bytes: Buffer, file: string): Promise<ImageFingerprint> {
  const size = headerSize(bytes);
  const small = size !== null && Math.max(size.width, size.height) <= AREA_RESIZE_BELOW;
  const image = await decodeImageBuffer(bytes, file, small ? { colorMode: 'grayscale' } : { targetSize: [HASH_SIDE, HASH_SIDE], colorMode: 'grayscale', interpolation: 'lanczos' });
  return fingerprintOfGray(contentHash(bytes), image.data, image.width, image.height);
}

/**
 * Whether pixels decoded at `width` x `height` give the fingerprint the file's own decode would: the image
 * was not shrunk (upscaling only repeats pixels, which the area average undoes), or the decode is at least
 * 4x the hash's side each way, so each thumbnail pixel averages 16 or more of them and the aliasing of a
 * nearest-neighbour shrink averages out. A 96 px image shrunk to 32 keeps every third pixel: a re-encoded
 * copy of it then hashes far from it, and the file is decoded for the purpose instead.
 */
export function decodeIsFaithful(bytes: Uint8Array, width: number, height: number): boolean {
  const size = headerSize(bytes);
  if (size && size.width <= width && size.height <= height) return true;
  return Math.min(width, height) >= 4 * HASH_SIDE;
}

/**
 * The fingerprint of a file from its bytes and its decoded 8-bit HWC pixels (any size; the data pipeline's
 * are at the model's input size): luma, area-averaged to 32x32, then the hashes.
 */
export function fingerprintOfDecoded(bytes: Uint8Array, image: { data: Uint8Array; width: number; height: number; channels: number }): ImageFingerprint {
  return fingerprintOfGray(contentHash(bytes), lumaOf(image.data, image.width * image.height, image.channels), image.width, image.height);
}
