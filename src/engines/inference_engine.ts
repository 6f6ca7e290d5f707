// What runs a trained model for evaluate / predict: onnxruntime (the whole model exported once,
// several times faster than tfjs on wasm) when the choice allows it (engine_decision.ts's runtimeFor)
// and the model exports, tfjs otherwise.
import type { tf, tfl } from './tfjs/tf.js';
import { createOnnxPredictor } from './onnx/predictor.js';
import { throughputOptions } from './onnx/session.js';
import type { EngineChoice } from '../core/names.js';
import { runtimeFor } from './engine_decision.js';

export interface InferenceEngine {
  name: 'onnx' | 'tfjs';
  /** undefined means: run the model in tfjs. */
  predictor?: (x: tf.Tensor) => Promise<tf.Tensor>;
  /** Why 'auto' fell back to tfjs, when it did. */
  note?: string;
  dispose(): Promise<void>;
}

/**
 * `options.manyImages`: run the whole model as one single-thread session per core (throughputOptions: more
 * images a second; each extra session holds its own copy of the model, ~300 MB for inception_v3). For
 * `tlkit predict` / `evaluate` over folders; a few images (explain, a report) keep one session.
 */
export async function openInferenceEngine(model: tfl.LayersModel, choice: EngineChoice = 'auto', options: { manyImages?: boolean } = {}): Promise<InferenceEngine> {
  const { runtime, fallbackToTfjs } = runtimeFor(choice);
  if (runtime === 'tfjs') return { name: 'tfjs', dispose: async () => undefined };
  try {
    const predictor = await createOnnxPredictor(model, options.manyImages ? throughputOptions() : {});
    return { name: 'onnx', predictor: (x) => predictor.predict(x), dispose: () => predictor.dispose() };
  } catch (error) {
    if (!fallbackToTfjs) throw error;
    return { name: 'tfjs', note: `onnxruntime cannot run this model (${error instanceof Error ? error.message : String(error)}); using tfjs`, dispose: async () => undefined };
  }
}
