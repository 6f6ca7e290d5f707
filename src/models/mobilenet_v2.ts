// MobileNetV2 as keras/src/applications/mobilenet_v2.py builds it: inverted residual blocks, names
// 'block_N_*', correct_pad before strided depthwise convolutions, BatchNorm epsilon 1e-3 and
// momentum 0.999. Read side by side with the Keras module.
import { tfl } from '../engines/tfjs/tf.js';
import { UsageError, formatValue, invalidArgument } from '../core/errors.js';
import { activationIdentifier, call, type SymbolicTensor } from './functional.js';
import { correctPad, formatFixed2, rejectUnsupportedOptions, validateClassifierActivation } from './imagenet_utils.js';
import { checkClasses, obtainInputShape } from './input_shape.js';
import { LayerNames } from './naming.js';
import { registerBackbone } from './registry.js';
import { KERAS_APPLICATIONS_STORAGE, NSFWJS_INPUT, NSFWJS_SOURCE, checkImagenetAlpha, kerasRows, pythonFloat } from './weights_records.js';
import type { BackboneOptions } from './types.js';

/** Width multipliers Keras publishes ImageNet weights for. */
export const MOBILENET_V2_IMAGENET_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4];
/** Square input sizes Keras publishes ImageNet weights for; other sizes load the 224 weights. */
export const MOBILENET_V2_IMAGENET_SIZES = [96, 128, 160, 192, 224];

// tfjs-layers' momentum means the same as Keras's (moving = momentum * moving + (1 - momentum) * batch).
const BN_EPSILON = 1e-3;
const BN_MOMENTUM = 0.999;

/** [filters, stride, expansion] of block_0 ... block_16, as Keras lists its _inverted_res_block calls. */
const BLOCKS: [number, number, number][] = [
  [16, 1, 1],
  [24, 2, 6], [24, 1, 6],
  [32, 2, 6], [32, 1, 6], [32, 1, 6],
  [64, 2, 6], [64, 1, 6], [64, 1, 6], [64, 1, 6],
  [96, 1, 6], [96, 1, 6], [96, 1, 6],
  [160, 2, 6], [160, 1, 6], [160, 1, 6],
  [320, 1, 6],
];

/** Keras `MobileNetV2(...)`. Options: alpha, includeTop, weights, inputShape, pooling, classes, classifierActivation. */
export function MobileNetV2(options: BackboneOptions = {}): tfl.LayersModel {
  rejectUnsupportedOptions(options, ['depthMultiplier', 'dropout'], 'MobileNetV2');
  const alpha = options.alpha ?? 1.0;
  const includeTop = options.includeTop ?? true;
  const weights = options.weights ?? null;
  const classes = options.classes ?? 1000;
  const classifierActivation = options.classifierActivation === undefined ? 'softmax' : options.classifierActivation;

  if (!(typeof alpha === 'number' && Number.isFinite(alpha) && alpha > 0)) {
    throw invalidArgument('alpha', alpha, `a positive number (ImageNet weights exist for ${MOBILENET_V2_IMAGENET_ALPHAS.join(', ')})`);
  }
  checkClasses({ ...options, weights }, 'MobileNetV2');

  const requested = options.inputShape;
  const defaultSize = requested && requested[0] === requested[1] && MOBILENET_V2_IMAGENET_SIZES.includes(requested[0]) ? requested[0] : 224;
  const inputShape = obtainInputShape(requested, { defaultSize, minSize: 32, requireFlatten: includeTop, weights, modelName: 'MobileNetV2' });
  let rows = inputShape[0];
  const cols = inputShape[1];

  if (weights === 'imagenet') {
    if (!MOBILENET_V2_IMAGENET_ALPHAS.includes(alpha)) {
      throw new UsageError(
        `MobileNetV2: with weights='imagenet', alpha must be one of ${MOBILENET_V2_IMAGENET_ALPHAS.join(', ')}. Received: alpha=${formatValue(alpha)}`,
        'alpha',
      );
    }
    // Keras then loads the 224 weights (with a warning) and names the model after them.
    if (rows !== cols || !MOBILENET_V2_IMAGENET_SIZES.includes(rows)) rows = 224;
  }
  if (includeTop) validateClassifierActivation(classifierActivation, weights, 'MobileNetV2');

  const names = new LayerNames();
  const imgInput = tfl.input({ shape: inputShape, name: names.auto('input_layer') });

  const firstBlockFilters = makeDivisible(32 * alpha, 8);
  let x = call(
    tfl.layers.conv2d({ filters: firstBlockFilters, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: 'glorotUniform', name: 'Conv1' }),
    imgInput,
  );
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: 'bn_Conv1' }), x);
  x = call(tfl.layers.reLU({ maxValue: 6, name: 'Conv1_relu' }), x);

  BLOCKS.forEach(([filters, stride, expansion], blockId) => {
    x = invertedResBlock(x, expansion, stride, alpha, filters, blockId);
  });

  // Keras: no alpha on the last conv below 1 (as in the paper), but it widens it above 1.
  const lastBlockFilters = alpha > 1.0 ? makeDivisible(1280 * alpha, 8) : 1280;
  x = call(tfl.layers.conv2d({ filters: lastBlockFilters, kernelSize: 1, useBias: false, kernelInitializer: 'glorotUniform', name: 'Conv_1' }), x);
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: 'Conv_1_bn' }), x);
  x = call(tfl.layers.reLU({ maxValue: 6, name: 'out_relu' }), x);

  if (includeTop) {
    x = call(tfl.layers.globalAveragePooling2d({ name: names.auto('global_average_pooling2d') }), x);
    x = call(
      tfl.layers.dense({ units: classes, activation: activationIdentifier(classifierActivation), kernelInitializer: 'glorotUniform', name: 'predictions' }),
      x,
    );
  } else if (options.pooling === 'avg') {
    x = call(tfl.layers.globalAveragePooling2d({ name: names.auto('global_average_pooling2d') }), x);
  } else if (options.pooling === 'max') {
    x = call(tfl.layers.globalMaxPooling2d({ name: names.auto('global_max_pooling2d') }), x);
  }

  return tfl.model({ inputs: imgInput, outputs: x, name: `mobilenetv2_${formatFixed2(alpha)}_${rows}` });
}

function invertedResBlock(inputs: SymbolicTensor, expansion: number, stride: number, alpha: number, filters: number, blockId: number): SymbolicTensor {
  const inChannels = inputs.shape[3] as number;
  // Keras truncates first, then rounds to a multiple of 8.
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8);
  let x = inputs;
  let prefix = `block_${blockId}_`;

  if (blockId) {
    x = call(
      tfl.layers.conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: 'glorotUniform', name: `${prefix}expand` }),
      x,
    );
    x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `${prefix}expand_BN` }), x);
    x = call(tfl.layers.reLU({ maxValue: 6, name: `${prefix}expand_relu` }), x);
  } else {
    prefix = 'expanded_conv_';
  }

  if (stride === 2) {
    const size: [number, number] = [x.shape[1] as number, x.shape[2] as number];
    x = call(tfl.layers.zeroPadding2d({ padding: correctPad(size, 3), name: `${prefix}pad` }), x);
  }
  x = call(
    tfl.layers.depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      depthwiseInitializer: 'glorotUniform',
      name: `${prefix}depthwise`,
    }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `${prefix}depthwise_BN` }), x);
  x = call(tfl.layers.reLU({ maxValue: 6, name: `${prefix}depthwise_relu` }), x);

  x = call(
    tfl.layers.conv2d({ filters: pointwiseFilters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: 'glorotUniform', name: `${prefix}project` }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `${prefix}project_BN` }), x);

  if (inChannels === pointwiseFilters && stride === 1) {
    return call(tfl.layers.add({ name: `${prefix}add` }), [inputs, x]);
  }
  return x;
}

/** Keras's `_make_divisible`: round to the nearest multiple of `divisor`, never losing more than 10%. */
export function makeDivisible(value: number, divisor: number, minValue = divisor): number {
  let rounded = Math.max(minValue, Math.floor(Math.trunc(value + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

export const mobilenetV2 = registerBackbone({
  lastBlockInput: 'block_15_add',
  id: 'mobilenet_v2',
  kerasName: 'MobileNetV2',
  kerasModule: 'keras.applications.mobilenet_v2',
  description: 'MobileNetV2 (inverted residuals, linear bottlenecks, ReLU6); 3.5M params at alpha 1.0',
  defaultInputSize: 224,
  minInputSize: 32,
  preprocess: 'tf',
  alphas: MOBILENET_V2_IMAGENET_ALPHAS,
  weights: {
    // keras/src/applications/mobilenet_v2.py: no hash in Keras.
    imagenet: {
      file({ alpha, inputSize, includeTop }) {
        checkImagenetAlpha('mobilenet_v2', alpha, MOBILENET_V2_IMAGENET_ALPHAS);
        const rows = kerasRows(inputSize, MOBILENET_V2_IMAGENET_SIZES, includeTop, 'mobilenet_v2');
        const fileName = `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${pythonFloat(alpha)}_${rows}${includeTop ? '' : '_no_top'}.h5`;
        return { fileName, url: `${KERAS_APPLICATIONS_STORAGE}mobilenet_v2/${fileName}` };
      },
    },
    // nsfwjs@4's MobileNetV2 carries Keras's explicit layer names.
    offline: [{ source: NSFWJS_SOURCE, variant: 'mobilenet_v2', inputSize: 224, lastBackboneLayer: 'out_relu', byName: true, input: NSFWJS_INPUT }],
  },
  build: MobileNetV2,
});
