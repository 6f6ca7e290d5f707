// `tlkit predict RUN IMAGE|DIR...` through the feature store: a model trained on a frozen backbone records
// where its frozen prefix ends (ModelMetadata.frozenPrefixEnd), and the prefix's features of every image a run
// or an evaluation of it saw are in the store (keyed by the file's identity and by how files become model
// input, which is the training run's decode for predict as for evaluate). Those images cost the trained
// part only; the others go through the prefix as `predict` decodes them. No features are written to the store
// here: what is stored comes from the training pipeline (flowFromDirectory), the one store writer.
import { createFrozenEngine, type FrozenEngine } from '../../engines/onnx/frozen_features.js';
import { createOnnxPredictor } from '../../engines/onnx/predictor.js';
import { throughputOptions } from '../../engines/onnx/session.js';
import { tf, type tfl } from '../../engines/tfjs/tf.js';
import { invalidArgument } from '../../core/errors.js';
import type { ProgressCallback } from '../../core/progress.js';
import { evaluationPixels } from '../../inference/evaluation_data.js';
import { listImageFiles, loadBatchForModel, predictionsFromOutput, predictionsInOrder, reportPredictProgress, type Prediction } from '../../inference/predict.js';
import type { ModelMetadata } from '../../weights/saved_model.js';
import type { FeatureCounts } from '../loop/feature_iterator.js';
import { RunFeatureStores, type FeatureStoreSettings } from './run_feature_stores.js';

export interface PredictFromStoreOptions extends FeatureStoreSettings {
  /** Classes listed per image, most probable first (default 5). */
  topK?: number;
  /** Images per batch (default 16). */
  batchSize?: number;
  onProgress?: ProgressCallback;
  /**
   * Many images to compute: the prefix runs as one single-thread onnxruntime session per thread
   * (throughputOptions, as `tlkit predict` runs whole models). Default false: one session.
   */
  manyImages?: boolean;
}

export interface StorePredictions {
  /** Predictions in file order, batch by batch (an unreadable file: an entry with its error). */
  predictions: AsyncGenerator<Prediction>;
  /** After `predictions` is done: `features: N from the store, M computed (...)`. */
  describe(): Promise<string | undefined>;
}

/**
 * Predictions of a saved model for image files (and directories of them), reading its frozen prefix's
 * features from the feature store. Undefined when the model records no frozen prefix, the store is off,
 * its input cannot be described for the store, or its prefix or trained part cannot run on onnxruntime (then predict
 * with the whole model). The generator releases everything when it ends, or when the caller stops early
 * with `return` after starting it: iterate it.
 */
export async function predictFromStore(model: tfl.LayersModel, metadata: ModelMetadata, paths: string[], options: PredictFromStoreOptions = {}): Promise<StorePredictions | undefined> {
  const endsAt = metadata.frozenPrefixEnd;
  if (typeof endsAt !== 'string' || !model.layers.some((l) => l.name === endsAt)) return undefined;
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArgument('batchSize', options.batchSize, 'an integer >= 1');
  const featureStores = new RunFeatureStores(options, { backbone: metadata.backbone });
  const pixels = evaluationPixels(metadata);
  if (featureStores.root === false || !pixels) return undefined;
  const files = await listImageFiles(paths);
  let frozen: FrozenEngine;
  try {
    frozen = await createFrozenEngine(model, { frozenUpTo: endsAt, ...(options.manyImages ? throughputOptions() : {}) });
  } catch {
    // A prefix onnxruntime cannot run: the whole model predicts (on tfjs where the engine choice allows).
    await featureStores.close();
    return undefined;
  }
  let stores;
  try {
    stores = await featureStores.forFiles(files, pixels, frozen);
  } catch (error) {
    await release(frozen, featureStores);
    throw error;
  }
  if (!stores) {
    await release(frozen, featureStores);
    return undefined;
  }
  // The trained part on onnxruntime, as evaluate runs it; a head it cannot export leaves predict to the whole model.
  let predictor: Awaited<ReturnType<typeof createOnnxPredictor>>;
  try {
    predictor = await createOnnxPredictor(frozen.head, { batchSize: 32 });
  } catch {
    await release(frozen, featureStores);
    return undefined;
  }
  const counts: FeatureCounts = { fromStore: 0, computed: 0, computeSeconds: 0 };
  featureStores.track(counts);
  const { stores: [store], keyOf } = stores;
  let described: string | undefined;

  async function* predictions(): AsyncGenerator<Prediction> {
    const [h, w] = metadata.inputSize;
    const rowShape = frozen.boundaries[0].shape;
    const rowSize = rowShape.reduce((a, b) => a * b, 1);
    try {
      for (let start = 0; start < files.length; start += batchSize) {
        const chunk = files.slice(start, start + batchSize);
        const rows: (Float32Array | undefined)[] = await Promise.all(chunk.map(async (_, i) => {
          const key = keyOf(start + i);
          return key === undefined ? undefined : store.get(key);
        }));
        const missing = chunk.flatMap((_, i) => (rows[i] ? [] : [i]));
        const { loaded, data: pixelsOfMissing, errors: missingErrors } = await loadBatchForModel(missing.map((i) => chunk[i]), metadata);
        const errors = new Map([...missingErrors].map(([k, reason]) => [missing[k], reason]));
        if (loaded.length > 0) {
          const started = performance.now();
          const out = await frozen.featuresOf(pixelsOfMissing, [loaded.length, h, w, 3]);
          counts.computeSeconds += (performance.now() - started) / 1000;
          counts.computed += loaded.length;
          loaded.forEach((k, j) => (rows[missing[k]] = out.data.subarray(j * rowSize, (j + 1) * rowSize)));
        }
        counts.fromStore += chunk.length - missing.length;
        const present = chunk.flatMap((_, i) => (rows[i] ? [i] : []));
        const byIndex = new Map<number, Prediction>();
        if (present.length > 0) {
          const data = new Float32Array(present.length * rowSize);
          present.forEach((i, k) => data.set(rows[i]!, k * rowSize));
          const x = tf.tensor(data, [present.length, ...rowShape]);
          let output: tf.Tensor | undefined;
          try {
            output = await predictor.predict(x);
            predictionsFromOutput(output, metadata.classNames, options.topK).forEach((p, k) => byIndex.set(present[k], p));
          } finally {
            tf.dispose([x, output as tf.Tensor]);
          }
        }
        yield* predictionsInOrder(chunk, byIndex, errors);
        reportPredictProgress(options.onProgress, start + chunk.length, files.length);
      }
      described = await featureStores.describe();
    } finally {
      await predictor.dispose();
      await release(frozen, featureStores);
    }
  }

  return { predictions: predictions(), describe: async () => described };
}

async function release(frozen: FrozenEngine, featureStores: RunFeatureStores): Promise<void> {
  await frozen.dispose();
  frozen.head.dispose();
  await featureStores.close();
}
