// Whole-model inference on onnxruntime-node, for `predict` and `evaluate`: the model is exported once,
// then batches run natively. Large inputs are cut into chunks of `batchSize` so memory stays bounded.
import { invalidArgument } from '../../errors.js';
import { tf, type tfl } from '../tfjs/tf.js';
import { exportOnnx } from './export.js';
import { createOnnxRunner, type OnnxOutput, type OnnxRunnerOptions } from './session.js';

export interface OnnxPredictorOptions extends OnnxRunnerOptions {
  /** Largest batch handed to onnxruntime at once. Default 32. */
  batchSize?: number;
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
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArgument('batchSize', batchSize, 'a positive integer');
  const onnxModel = await exportOnnx(model);
  const runner = await createOnnxRunner(onnxModel, options);

  async function predictArray(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput> {
    const n = shape[0];
    if (n <= batchSize) return runner.run(x, shape);
    const rowSize = x.length / n;
    const parts: OnnxOutput[] = [];
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      // subarray: a view, not a copy; onnxruntime reads it in place.
      parts.push(await runner.run(x.subarray(start * rowSize, (start + count) * rowSize), [count, ...shape.slice(1)]));
    }
    const total = parts.reduce((sum, p) => sum + p.data.length, 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const p of parts) {
      data.set(p.data, offset);
      offset += p.data.length;
    }
    return { data, shape: [n, ...parts[0].shape.slice(1)] };
  }

  return {
    async predict(x) {
      if (x.dtype !== 'float32') throw invalidArgument('x.dtype', x.dtype, "'float32'");
      const out = await predictArray((await x.data()) as Float32Array, x.shape);
      return tf.tensor(out.data, out.shape, 'float32');
    },
    predictArray,
    onnxModel,
    dispose: () => runner.dispose(),
  };
}
