// evaluate / predict on the int8 model (`--quantize int8`): RUN/model.int8.onnx, checked to belong to
// the model folder's current weights, run on onnxruntime like the float32 export.
import type { tfl } from '../engines/tfjs/tf.js';
import type { InferenceEngine } from '../engines/inference_engine.js';
import { createOnnxPredictor, type OnnxPredictorOptions } from '../engines/onnx/predictor.js';
import { throughputOptions } from '../engines/onnx/session.js';
import { readQuantizedOnnx } from '../weights/quantized_onnx.js';
import { resolveModelDir } from '../weights/saved_model.js';

/**
 * An inference engine (name 'onnx') running the int8 model of `runDir`; `model` is its float32 source.
 * `manyImages` as in openInferenceEngine.
 */
export async function openQuantizedEngine(runDir: string, model: tfl.LayersModel, options: { path?: string; manyImages?: boolean } = {}): Promise<InferenceEngine> {
  const bytes = await readQuantizedOnnx(resolveModelDir(runDir), options.path);
  const onnx: OnnxPredictorOptions = { onnxModel: bytes };
  const predictor = await createOnnxPredictor(model, options.manyImages ? throughputOptions(onnx) : onnx);
  return { name: 'onnx', predictor: (x) => predictor.predict(x), dispose: () => predictor.dispose() };
}
