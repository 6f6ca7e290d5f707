// One entry for "give this backbone its weights": 'imagenet' (Keras's files, cache and URLs), null
// (random init, as built), a path to a Keras .h5, or an offline source name ('nsfwjs'). Also what
// `tlkit models` shows per backbone, the default choice, and the `--weights` flag's parsing.
import { existsSync, statSync } from 'node:fs';
import type { tfl } from '../engines/tfjs/tf.js';
import { UsageError, WeightsError } from '../core/errors.js';
import { getBackbone } from '../models/zoo.js';
import type { PreprocessMode } from '../models/types.js';
import type { ProgressCallback } from '../core/progress.js';
import { loadH5Weights } from './h5_import.js';
import { cachedWeightsPath, fetchWeightsFile, hasImagenetWeights, imagenetWeightsFile, kerasCacheDir } from './imagenet.js';
import { isOfflineSource, offlineSources, offlineSourcesFor, weightsNamesFor, type InputScaling } from './catalog.js';
import { loadOfflineWeights } from './offline.js';
import type { MatchMode } from './stored_weights.js';

export interface LoadBackboneWeightsOptions {
  /** Width multiplier the backbone was built with (MobileNet, MobileNetV2); picks the ImageNet file. Default 1.0. */
  alpha?: number;
  /** Input rows = cols the backbone was built with. Default: read from the backbone's input. */
  inputSize?: number;
  onProgress?: ProgressCallback;
  /** Match a .h5 by layer name instead of Keras's default topological order. */
  byName?: boolean;
  /** False: use the Keras cache only, never download. Default true. */
  allowDownload?: boolean;
  /** Instead of $KERAS_HOME/models or ~/.keras/models. */
  cacheDir?: string;
}

export interface WeightsInfo {
  /** What the weights are: 'imagenet', 'none' (random), an offline source name, or the .h5 path. */
  source: string;
  kind: 'imagenet' | 'random' | 'file' | 'offline';
  /** The file read, when one was: the cached ImageNet file or the given .h5. */
  file?: string;
  weightsLoaded: number;
  matchMode?: MatchMode;
  /** preprocess_input mode the inputs need for these weights. */
  preprocess: PreprocessMode;
  /** Multiply by this after `preprocess` (Keras ImageDataGenerator `rescale`); absent means 1. */
  rescale?: number;
}

/** How images must be prepared for these weights (preprocess_input mode, then rescale); known before loading. */
export function inputScalingFor(backboneId: string, weights: string | null): InputScaling {
  const backbone = getBackbone(backboneId);
  if (weights !== null && isOfflineSource(weights)) {
    const record = backbone.weights.offline?.find((o) => o.source === weights);
    return { ...(record?.input ?? offlineSources().find((s) => s.name === weights)!.input) };
  }
  return { preprocess: backbone.preprocess };
}

function acceptedText(backboneId?: string): string {
  const offline = backboneId ? offlineSourcesFor(backboneId) : offlineSources().map((s) => s.name);
  return ['imagenet', 'none', ...offline, 'a path to a Keras .h5 file'].join(', ');
}

/** A backbone built with includeTop ends in Keras's 'predictions' layer. */
function hasTop(backbone: tfl.LayersModel): boolean {
  return backbone.layers.some((l) => l.name === 'predictions');
}

/**
 * Loads `weights` into a freshly built backbone. Nothing is assigned unless every weight fits.
 * Throws WeightsError (missing file, offline without the cached file, mismatching weights).
 */
export async function loadBackboneWeights(
  backbone: tfl.LayersModel,
  backboneId: string,
  weights: string | null,
  options: LoadBackboneWeightsOptions = {},
): Promise<WeightsInfo> {
  const id = getBackbone(backboneId).id;
  if (weights === null || weights === 'none') {
    return { source: 'none', kind: 'random', weightsLoaded: 0, ...inputScalingFor(id, null) };
  }
  if (weights === 'imagenet') {
    const inputSize = options.inputSize ?? (backbone.inputs[0]?.shape[1] ?? undefined) ?? undefined;
    const file = imagenetWeightsFile(id, { alpha: options.alpha, inputSize: inputSize ?? undefined, includeTop: hasTop(backbone) });
    const path = await fetchWeightsFile(file, { cacheDir: options.cacheDir, onProgress: options.onProgress, allowDownload: options.allowDownload });
    const result = await loadH5Weights(backbone, path, { byName: options.byName });
    return { source: 'imagenet', kind: 'imagenet', file: path, weightsLoaded: result.weightsLoaded, matchMode: result.mode, ...inputScalingFor(id, 'imagenet') };
  }
  if (isOfflineSource(weights)) {
    if (options.alpha !== undefined && options.alpha !== 1) {
      throw new WeightsError(`The offline source '${weights}' has ${id} with alpha 1.0 only; received alpha=${options.alpha}. Use alpha 1.0, or --weights imagenet / none.`);
    }
    const result = loadOfflineWeights(backbone, weights, id);
    return { source: weights, kind: 'offline', weightsLoaded: result.weightsLoaded, matchMode: result.mode, ...inputScalingFor(id, weights) };
  }
  if (existsSync(weights) && statSync(weights).isFile()) {
    const result = await loadH5Weights(backbone, weights, { byName: options.byName });
    return { source: weights, kind: 'file', file: weights, weightsLoaded: result.weightsLoaded, matchMode: result.mode, ...inputScalingFor(id, weights) };
  }
  throw new WeightsError(`Unknown weights ${JSON.stringify(weights)} for backbone '${id}': not a file and not a weights name. Accepted: ${acceptedText(id)}.`);
}

/** The weights names a backbone accepts, for `tlkit models`: 'imagenet', offline sources, 'none'. */
export function availableWeights(backboneId: string): string[] {
  return weightsNamesFor(getBackbone(backboneId).id);
}

export interface DefaultWeights {
  weights: string | null;
  /** Why this choice, for a one-line note in the CLI. */
  reason: string;
}

/**
 * What to use when the user says nothing: 'imagenet' when its file is in the Keras cache (no network
 * needed), else the backbone's offline source, else random init, with the reason.
 */
export function defaultWeights(backboneId: string, options: { alpha?: number; inputSize?: number; cacheDir?: string } = {}): DefaultWeights {
  const id = getBackbone(backboneId).id;
  const cacheDir = options.cacheDir ?? kerasCacheDir();
  let missing = '';
  if (hasImagenetWeights(id)) {
    try {
      const file = imagenetWeightsFile(id, { alpha: options.alpha, inputSize: options.inputSize, includeTop: false });
      const path = cachedWeightsPath(file, cacheDir);
      if (path) return { weights: 'imagenet', reason: `ImageNet weights found in the Keras cache: ${path}` };
      missing = `${file.fileName} is not in the Keras cache ${cacheDir}`;
    } catch (error) {
      missing = error instanceof Error ? error.message : String(error);
    }
  } else {
    missing = `Keras has no ImageNet weights for ${id}`;
  }
  const offline = offlineSourcesFor(id)[0];
  if (offline) return { weights: offline, reason: `${missing}; using the offline source '${offline}' (--weights imagenet downloads ImageNet's)` };
  return { weights: null, reason: `${missing} and no offline source has ${id}: random initialisation (--weights imagenet downloads ImageNet's)` };
}

/**
 * `--weights imagenet|none|PATH|<offline source>` -> the `weights` option: 'imagenet', null,
 * the source name, or the path. undefined (flag absent) stays undefined: use defaultWeights.
 */
export function parseWeightsFlag(value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === 'imagenet') return 'imagenet';
  if (v === 'none' || v === 'random' || v === 'null') return null;
  if (isOfflineSource(v)) return v;
  if (v.length > 0 && existsSync(v) && statSync(v).isFile()) return v;
  const looksLikePath = /[\\/]/.test(v) || /\.(h5|hdf5|keras)$/i.test(v);
  throw new UsageError(
    `--weights expects ${acceptedText()}; got '${value}'${looksLikePath ? ' (no such file)' : ''}`,
    'weights',
  );
}
