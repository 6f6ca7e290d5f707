// The unit of work of the data pipeline: read + decode + resize one file, then augment it with
// parameters drawn beforehand. A pure function of its (serialisable) job, so it gives the same pixels
// on the main thread or in any worker; that is what makes batches independent of the worker count.
import { decodeImageFile, DecodeFailure, type DecodeOptions, type SourceInfo } from './decode.js';
import { applyTransformToArray, type TransformParams, type TransformSettings } from './transforms/apply_transform.js';

export interface SampleJob {
  file: string;
  decode: DecodeOptions;
  /** null: no augmentation. */
  params: TransformParams | null;
  settings: TransformSettings;
}

export type SampleResult =
  | { ok: true; data: Float32Array; height: number; width: number; channels: number; source?: SourceInfo }
  | { ok: false; reason: string };

export async function runSampleJob(job: SampleJob): Promise<SampleResult> {
  try {
    const img = await decodeImageFile(job.file, job.decode);
    const pixels = new Float32Array(img.data.length);
    for (let i = 0; i < pixels.length; i++) pixels[i] = img.data[i];
    const data = job.params ? applyTransformToArray(pixels, img.height, img.width, img.channels, job.params, job.settings) : pixels;
    return { ok: true, data, height: img.height, width: img.width, channels: img.channels, source: img.source };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, reason: error.reason };
    // Anything else (a libvips crash message, an out-of-memory on a huge file) is still one bad file.
    return { ok: false, reason: `failed to load (${error instanceof Error ? error.message : String(error)})` };
  }
}
