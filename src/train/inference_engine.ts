// Which engine runs a trained model for evaluate / predict: onnxruntime (the whole model exported
// once, several times faster than tfjs on wasm) when it can, tfjs otherwise.
import type { tf, tfl } from '../engines/tfjs/tf.js';
import { createOnnxPredictor } from '../engines/onnx/predictor.js';
import { UsageError } from '../core/errors.js';

export type InferenceEngineChoice = 'auto' | 'tfjs' | 'onnx';

export interface InferenceEngine {
  name: 'onnx' | 'tfjs';
  /** undefined means: run the model in tfjs. */
  predictor?: (x: tf.Tensor) => Promise<tf.Tensor>;
  /** Why 'auto' fell back to tfjs, when it did. */
  note?: string;
  dispose(): Promise<void>;
}

export async function openInferenceEngine(model: tfl.LayersModel, choice: InferenceEngineChoice = 'auto'): Promise<InferenceEngine> {
  if (!['auto', 'tfjs', 'onnx'].includes(choice)) throw new UsageError(`engine expects auto, tfjs or onnx; got '${choice}'`, 'engine');
  if (choice === 'tfjs') return { name: 'tfjs', dispose: async () => undefined };
  try {
    const predictor = await createOnnxPredictor(model);
    return { name: 'onnx', predictor: (x) => predictor.predict(x), dispose: () => predictor.dispose() };
  } catch (error) {
    if (choice === 'onnx') throw error;
    return { name: 'tfjs', note: `onnxruntime cannot run this model (${error instanceof Error ? error.message : String(error)}); using tfjs`, dispose: async () => undefined };
  }
}
