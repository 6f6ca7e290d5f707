// The unit of work of the data pipeline: read + decode + resize one file, then augment it with
// parameters drawn beforehand. A pure function of its (serialisable) job, so it gives the same pixels
// on the main thread or in any worker; that is what makes batches independent of the worker count.
import { decodeImageBuffer, decodeImageFile, DecodeFailure, readBytes, type DecodeOptions, type SourceInfo } from './decode.js';
import { decodeIsFaithful, fingerprintOfBytes, fingerprintOfDecoded, type ImageFingerprint } from './image_fingerprint.js';
import type { Float32Pool } from './buffer_pool.js';
import { applyTransformToArray, type TransformParams, type TransformSettings } from './transforms/apply_transform.js';
import { applyPixelStandardization, type PixelStandardization } from './transforms/standardize.js';

export interface SampleJob {
  file: string;
  decode: DecodeOptions;
  /** null: no augmentation. */
  params: TransformParams | null;
  settings: TransformSettings;
  /** The file's pixels decoded before (a cache): used instead of reading and decoding the file. */
  decoded?: DecodedPixels;
  /** Return the decoded pixels too (`SampleResult.decoded`), for a cache. */
  keepDecoded?: boolean;
  /** Standardize the result too (when standardize depends on nothing but the image). */
  standardize?: PixelStandardization;
  /**
   * Return the file's fingerprint too (`SampleResult.fingerprint`: the audit's duplicate search), from
   * the bytes read and the pixels decoded, before any augmentation (or, when those pixels are a small
   * nearest-neighbour shrink, from a small decode for the purpose). Not with `decoded`.
   */
  fingerprint?: boolean;
}

/** 8-bit HWC pixels of one file at the target size, as decoded. */
export interface DecodedPixels {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

export type SampleResult =
  | { ok: true; data: Float32Array; height: number; width: number; channels: number; source?: SourceInfo; decoded?: Uint8Array; fingerprint?: ImageFingerprint }
  | { ok: false; reason: string };

/** `pool`, when given, supplies the float buffers (and gets the intermediate one back). */
export async function runSampleJob(job: SampleJob, pool?: Float32Pool): Promise<SampleResult> {
  try {
    let fingerprint: ImageFingerprint | undefined;
    let img: DecodedPixels & { source?: SourceInfo };
    if (job.decoded) img = job.decoded;
    else if (job.fingerprint) {
      const bytes = await readBytes(job.file);
      img = await decodeImageBuffer(bytes, job.file, job.decode);
      // From these pixels when they hash as the file would; else one small decode for the purpose.
      fingerprint = decodeIsFaithful(bytes, img.width, img.height) ? fingerprintOfDecoded(bytes, img) : await fingerprintOfBytes(bytes, job.file);
    } else img = await decodeImageFile(job.file, job.decode);
    const n = img.data.length;
    const out = pool ? pool.take(n) : new Float32Array(n);
    let data: Float32Array;
    if (job.params) {
      // The transform reads the decoded bytes directly: the resample is the uint8 -> float32 pass.
      data = applyTransformToArray(img.data, img.height, img.width, img.channels, job.params, job.settings, out);
      if (pool && data !== out) pool.give(out);
    } else {
      // TypedArray.set converts uint8 -> float32 natively, several times faster than a JS loop here.
      out.set(img.data);
      data = out;
    }
    if (job.standardize) applyPixelStandardization(data, img.channels, job.standardize);
    // A copy for the cache: the decoder's buffer may be a view of a larger allocation.
    const decoded = job.keepDecoded && !job.decoded ? img.data.slice() : undefined;
    return { ok: true, data, height: img.height, width: img.width, channels: img.channels, ...(img.source ? { source: img.source } : {}), ...(decoded ? { decoded } : {}), ...(fingerprint ? { fingerprint } : {}) };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, reason: error.reason };
    // Anything else (a libvips crash message, an out-of-memory on a huge file) is still one bad file.
    return { ok: false, reason: `failed to load (${error instanceof Error ? error.message : String(error)})` };
  }
}
