// Makes the wasm backend able to train convnets, fast: registers the gradient kernels it lacks,
// replaces the ones it has in a form too slow for training, swaps tfjs's gradients of a few ops
// (FusedBatchNorm, clipping activations) for one-pass kernels on wasm, routes BatchNormalization in
// training mode and ReLU(6) layers to single ops (batch_norm_layer.ts, fast_relu6.ts), and frees
// intermediate gradients as soon as backprop has used them (early_gradient_release.ts). Each kernel
// lives in kernels/<name>.ts and is tested against the cpu backend in test/engines/tfjs/; bench/train.ts
// measures the whole.
import type { GradConfig, KernelConfig } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { installEarlyGradientRelease } from './early_gradient_release.js';
import { installBatchNormLayer } from './batch_norm_layer.js';
import { installFastRelu6Layer } from './fast_relu6.js';
import { batchNormBackwardConfig, fusedBatchNormGradConfig } from './kernels/batch_norm_grad.js';
import { batchNormNormalizeConfig, batchNormStatsConfig, batchNormTrainingBackwardConfig } from './kernels/batch_norm_training.js';
import { conv2dBackpropFilterConfig } from './kernels/conv2d_backprop_filter.js';
import { conv2dBackpropInputConfig } from './kernels/conv2d_backprop_input.js';
import { depthwiseConv2dBackpropFilterConfig } from './kernels/depthwise_conv2d_backprop_filter.js';
import { depthwiseConv2dBackpropInputConfig } from './kernels/depthwise_conv2d_backprop_input.js';
import { identityConfig } from './kernels/identity.js';
import { sliceConfig } from './kernels/slice.js';
import { clipByValueGradConfig, intervalMaskGradConfig, relu6GradConfig, reluGradConfig } from './kernels/mask_grad.js';

/** The kernels tlkit provides for 'wasm', in registration order. */
export const trainingKernels: readonly KernelConfig[] = [
  // Missing from tfjs-backend-wasm 4.22 (tensorflow/tfjs#8474, #4326).
  conv2dBackpropFilterConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  // Present but a scalar triple loop; ours runs the product on XNNPACK.
  conv2dBackpropInputConfig,
  // tlkit's own kernels behind the gradients below.
  batchNormBackwardConfig,
  intervalMaskGradConfig,
  batchNormStatsConfig,
  batchNormNormalizeConfig,
  batchNormTrainingBackwardConfig,
];

/** Backend kernels replaced by versions built around them (the original handles what ours does not). */
const kernelReplacements: readonly [string, (original: KernelConfig | undefined) => KernelConfig][] = [
  // Share memory instead of copying: every tensor a custom gradient saves is cloned.
  ['Identity', identityConfig],
  // Heap-to-heap copies instead of a copy of the whole input to JS and a subarray per row.
  ['Slice', sliceConfig],
];
const installedKernels = new Map<string, KernelConfig>();

/**
 * Gradient replacements: each wraps tfjs's gradient, uses a tlkit kernel when the active backend is
 * wasm, and falls back to tfjs's own otherwise (so the cpu backend computes exactly what it did).
 */
const gradientReplacements: readonly [string, (original: GradConfig) => GradConfig][] = [
  ['FusedBatchNorm', fusedBatchNormGradConfig],
  ['ClipByValue', clipByValueGradConfig],
  ['Relu', reluGradConfig],
  ['Relu6', relu6GradConfig],
];

const installedGradients = new Map<string, GradConfig>();

/**
 * Registers `trainingKernels` for the wasm backend, the kernel and gradient replacements, and installs
 * the layer fast paths and the early gradient release. tf.ts calls it on import, before any backend starts.
 * Idempotent; replaces a kernel of the same name (unregistering it first, so tfjs does not warn about
 * the override). Returns the names it registered on this call.
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
  for (const [kernelName, replace] of kernelReplacements) {
    const current = tf.getKernel(kernelName, 'wasm');
    const mine = installedKernels.get(kernelName);
    if (current !== undefined && current.kernelFunc === mine?.kernelFunc) continue;
    const replacement = replace(current);
    if (current !== undefined) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(replacement);
    installedKernels.set(kernelName, replacement);
    registered.push(kernelName);
  }
  for (const [kernelName, replace] of gradientReplacements) {
    const current = tf.getGradient(kernelName);
    if (current !== undefined && current === installedGradients.get(kernelName)) continue;
    const replacement = replace(current);
    tf.registerGradient(replacement);
    installedGradients.set(kernelName, replacement);
    registered.push(`${kernelName} gradient`);
  }
  installBatchNormLayer();
  installFastRelu6Layer();
  installEarlyGradientRelease();
  return registered;
}
