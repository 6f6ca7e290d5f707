// Whole-model inference on onnxruntime-node, for `predict` and `evaluate`: the model is exported once,
// then batches run natively, in slices of `batchSize` (memory stays bounded, activations stay in cache).
// Given ONNX bytes (an int8 model), those run instead.
import { invalidArgument } from '../../core/errors.js';
import type { tf, tfl } from '../tfjs/tf.js';
import { exportOnnx } from './export.js';
import { createOnnxRunner, type OnnxOutput, type OnnxRunnerOptions } from './session.js';

export interface OnnxPredictorOptions extends OnnxRunnerOptions {
  /** Largest batch handed to onnxruntime at once (the runner's maxRunBatch). Default 8. */
  batchSize?: number;
  /**
   * Run these ONNX model bytes instead of exporting `model` (e.g. the int8 model quantizeOnnx made
   * from it); `model` then only has to be the model they were made from.
   */
  onnxModel?: Uint8Array;
}

export interface OnnxPredictor {
  /** The model's (first) output for a float32 batch, as a tf tensor the caller disposes. */
  predict(x: tf.Tensor): Promise<tf.Tensor>;
  /** Same on raw data: a float32 batch of `shape` (NHWC for images). */
  predictArray(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput>;
  onnxModel: Uint8Array;
  dispose(): Promise<void>;
}

export async function createOnnxPredictor(model: tfl.LayersModel, options: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
  const batchSize = options.batchSize ?? options.maxRunBatch;
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) throw invalidArgument('batchSize', batchSize, 'a positive integer');
  const onnxModel = options.onnxModel ?? (await exportOnnx(model));
  const runner = await createOnnxRunner(onnxModel, { ...options, maxRunBatch: batchSize });
  return {
    predict: (x) => runner.run(x),
    predictArray: (x, shape) => runner.run(x, shape),
    onnxModel,
    dispose: () => runner.dispose(),
  };
}
