// Port of keras.applications.inception_v3. Read it side by side with keras/src/applications/inception_v3.py.
//
// Keras names only the 'mixedN' concatenations (and the top); every Conv2D, BatchNormalization,
// Activation and pooling layer is auto-named ('conv2d', 'conv2d_1', ..., 'batch_normalization_93').
// Those names come from one LayerNames per build, asked in exactly Keras's creation order, so the
// names match a fresh Keras session and legacy .h5 weights, which are matched by order, line up.
import { tfl } from '../engines/tfjs/tf.js';
import { applyTopOrPooling, checkApplicationOptions } from './imagenet_utils.js';
import { LayerNames } from './naming.js';
import { registerBackbone } from './registry.js';
import { KERAS_APPLICATIONS_STORAGE, NSFWJS_INPUT, NSFWJS_SOURCE, topOrNotop } from './weights_records.js';
import type { BackboneOptions } from './types.js';

type SymbolicTensor = tfl.SymbolicTensor;

const DEFAULT_SIZE = 299;
const MIN_SIZE = 75;
const CHANNEL_AXIS = 3;
const MODEL_NAME = 'inception_v3';

/** Keras `InceptionV3`. Model name 'inception_v3'. */
export function InceptionV3(options: BackboneOptions = {}): tfl.LayersModel {
  const { includeTop, inputShape, activation } = checkApplicationOptions(options, { modelName: MODEL_NAME, defaultSize: DEFAULT_SIZE, minSize: MIN_SIZE });

  const names = new LayerNames();
  const convBn = (x: SymbolicTensor, filters: number, numRow: number, numCol: number, opts: ConvBnOptions = {}) =>
    conv2dBn(names, x, filters, numRow, numCol, opts);
  const maxPool = (x: SymbolicTensor) =>
    tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: names.auto('max_pooling2d') }).apply(x) as SymbolicTensor;
  const avgPool = (x: SymbolicTensor) =>
    tfl.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: names.auto('average_pooling2d') }).apply(x) as SymbolicTensor;
  // Keras's `layers.concatenate` without a name is auto-named 'concatenate', 'concatenate_1', ...
  const concat = (inputs: SymbolicTensor[], name?: string) =>
    tfl.layers.concatenate({ axis: CHANNEL_AXIS, name: name ?? names.auto('concatenate') }).apply(inputs) as SymbolicTensor;

  const imgInput = tfl.input({ shape: inputShape, name: names.auto('input_layer') });

  let x = convBn(imgInput, 32, 3, 3, { strides: 2, padding: 'valid' });
  x = convBn(x, 32, 3, 3, { padding: 'valid' });
  x = convBn(x, 64, 3, 3);
  x = maxPool(x);

  x = convBn(x, 80, 1, 1, { padding: 'valid' });
  x = convBn(x, 192, 3, 3, { padding: 'valid' });
  x = maxPool(x);

  // mixed 0, 1, 2: 35 x 35 x 256 / 288 / 288; only the pool branch's width changes.
  for (const [i, poolFilters] of [32, 64, 64].entries()) {
    const branch1x1 = convBn(x, 64, 1, 1);

    let branch5x5 = convBn(x, 48, 1, 1);
    branch5x5 = convBn(branch5x5, 64, 5, 5);

    let branch3x3dbl = convBn(x, 64, 1, 1);
    branch3x3dbl = convBn(branch3x3dbl, 96, 3, 3);
    branch3x3dbl = convBn(branch3x3dbl, 96, 3, 3);

    let branchPool = avgPool(x);
    branchPool = convBn(branchPool, poolFilters, 1, 1);
    x = concat([branch1x1, branch5x5, branch3x3dbl, branchPool], `mixed${i}`);
  }

  // mixed 3: 17 x 17 x 768
  {
    const branch3x3 = convBn(x, 384, 3, 3, { strides: 2, padding: 'valid' });

    let branch3x3dbl = convBn(x, 64, 1, 1);
    branch3x3dbl = convBn(branch3x3dbl, 96, 3, 3);
    branch3x3dbl = convBn(branch3x3dbl, 96, 3, 3, { strides: 2, padding: 'valid' });

    const branchPool = maxPool(x);
    x = concat([branch3x3, branch3x3dbl, branchPool], 'mixed3');
  }

  // mixed 4, 5, 6, 7: 17 x 17 x 768; the 7x7 branches' inner width grows 128 -> 160 -> 160 -> 192.
  for (const [i, width] of [128, 160, 160, 192].entries()) {
    const branch1x1 = convBn(x, 192, 1, 1);

    let branch7x7 = convBn(x, width, 1, 1);
    branch7x7 = convBn(branch7x7, width, 1, 7);
    branch7x7 = convBn(branch7x7, 192, 7, 1);

    let branch7x7dbl = convBn(x, width, 1, 1);
    branch7x7dbl = convBn(branch7x7dbl, width, 7, 1);
    branch7x7dbl = convBn(branch7x7dbl, width, 1, 7);
    branch7x7dbl = convBn(branch7x7dbl, width, 7, 1);
    branch7x7dbl = convBn(branch7x7dbl, 192, 1, 7);

    let branchPool = avgPool(x);
    branchPool = convBn(branchPool, 192, 1, 1);
    x = concat([branch1x1, branch7x7, branch7x7dbl, branchPool], `mixed${4 + i}`);
  }

  // mixed 8: 8 x 8 x 1280
  {
    let branch3x3 = convBn(x, 192, 1, 1);
    branch3x3 = convBn(branch3x3, 320, 3, 3, { strides: 2, padding: 'valid' });

    let branch7x7x3 = convBn(x, 192, 1, 1);
    branch7x7x3 = convBn(branch7x7x3, 192, 1, 7);
    branch7x7x3 = convBn(branch7x7x3, 192, 7, 1);
    branch7x7x3 = convBn(branch7x7x3, 192, 3, 3, { strides: 2, padding: 'valid' });

    const branchPool = maxPool(x);
    x = concat([branch3x3, branch7x7x3, branchPool], 'mixed8');
  }

  // mixed 9, 10: 8 x 8 x 2048
  for (let i = 0; i < 2; i++) {
    const branch1x1 = convBn(x, 320, 1, 1);

    let branch3x3 = convBn(x, 384, 1, 1);
    const branch3x3a = convBn(branch3x3, 384, 1, 3);
    const branch3x3b = convBn(branch3x3, 384, 3, 1);
    branch3x3 = concat([branch3x3a, branch3x3b], `mixed9_${i}`);

    let branch3x3dbl = convBn(x, 448, 1, 1);
    branch3x3dbl = convBn(branch3x3dbl, 384, 3, 3);
    const branch3x3dblA = convBn(branch3x3dbl, 384, 1, 3);
    const branch3x3dblB = convBn(branch3x3dbl, 384, 3, 1);
    branch3x3dbl = concat([branch3x3dblA, branch3x3dblB]);

    let branchPool = avgPool(x);
    branchPool = convBn(branchPool, 192, 1, 1);
    x = concat([branch1x1, branch3x3, branch3x3dbl, branchPool], `mixed${9 + i}`);
  }

  x = applyTopOrPooling(x, options, { includeTop, activation }, names);

  return tfl.model({ inputs: imgInput, outputs: x, name: MODEL_NAME });
}

interface ConvBnOptions {
  padding?: 'valid' | 'same';
  strides?: number;
}

// Keras's `conv2d_bn` with name=None, as InceptionV3 always calls it: a bias-free Conv2D, a
// BatchNormalization without gamma (scale=False: the ReLU after it makes a scale redundant; Keras
// defaults epsilon 1e-3, momentum 0.99), then ReLU. Created in this order, so named in this order.
function conv2dBn(
  names: LayerNames,
  x: SymbolicTensor,
  filters: number,
  numRow: number,
  numCol: number,
  { padding = 'same', strides = 1 }: ConvBnOptions,
): SymbolicTensor {
  x = tfl.layers.conv2d({ filters, kernelSize: [numRow, numCol], strides, padding, useBias: false, name: names.auto('conv2d') }).apply(x) as SymbolicTensor;
  x = tfl.layers.batchNormalization({ axis: CHANNEL_AXIS, scale: false, name: names.auto('batch_normalization') }).apply(x) as SymbolicTensor;
  return tfl.layers.activation({ activation: 'relu', name: names.auto('activation') }).apply(x) as SymbolicTensor;
}

registerBackbone({
  lastBlockInput: 'mixed9',
  id: 'inception_v3',
  kerasName: 'InceptionV3',
  kerasModule: 'keras.applications.inception_v3',
  description: 'InceptionV3 (Szegedy et al. 2015): factorised inception modules, 23.9M params, 299x299 input',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  preprocess: 'tf',
  weights: {
    // keras/src/applications/inception_v3.py.
    imagenet: topOrNotop('inception_v3', 'inception_v3_weights_tf_dim_ordering_tf_kernels', { top: '9a0d58056eeedaa3f26cb7ebd46da564', notop: 'bcbd6486424b2319ff4ef7d526e38f63' }, `${KERAS_APPLICATIONS_STORAGE}inception_v3/`, [299]),
    // nsfwjs@4's InceptionV3 is auto-named ('conv2d_1' in Keras 2.2.4, 'conv2d' today): loaded by topological order.
    offline: [{ source: NSFWJS_SOURCE, variant: 'inception_v3', inputSize: 299, lastBackboneLayer: 'mixed10', byName: false, input: NSFWJS_INPUT }],
  },
  build: InceptionV3,
});
