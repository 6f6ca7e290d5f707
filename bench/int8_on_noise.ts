// The int8 model the speed benches measure: what `tlkit export --quantize int8` writes when its accuracy check
// passes (quantizeOnnx's defaults, the first convolution quantized too), calibrated on 16 images of fixed
// noise in [-1, 1]. Speed does not depend on what the ranges are, so no images are needed.
import { quantizeOnnx, type QuantizeOnnxOptions } from '../src/engines/onnx/quantize.js';

/** The float model `floatBytes` (NHWC input of `size` x `size` x 3) quantized to int8. */
export async function int8OnNoise(floatBytes: Uint8Array, size: number, options: Omit<QuantizeOnnxOptions, 'calibration'> = {}) {
  const calibration = [0, 1, 2, 3].map((b) => ({
    data: new Float32Array(4 * size * size * 3).map((_, i) => (((i + b * 7) * 2654435761) >>> 24) / 127.5 - 1),
    shape: [4, size, size, 3],
  }));
  return quantizeOnnx(floatBytes, { quantizeFirstConv: true, ...options, calibration });
}
