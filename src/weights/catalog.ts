// What weights exist for which backbone, without loading tfjs: `tlkit models` lists this at start-up.
// The loaders live in imagenet.ts / offline.ts / resolve.ts.
import type { PreprocessMode } from '../models/types.js';
import { hasImagenetWeights } from './imagenet.js';

export const NSFWJS_SOURCE = 'nsfwjs';

export type NsfwjsVariant = 'mobilenet_v2' | 'inception_v3';

/** How an offline source's inputs must be prepared: preprocess_input mode, then multiply by rescale. */
export interface InputScaling {
  preprocess: PreprocessMode;
  /** Keras ImageDataGenerator `rescale`, applied after the preprocess mode. */
  rescale?: number;
}

/** nsfwjs feeds x / 255. */
export const NSFWJS_INPUT: InputScaling = { preprocess: 'none', rescale: 1 / 255 };

export interface OfflineBackbone {
  variant: NsfwjsVariant;
  /** The input size the package's model was trained at. */
  inputSize: number;
  /** The last layer of the Keras backbone in the package's model; the head follows it. */
  lastBackboneLayer: string;
  /**
   * MobileNetV2's layers carry Keras's explicit names in both; InceptionV3's are auto-named
   * ('conv2d_1' in Keras 2.2.4, 'conv2d' today), so it matches by topological order like Keras's .h5 loader.
   */
  byName: boolean;
}

export const NSFWJS_BACKBONES: Record<string, OfflineBackbone> = {
  mobilenet_v2: { variant: 'mobilenet_v2', inputSize: 224, lastBackboneLayer: 'out_relu', byName: true },
  inception_v3: { variant: 'inception_v3', inputSize: 299, lastBackboneLayer: 'mixed10', byName: false },
};

export interface OfflineSourceInfo {
  name: string;
  backbones: string[];
  input: InputScaling;
  description: string;
  licence: string;
}

export function offlineSources(): OfflineSourceInfo[] {
  return [
    {
      name: NSFWJS_SOURCE,
      backbones: Object.keys(NSFWJS_BACKBONES),
      input: NSFWJS_INPUT,
      description: 'Keras MobileNetV2 (224) and InceptionV3 (299) backbones fine-tuned on web photos by nsfwjs (npm nsfwjs@4), uint8-quantised',
      licence: 'MIT, Copyright (c) 2019 Infinite Red, Inc.',
    },
  ];
}

export function isOfflineSource(name: string): boolean {
  return offlineSources().some((s) => s.name === name);
}

/** Offline sources that have weights for this backbone. */
export function offlineSourcesFor(backboneId: string): string[] {
  return backboneId in NSFWJS_BACKBONES ? [NSFWJS_SOURCE] : [];
}

/** The input size the offline weights were trained at (other sizes work, as with no-top ImageNet weights). */
export function offlineInputSize(source: string, backboneId: string): number | undefined {
  return source === NSFWJS_SOURCE ? NSFWJS_BACKBONES[backboneId]?.inputSize : undefined;
}

/**
 * The weights names a backbone accepts ('imagenet', offline sources, 'none'), by registry id as
 * registered (resolve.ts's availableWeights also accepts aliases).
 */
export function weightsNamesFor(backboneId: string): string[] {
  return [...(hasImagenetWeights(backboneId) ? ['imagenet'] : []), ...offlineSourcesFor(backboneId), 'none'];
}
