// Port of keras.applications.resnet (ResNet v1): a private family builder, the residual block helpers,
// and one short public builder per variant. Read it side by side with keras/src/applications/resnet.py.
import { tfl } from '../engines/tfjs/tf.js';
import { checkApplicationOptions } from './imagenet_utils.js';
import { LayerNames } from './naming.js';
import { registerBackbone } from './registry.js';
import { KERAS_APPLICATIONS_STORAGE, topOrNotop } from './weights_records.js';
import type { BackboneOptions } from './types.js';

type SymbolicTensor = tfl.SymbolicTensor;

// Keras's ResNet BatchNormalization epsilon (momentum stays at the 0.99 default).
const BN_EPSILON = 1.001e-5;
const BN_AXIS = 3;

const DEFAULT_SIZE = 224;
const MIN_SIZE = 32;

/** Builds the stacked residual blocks between the stem and the top. */
type StackFn = (x: SymbolicTensor) => SymbolicTensor;

interface ResNetConfig {
  stackFn: StackFn;
  useBias: boolean;
  /** Keras model name, e.g. 'resnet50'. */
  name: string;
}

// Keras's `ResNet(stack_fn, preact, use_bias, ...)` for the v1 (post-activation) variants.
function ResNet(config: ResNetConfig, options: BackboneOptions): tfl.LayersModel {
  const { stackFn, useBias, name } = config;
  // Only the input is auto-named in Keras's ResNet; a per-model LayerNames keeps it 'input_layer'.
  const names = new LayerNames();
  const { includeTop, inputShape, activation } = checkApplicationOptions(options, { modelName: name, defaultSize: DEFAULT_SIZE, minSize: MIN_SIZE });

  const imgInput = tfl.input({ shape: inputShape, name: names.auto('input_layer') });

  let x = tfl.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }).apply(imgInput) as SymbolicTensor;
  x = conv(x, 64, 7, { strides: 2, useBias, name: 'conv1_conv' });
  x = batchNorm(x, 'conv1_bn');
  x = relu(x, 'conv1_relu');

  x = tfl.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }).apply(x) as SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }).apply(x) as SymbolicTensor;

  x = stackFn(x);

  if (includeTop) {
    x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as SymbolicTensor;
    x = tfl.layers.dense({ units: options.classes ?? 1000, activation, name: 'predictions' }).apply(x) as SymbolicTensor;
  } else if (options.pooling === 'avg') {
    x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as SymbolicTensor;
  } else if (options.pooling === 'max') {
    x = tfl.layers.globalMaxPooling2d({ name: 'max_pool' }).apply(x) as SymbolicTensor;
  }

  return tfl.model({ inputs: imgInput, outputs: x, name });
}

// Keras's `residual_block_v1`: a 1x1 -> kxk -> 1x1 bottleneck plus a shortcut (a strided 1x1
// projection when the shape changes, identity otherwise), every conv with a bias.
function residualBlockV1(
  x: SymbolicTensor,
  filters: number,
  name: string,
  { kernelSize = 3, stride = 1, convShortcut = true }: { kernelSize?: number; stride?: number; convShortcut?: boolean } = {},
): SymbolicTensor {
  let shortcut = x;
  if (convShortcut) {
    shortcut = conv(x, 4 * filters, 1, { strides: stride, name: `${name}_0_conv` });
    shortcut = batchNorm(shortcut, `${name}_0_bn`);
  }

  x = conv(x, filters, 1, { strides: stride, name: `${name}_1_conv` });
  x = batchNorm(x, `${name}_1_bn`);
  x = relu(x, `${name}_1_relu`);

  x = conv(x, filters, kernelSize, { padding: 'same', name: `${name}_2_conv` });
  x = batchNorm(x, `${name}_2_bn`);
  x = relu(x, `${name}_2_relu`);

  x = conv(x, 4 * filters, 1, { name: `${name}_3_conv` });
  x = batchNorm(x, `${name}_3_bn`);

  x = tfl.layers.add({ name: `${name}_add` }).apply([shortcut, x]) as SymbolicTensor;
  return relu(x, `${name}_out`);
}

// Keras's `stack_residual_blocks_v1`: the first block projects (and strides), the others are identity blocks.
function stackResidualBlocksV1(x: SymbolicTensor, filters: number, blocks: number, name: string, stride1 = 2): SymbolicTensor {
  x = residualBlockV1(x, filters, `${name}_block1`, { stride: stride1 });
  for (let i = 2; i <= blocks; i++) {
    x = residualBlockV1(x, filters, `${name}_block${i}`, { convShortcut: false });
  }
  return x;
}

function conv(
  x: SymbolicTensor,
  filters: number,
  kernelSize: number,
  { strides = 1, padding = 'valid', useBias = true, name }: { strides?: number; padding?: 'valid' | 'same'; useBias?: boolean; name: string },
): SymbolicTensor {
  return tfl.layers.conv2d({ filters, kernelSize, strides, padding, useBias, name }).apply(x) as SymbolicTensor;
}

function batchNorm(x: SymbolicTensor, name: string): SymbolicTensor {
  return tfl.layers.batchNormalization({ axis: BN_AXIS, epsilon: BN_EPSILON, name }).apply(x) as SymbolicTensor;
}

function relu(x: SymbolicTensor, name: string): SymbolicTensor {
  return tfl.layers.activation({ activation: 'relu', name }).apply(x) as SymbolicTensor;
}

/** Keras `ResNet50`: stacks of 3, 4, 6, 3 bottleneck blocks. Model name 'resnet50'. */
export function ResNet50(options: BackboneOptions = {}): tfl.LayersModel {
  const stackFn: StackFn = (x) => {
    x = stackResidualBlocksV1(x, 64, 3, 'conv2', 1);
    x = stackResidualBlocksV1(x, 128, 4, 'conv3');
    x = stackResidualBlocksV1(x, 256, 6, 'conv4');
    return stackResidualBlocksV1(x, 512, 3, 'conv5');
  };
  return ResNet({ stackFn, useBias: true, name: 'resnet50' }, options);
}

registerBackbone({
  lastBlockInput: 'conv5_block2_out',
  id: 'resnet50',
  kerasName: 'ResNet50',
  kerasModule: 'keras.applications.resnet',
  description: 'ResNet50 (He et al. 2015): 50-layer bottleneck residual network, 25.6M params, caffe preprocessing',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  preprocess: 'caffe',
  // keras/src/applications/resnet.py WEIGHTS_HASHES['resnet50'].
  weights: {
    imagenet: topOrNotop('resnet50', 'resnet50_weights_tf_dim_ordering_tf_kernels', { top: '2cb95161c43110f7111970584f804107', notop: '4d473c1dd8becc155b73f8504c6f6626' }, `${KERAS_APPLICATIONS_STORAGE}resnet/`, [224]),
  },
  build: ResNet50,
});
