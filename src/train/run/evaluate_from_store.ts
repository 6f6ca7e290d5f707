// `tlkit evaluate RUN DIR` through the feature store. A run saves where its last phase's frozen prefix
// ended (ModelMetadata.frozenPrefixEnd): those layers kept the weights the run started from, so their
// features of the images the run saw are already in the store (a held-out folder evaluated again after
// a compare costs no backbone pass). The prefix's fingerprint is computed from the saved model's own
// weights, so a model whose prefix differs (other weights, other input size) simply finds nothing and
// computes, exactly as a run does; the trained part runs on onnxruntime.
import { createFrozenEngine } from '../../engines/onnx/frozen_features.js';
import { createOnnxPredictor } from '../../engines/onnx/predictor.js';
import type { tfl } from '../../engines/tfjs/tf.js';
import type { ProgressCallback } from '../../core/progress.js';
import type { BatchIterator } from '../../data/batch.js';
import { evaluate, type Evaluation } from '../../inference/evaluate.js';
import type { ModelMetadata } from '../../weights/saved_model.js';
import { FeatureIterator } from '../loop/feature_iterator.js';
import { RunFeatureStores, type FeatureStoreSettings } from './run_feature_stores.js';

export interface StoreEvaluation {
  evaluation: Evaluation;
  /** The `features: N from the store, M computed (...)` line. */
  features?: string;
}

/**
 * Evaluates a saved model on `data` reading its frozen prefix's features from the feature store (and
 * writing those it computes). Undefined when the model records no frozen prefix or `data` cannot be
 * stored (augmented, custom preprocessing): evaluate the whole model instead.
 */
export async function evaluateFromStore(
  model: tfl.LayersModel,
  metadata: ModelMetadata,
  data: BatchIterator,
  options: FeatureStoreSettings & { onProgress?: ProgressCallback; signal?: AbortSignal } = {},
): Promise<StoreEvaluation | undefined> {
  const endsAt = metadata.frozenPrefixEnd;
  if (typeof endsAt !== 'string' || !model.layers.some((l) => l.name === endsAt)) return undefined;
  const frozen = await createFrozenEngine(model, { frozenUpTo: endsAt });
  const featureStores = new RunFeatureStores(options, { backbone: metadata.backbone });
  try {
    const stores = await featureStores.forIterator(data, frozen);
    if (!stores) return undefined;
    const features = new FeatureIterator(data, frozen, { cache: true, stores });
    featureStores.track(features.counts);
    const predictor = await createOnnxPredictor(frozen.head, { batchSize: 32 });
    try {
      const evaluation = await evaluate(frozen.head, features, { classNames: metadata.classNames, onProgress: options.onProgress, signal: options.signal, predictor: predictor.predict });
      return { evaluation, features: await featureStores.describe() };
    } finally {
      await predictor.dispose();
    }
  } finally {
    await frozen.dispose();
    frozen.head.dispose();
    await featureStores.close();
  }
}
