// What weights exist for which backbone, read from the registry's weights records (models/*.ts): the
// names `--weights` accepts and the offline sources. The loaders live in imagenet.ts / offline.ts /
// resolve.ts.
import { listBackbones } from '../models/zoo.js';
import { NSFWJS_INPUT, NSFWJS_SOURCE, type InputScaling, type OfflineWeights } from '../models/weights_records.js';
import { hasImagenetWeights } from './imagenet.js';

export { NSFWJS_SOURCE, NSFWJS_INPUT };
export type { InputScaling, OfflineWeights };

/** The package variants the nsfwjs source has. */
export type NsfwjsVariant = 'mobilenet_v2' | 'inception_v3';

export interface OfflineSourceInfo {
  name: string;
  backbones: string[];
  input: InputScaling;
  description: string;
  licence: string;
}

/** The offline weights record of `source` for a backbone, if its registry entry has one. */
export function offlineRecord(source: string, backboneId: string): OfflineWeights | undefined {
  return listBackbones().find((b) => b.id === backboneId)?.weights.offline?.find((o) => o.source === source);
}

/** Backbones with weights from `source`. */
function backbonesOf(source: string): string[] {
  return listBackbones().filter((b) => b.weights.offline?.some((o) => o.source === source)).map((b) => b.id);
}

export function offlineSources(): OfflineSourceInfo[] {
  return [
    {
      name: NSFWJS_SOURCE,
      backbones: backbonesOf(NSFWJS_SOURCE),
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
  return listBackbones().find((b) => b.id === backboneId)?.weights.offline?.map((o) => o.source) ?? [];
}

/** The input size the offline weights were trained at (other sizes work, as with no-top ImageNet weights). */
export function offlineInputSize(source: string, backboneId: string): number | undefined {
  return offlineRecord(source, backboneId)?.inputSize;
}

/**
 * The weights names a backbone accepts ('imagenet', offline sources, 'none'), by registry id as
 * registered (resolve.ts's availableWeights also accepts aliases).
 */
export function weightsNamesFor(backboneId: string): string[] {
  return [...(hasImagenetWeights(backboneId) ? ['imagenet'] : []), ...offlineSourcesFor(backboneId), 'none'];
}
