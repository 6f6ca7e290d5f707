// Pooled backbone features of every image of a folder, for the audit: the backbone with its weights,
// frozen, its prefix on onnxruntime, each image decoded once, un-augmented, and average-pooled. The one
// place the audit gets features from, so that switching to the on-disk feature store is a change here.
import { collectFingerprints } from './fingerprint_store.js';
import { tf, initEngine } from '../../engines/tfjs/tf.js';
import { createFrozenEngine } from '../../engines/onnx/frozen_features.js';
import { buildClassifier } from '../../models/classifier.js';
import { ImageDataGenerator } from '../../data/image_data_generator.js';
import { preprocessInput } from '../../data/preprocess_input.js';
import { inputScalingFor, loadBackboneWeights } from '../../weights/resolve.js';
import type { ProgressCallback } from '../../core/progress.js';
import { FeatureIterator } from '../loop/feature_iterator.js';
import { pooledFeatures, type SplitFeatures } from '../probes/frozen_probe.js';
import { weightsChoice } from '../run/run_inputs.js';
import { getBackbone } from '../../models/zoo.js';
import { isOfflineSource, offlineInputSize } from '../../weights/offline.js';

export type { SplitFeatures };

export interface FolderFeaturesOptions {
  backbone: string;
  /** 'imagenet', 'none', an offline source or a .h5 path; default as `train` chooses. */
  weights?: string;
  inputSize?: number;
  alpha?: number;
  batchSize?: number;
  /** Class names in label order (the training folder's, for a validation folder). */
  classes?: string[];
  /** 'class/name' entries left out. */
  exclude?: readonly string[];
  onProgress?: ProgressCallback;
  onLog?: (message: string) => void;
  /**
   * Store the fingerprints of the files decoded (taken from this decode) in the fingerprint store under
   * this cache root (undefined: the default cache directory), for the duplicate search that follows.
   * Absent: none kept.
   */
  keepFingerprints?: { root?: string | false };
}

export interface FolderFeatures {
  backbone: string;
  classNames: string[];
  splits: SplitFeatures[];
  seconds: number;
}

/** Pooled features of each folder (the first one sets the classes) through one backbone. */
export async function folderFeatures(dirs: string[], options: FolderFeaturesOptions): Promise<FolderFeatures> {
  const started = performance.now();
  await initEngine();
  const log = options.onLog ?? (() => undefined);
  const id = getBackbone(options.backbone).id;
  const { weights, reason } = weightsChoice({ backbone: id, weights: options.weights, alpha: options.alpha, inputSize: options.inputSize });
  if (reason) log(`${id}: ${reason}`);
  const inputSize = options.inputSize ?? (isOfflineSource(weights) ? offlineInputSize(weights, id) : undefined) ?? getBackbone(id).defaultInputSize;
  const scaling = inputScalingFor(id, weights === 'none' ? null : weights);
  const generator = new ImageDataGenerator({
    preprocessingFunction: scaling.preprocess === 'none' ? null : preprocessInput(scaling.preprocess),
    rescale: scaling.rescale ?? null,
    onWarning: log,
  });
  const flow = { targetSize: [inputSize, inputSize] as [number, number], classMode: 'sparse' as const, batchSize: options.batchSize ?? 32, shuffle: false, onWarning: log, cacheBytes: 0 };
  const first = generator.flowFromDirectory(dirs[0], { ...flow, classes: options.classes, exclude: options.exclude });
  const classNames = first.classNames;
  const iterators = [first, ...dirs.slice(1).map((d) => generator.flowFromDirectory(d, { ...flow, classes: classNames }))];
  const fingerprints = options.keepFingerprints ? collectFingerprints(iterators) : undefined;
  const classifier = buildClassifier({
    backbone: id,
    backboneOptions: { inputShape: [inputSize, inputSize, 3], ...(options.alpha !== undefined ? { alpha: options.alpha } : {}) },
    classes: Math.max(2, classNames.length),
    classMode: 'sparse',
    freezeBackbone: true,
  });
  try {
    await loadBackboneWeights(classifier.backbone, id, weights === 'none' ? null : weights, { alpha: options.alpha });
    const engine = await createFrozenEngine(classifier.model, { frozenUpTo: classifier.backbone.outputs[0].sourceLayer.name });
    try {
      const splits: SplitFeatures[] = [];
      const total = iterators.reduce((a, it) => a + it.samples, 0);
      let done = 0;
      for (const iterator of iterators) {
        const progress = { features: async (x: tf.Tensor) => {
          const f = await engine.features(x);
          done += x.shape[0];
          options.onProgress?.({ task: `features ${id}`, current: done, total, unit: 'img' });
          return f;
        } };
        const rows = await pooledFeatures(new FeatureIterator(iterator, progress, { cache: false }));
        splits.push({ rows: rows.rows, labels: rows.labels, filepaths: Array.from(rows.indices, (i) => iterator.filepaths[i]) });
      }
      options.onProgress?.({ task: `features ${id}`, current: total, total, unit: 'img', done: true });
      await fingerprints?.save(options.keepFingerprints?.root);
      return { backbone: id, classNames, splits, seconds: (performance.now() - started) / 1000 };
    } finally {
      await engine.dispose();
      engine.head.dispose();
    }
  } finally {
    classifier.model.dispose();
    for (const it of iterators) await it.close();
  }
}
