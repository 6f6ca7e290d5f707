// What a backbone's weights are, recorded next to its builder (torchvision's Weights records): the
// ImageNet files Keras downloads (names, URLs, hashes, as keras/src/applications/*.py has them) and the
// offline sources tlkit ships, each with the input scaling its weights expect. weights/ loads them;
// this file only describes them.
import { WeightsError, invalidArgument } from '../core/errors.js';
import type { PreprocessMode } from './types.js';

/** One weights file Keras downloads: the name it caches it under, where it comes from, its checksum. */
export interface WeightsFile {
  fileName: string;
  url: string;
  /** Keras's file_hash when Keras has one (md5 hex, or sha256 hex when 64 characters long). */
  fileHash?: string;
}

export interface ImagenetFileQuery {
  alpha: number;
  includeTop: boolean;
  inputSize?: number;
}

/** Keras's ImageNet weights of a backbone: which file for which options (throws when Keras has none). */
export interface ImagenetWeights {
  file(query: ImagenetFileQuery): WeightsFile;
}

/** How inputs must be prepared for a set of weights: preprocess_input mode, then multiply by rescale. */
export interface InputScaling {
  preprocess: PreprocessMode;
  /** Keras ImageDataGenerator `rescale`, applied after the preprocess mode. */
  rescale?: number;
}

/** Offline weights: a Keras backbone bundled in an npm package, usable without any download. */
export interface OfflineWeights {
  /** The `--weights` name ('nsfwjs'). */
  source: string;
  /** The package's model the backbone is taken from. */
  variant: string;
  /** The input size the package's model was trained at. */
  inputSize: number;
  /** The last layer of the Keras backbone in the package's model; the head follows it. */
  lastBackboneLayer: string;
  /**
   * Whether its layer names match Keras's (load by name) or only their order does (load by topological
   * order, as Keras's .h5 loader does for auto-named layers).
   */
  byName: boolean;
  input: InputScaling;
}

export interface BackboneWeights {
  imagenet?: ImagenetWeights;
  offline?: OfflineWeights[];
}

/** The nsfwjs package's source name; its models were trained on x / 255. */
export const NSFWJS_SOURCE = 'nsfwjs';
export const NSFWJS_INPUT: InputScaling = { preprocess: 'none', rescale: 1 / 255 };

export const KERAS_APPLICATIONS_STORAGE = 'https://storage.googleapis.com/tensorflow/keras-applications/';

/** Keras picks the 224 file when the size has no file of its own (no-top weights do not depend on it). */
export function kerasRows(inputSize: number | undefined, sizes: number[], includeTop: boolean, backboneId: string): number {
  if (inputSize === undefined || sizes.includes(inputSize)) return inputSize ?? 224;
  if (includeTop) {
    throw new WeightsError(
      `ImageNet weights for ${backboneId} with includeTop need an input size of ${sizes.join(', ')}; received inputSize=${inputSize}. ` +
        'Use includeTop=false (the size then does not matter) or one of those sizes.',
    );
  }
  return 224;
}

export function checkImagenetAlpha(backboneId: string, alpha: number, allowed: number[]): void {
  if (!allowed.includes(alpha)) throw invalidArgument('alpha', alpha, `one of ${allowed.join(', ')} for ImageNet weights of ${backboneId}`);
}

/** Formats alpha the way Python's str(float(alpha)) does: 1 -> '1.0', 0.35 -> '0.35'. */
export function pythonFloat(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/**
 * The common Keras pattern: `NAME.h5` with the top, `NAME_notop.h5` without, one hash each, in one
 * folder; the sizes the top accepts.
 */
export function topOrNotop(backboneId: string, name: string, hashes: { top: string; notop: string }, base: string, topSizes: number[]): ImagenetWeights {
  return {
    file({ includeTop, inputSize }) {
      if (includeTop) kerasRows(inputSize, topSizes, true, backboneId);
      const fileName = includeTop ? `${name}.h5` : `${name}_notop.h5`;
      return { fileName, url: base + fileName, fileHash: includeTop ? hashes.top : hashes.notop };
    },
  };
}
