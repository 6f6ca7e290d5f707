// Makes the wasm backend able to train convnets: registers the gradient kernels it lacks, and
// replaces the ones it has in a form too slow for training. Each kernel lives in kernels/<name>.ts
// and is tested against the cpu backend in test/engine/.
import type { KernelConfig } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterConfig } from './kernels/conv2d_backprop_filter.js';
import { conv2dBackpropInputConfig } from './kernels/conv2d_backprop_input.js';
import { depthwiseConv2dBackpropFilterConfig } from './kernels/depthwise_conv2d_backprop_filter.js';
import { depthwiseConv2dBackpropInputConfig } from './kernels/depthwise_conv2d_backprop_input.js';

/** The kernels tlkit provides for 'wasm', in registration order. */
export const trainingKernels: readonly KernelConfig[] = [
  // Missing from tfjs-backend-wasm 4.22 (tensorflow/tfjs#8474, #4326).
  conv2dBackpropFilterConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  // Present but a scalar triple loop; ours runs the product on XNNPACK.
  conv2dBackpropInputConfig,
];

/**
 * Registers `trainingKernels` for the wasm backend. Idempotent; replaces a kernel of the same name
 * (unregistering it first, so tfjs does not warn about the override).
 */
export function registerTrainingKernels(): string[] {
  const registered: string[] = [];
  for (const config of trainingKernels) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
    registered.push(config.kernelName);
  }
  return registered;
}
