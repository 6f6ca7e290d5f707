// evaluate / predict on the int8 model (`--quantize int8`): RUN/model.int8.onnx, checked to belong to
// the model folder's current weights, run on onnxruntime like the float32 export.
import type { tfl } from '../engines/tfjs/tf.js';
import type { InferenceEngine } from '../engines/inference_engine.js';
import { createOnnxPredictor, type OnnxPredictorOptions } from '../engines/onnx/predictor.js';
import { throughputOptions } from '../engines/onnx/session.js';
import { readQuantizedOnnx } from '../weights/quantized_onnx.js';
import { resolveModelDir } from '../weights/saved_model.js';

/** An inference engine (name 'onnx') running the int8 model of `runDir`; `model` is its float32 source. */
export async function openQuantizedEngine(runDir: string, model: tfl.LayersModel, options: { path?: string } = {}): Promise<InferenceEngine> {
  const bytes = await readQuantizedOnnx(resolveModelDir(runDir), options.path);
  const predictor = await createOnnxPredictor(model, throughputOptions<OnnxPredictorOptions>({ onnxModel: bytes }));
  return { name: 'onnx', predictor: (x) => predictor.predict(x), dispose: () => predictor.dispose() };
}
