// Port of keras.applications.xception. Read it side by side with keras/src/applications/xception.py.
//
// Keras names the main path ('block2_sepconv1', ...) but leaves the residual projections and the
// merges auto-named ('conv2d', 'batch_normalization', 'add', 'add_1', ...); one LayerNames per
// build reproduces those names in Keras's creation order. BatchNormalization keeps Keras's defaults
// (epsilon 1e-3, momentum 0.99), as Xception does.
import { tfl } from '../engines/tfjs/tf.js';
import { applyTopOrPooling, checkApplicationOptions } from './imagenet_utils.js';
import { LayerNames } from './naming.js';
import { registerBackbone } from './registry.js';
import { KERAS_APPLICATIONS_STORAGE, topOrNotop } from './weights_records.js';
import type { BackboneOptions } from './types.js';

type SymbolicTensor = tfl.SymbolicTensor;

const DEFAULT_SIZE = 299;
const MIN_SIZE = 71;
const MODEL_NAME = 'xception';

/** Keras `Xception`. Model name 'xception'. */
export function Xception(options: BackboneOptions = {}): tfl.LayersModel {
  const { includeTop, inputShape, activation } = checkApplicationOptions(options, { modelName: MODEL_NAME, defaultSize: DEFAULT_SIZE, minSize: MIN_SIZE });

  const names = new LayerNames();
  const batchNorm = (x: SymbolicTensor, name?: string) =>
    tfl.layers.batchNormalization({ axis: -1, name: name ?? names.auto('batch_normalization') }).apply(x) as SymbolicTensor;
  const relu = (x: SymbolicTensor, name: string) => tfl.layers.activation({ activation: 'relu', name }).apply(x) as SymbolicTensor;
  const sepConv = (x: SymbolicTensor, filters: number, name: string) =>
    tfl.layers.separableConv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name }).apply(x) as SymbolicTensor;
  const pool = (x: SymbolicTensor, name: string) =>
    tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name }).apply(x) as SymbolicTensor;
  const add = (inputs: SymbolicTensor[]) => tfl.layers.add({ name: names.auto('add') }).apply(inputs) as SymbolicTensor;
  // The strided 1x1 projection of an entry/exit block's shortcut; Keras leaves it unnamed.
  const residualProjection = (x: SymbolicTensor, filters: number) => {
    const residual = tfl.layers.conv2d({ filters, kernelSize: 1, strides: 2, padding: 'same', useBias: false, name: names.auto('conv2d') }).apply(x) as SymbolicTensor;
    return batchNorm(residual);
  };

  const imgInput = tfl.input({ shape: inputShape, name: names.auto('input_layer') });

  // Entry flow stem: two 'valid' 3x3 convolutions.
  let x = tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, useBias: false, name: 'block1_conv1' }).apply(imgInput) as SymbolicTensor;
  x = batchNorm(x, 'block1_conv1_bn');
  x = relu(x, 'block1_conv1_act');
  x = tfl.layers.conv2d({ filters: 64, kernelSize: 3, useBias: false, name: 'block1_conv2' }).apply(x) as SymbolicTensor;
  x = batchNorm(x, 'block1_conv2_bn');
  x = relu(x, 'block1_conv2_act');

  // Entry flow blocks 2-4. Block 2 follows the stem's ReLU, so it starts with the separable conv;
  // Keras names its only activation 'block2_sepconv2_act'.
  for (const [block, filters] of [[2, 128], [3, 256], [4, 728]] as const) {
    const residual = residualProjection(x, filters);
    if (block !== 2) x = relu(x, `block${block}_sepconv1_act`);
    x = sepConv(x, filters, `block${block}_sepconv1`);
    x = batchNorm(x, `block${block}_sepconv1_bn`);
    x = relu(x, `block${block}_sepconv2_act`);
    x = sepConv(x, filters, `block${block}_sepconv2`);
    x = batchNorm(x, `block${block}_sepconv2_bn`);
    x = pool(x, `block${block}_pool`);
    x = add([x, residual]);
  }

  // Middle flow: eight identity-shortcut blocks of three separable convolutions.
  for (let i = 0; i < 8; i++) {
    const residual = x;
    const prefix = `block${i + 5}`;
    for (let j = 1; j <= 3; j++) {
      x = relu(x, `${prefix}_sepconv${j}_act`);
      x = sepConv(x, 728, `${prefix}_sepconv${j}`);
      x = batchNorm(x, `${prefix}_sepconv${j}_bn`);
    }
    x = add([x, residual]);
  }

  // Exit flow.
  const residual = residualProjection(x, 1024);
  x = relu(x, 'block13_sepconv1_act');
  x = sepConv(x, 728, 'block13_sepconv1');
  x = batchNorm(x, 'block13_sepconv1_bn');
  x = relu(x, 'block13_sepconv2_act');
  x = sepConv(x, 1024, 'block13_sepconv2');
  x = batchNorm(x, 'block13_sepconv2_bn');
  x = pool(x, 'block13_pool');
  x = add([x, residual]);

  x = sepConv(x, 1536, 'block14_sepconv1');
  x = batchNorm(x, 'block14_sepconv1_bn');
  x = relu(x, 'block14_sepconv1_act');
  x = sepConv(x, 2048, 'block14_sepconv2');
  x = batchNorm(x, 'block14_sepconv2_bn');
  x = relu(x, 'block14_sepconv2_act');

  x = applyTopOrPooling(x, options, { includeTop, activation }, names);

  return tfl.model({ inputs: imgInput, outputs: x, name: MODEL_NAME });
}

registerBackbone({
  lastBlockInput: 'add_11',
  id: 'xception',
  kerasName: 'Xception',
  kerasModule: 'keras.applications.xception',
  description: 'Xception (Chollet 2017): depthwise-separable convolutions with residual links, 22.9M params, 299x299 input',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  preprocess: 'tf',
  // keras/src/applications/xception.py.
  weights: {
    imagenet: topOrNotop('xception', 'xception_weights_tf_dim_ordering_tf_kernels', { top: '0a58e3b7378bc2990ea3b43d5981f1f6', notop: 'b0042744bf5b25fce3cb969f33bebb97' }, `${KERAS_APPLICATIONS_STORAGE}xception/`, [299]),
  },
  build: Xception,
});
