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
import type { BatchIterator } from '../../data/batch.js';
import { evaluationPixels } from '../../inference/evaluation_data.js';
import { listImageFiles, loadImageForModel, predictionsFromOutput, type Prediction } from '../../inference/predict.js';
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
  // The store lookup needs only what a deterministic iterator over these files would describe.
  const view: BatchIterator & { isDeterministic(): boolean; describePixels(): Record<string, unknown> } = {
    length: 0,
    filepaths: files,
    isDeterministic: () => true,
    describePixels: () => pixels,
    next: () => Promise.reject(new Error('internal: the store view of predict yields no batches')),
    reset: () => undefined,
  };
  let stores;
  try {
    stores = await featureStores.forIterator(view, frozen);
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
        const errors = new Map<number, string>();
        const missing = chunk.flatMap((_, i) => (rows[i] ? [] : [i]));
        if (missing.length > 0) {
          const loaded = await Promise.all(missing.map((i) => loadImageForModel(chunk[i], metadata).then((data) => ({ i, data }), (error: unknown) => ({ i, error: error instanceof Error ? error.message : String(error) }))));
          const good = loaded.filter((l): l is { i: number; data: Float32Array } => 'data' in l);
          for (const l of loaded) if ('error' in l) errors.set(l.i, l.error);
          if (good.length > 0) {
            const x = new Float32Array(good.length * h * w * 3);
            good.forEach((g, k) => x.set(g.data, k * h * w * 3));
            const started = performance.now();
            const out = await frozen.featuresOf(x, [good.length, h, w, 3]);
            counts.computeSeconds += (performance.now() - started) / 1000;
            counts.computed += good.length;
            good.forEach((g, k) => (rows[g.i] = out.data.subarray(k * rowSize, (k + 1) * rowSize)));
          }
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
        for (const [i, file] of chunk.entries()) yield { file, ...(byIndex.get(i) ?? { top: [], error: errors.get(i) ?? 'no prediction' }) };
        options.onProgress?.({ task: 'predict', current: Math.min(files.length, start + batchSize), total: files.length, unit: 'img', done: start + batchSize >= files.length });
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
