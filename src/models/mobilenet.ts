// MobileNet v1 as keras/src/applications/mobilenet.py builds it: same layers, names, padding, BatchNorm
// settings and parameter counts. Read side by side with the Keras module.
import { tfl } from '../engines/tfjs/tf.js';
import { UsageError, formatValue, invalidArgument } from '../core/errors.js';
import { activationIdentifier, call, type SymbolicTensor } from './functional.js';
import { formatFixed2, validateClassifierActivation } from './imagenet_utils.js';
import { checkClasses, obtainInputShape } from './input_shape.js';
import { LayerNames } from './naming.js';
import { registerBackbone } from './registry.js';
import { KERAS_APPLICATIONS_STORAGE, checkImagenetAlpha, kerasRows } from './weights_records.js';
import type { BackboneOptions } from './types.js';


/** Width multipliers Keras publishes ImageNet weights for. */
export const MOBILENET_IMAGENET_ALPHAS = [0.25, 0.5, 0.75, 1.0];
/** Square input sizes Keras publishes ImageNet weights for; other sizes load the 224 weights. */
export const MOBILENET_IMAGENET_SIZES = [128, 160, 192, 224];

// MobileNet keeps Keras's BatchNormalization defaults (tfjs-layers has the same defaults, and its
// momentum means the same: moving = momentum * moving + (1 - momentum) * batch). Spelled out so a
// change of tfjs defaults cannot change the model.
const BN_EPSILON = 1e-3;
const BN_MOMENTUM = 0.99;

/** Keras `MobileNet(...)`. Options: alpha, depthMultiplier, dropout, includeTop, weights, inputShape, pooling, classes, classifierActivation. */
export function MobileNet(options: BackboneOptions = {}): tfl.LayersModel {
  const alpha = options.alpha ?? 1.0;
  const depthMultiplier = options.depthMultiplier ?? 1;
  const dropout = options.dropout ?? 1e-3;
  const includeTop = options.includeTop ?? true;
  const weights = options.weights ?? null;
  const classes = options.classes ?? 1000;
  const classifierActivation = options.classifierActivation === undefined ? 'softmax' : options.classifierActivation;

  if (!(typeof alpha === 'number' && Number.isFinite(alpha) && alpha > 0)) {
    throw invalidArgument('alpha', alpha, `a positive number (ImageNet weights exist for ${MOBILENET_IMAGENET_ALPHAS.join(', ')})`);
  }
  if (!(Number.isInteger(depthMultiplier) && depthMultiplier > 0)) {
    throw invalidArgument('depthMultiplier', depthMultiplier, 'a positive integer');
  }
  if (!(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) {
    throw invalidArgument('dropout', dropout, 'a rate in [0, 1)');
  }
  checkClasses({ ...options, weights }, 'MobileNet');

  // Keras picks the "default size" from a square input of a published size, so includeTop with
  // ImageNet weights accepts 128, 160, 192 and 224.
  const requested = options.inputShape;
  const defaultSize = requested && requested[0] === requested[1] && MOBILENET_IMAGENET_SIZES.includes(requested[0]) ? requested[0] : 224;
  const inputShape = obtainInputShape(requested, { defaultSize, minSize: 32, requireFlatten: includeTop, weights, modelName: 'MobileNet' });
  let rows = inputShape[0];
  const cols = inputShape[1];

  if (weights === 'imagenet') {
    if (depthMultiplier !== 1) {
      throw new UsageError(`MobileNet: with weights='imagenet', depthMultiplier must be 1. Received: depthMultiplier=${formatValue(depthMultiplier)}`, 'depthMultiplier');
    }
    if (!MOBILENET_IMAGENET_ALPHAS.includes(alpha)) {
      throw new UsageError(
        `MobileNet: with weights='imagenet', alpha must be one of ${MOBILENET_IMAGENET_ALPHAS.join(', ')}. Received: alpha=${formatValue(alpha)}`,
        'alpha',
      );
    }
    // Keras then loads the 224 weights (with a warning) and names the model after them.
    if (rows !== cols || !MOBILENET_IMAGENET_SIZES.includes(rows)) rows = 224;
  }
  validateClassifierActivation(includeTop ? classifierActivation : null, weights, 'MobileNet');

  const names = new LayerNames();
  const imgInput = tfl.input({ shape: inputShape, name: names.auto('input_layer') });

  let x = convBlock(imgInput, 32, alpha, 2);
  x = depthwiseConvBlock(x, 64, alpha, depthMultiplier, 1, 1);
  x = depthwiseConvBlock(x, 128, alpha, depthMultiplier, 2, 2);
  x = depthwiseConvBlock(x, 128, alpha, depthMultiplier, 1, 3);
  x = depthwiseConvBlock(x, 256, alpha, depthMultiplier, 2, 4);
  x = depthwiseConvBlock(x, 256, alpha, depthMultiplier, 1, 5);
  x = depthwiseConvBlock(x, 512, alpha, depthMultiplier, 2, 6);
  for (let blockId = 7; blockId <= 11; blockId++) x = depthwiseConvBlock(x, 512, alpha, depthMultiplier, 1, blockId);
  x = depthwiseConvBlock(x, 1024, alpha, depthMultiplier, 2, 12);
  x = depthwiseConvBlock(x, 1024, alpha, depthMultiplier, 1, 13);

  if (includeTop) {
    // Keras 3 uses GlobalAveragePooling2D(keepdims=True); tfjs-layers has no keepdims, so this is the
    // Keras 2 form it replaced: pooling then Reshape 'reshape_1' (hence Keras's later 'reshape_2').
    // Same computation, same parameters.
    const channels = x.shape[3] as number;
    x = call(tfl.layers.globalAveragePooling2d({ name: names.auto('global_average_pooling2d') }), x);
    x = call(tfl.layers.reshape({ targetShape: [1, 1, channels], name: 'reshape_1' }), x);
    x = call(tfl.layers.dropout({ rate: dropout, name: 'dropout' }), x);
    x = call(
      tfl.layers.conv2d({ filters: classes, kernelSize: 1, padding: 'same', kernelInitializer: 'glorotUniform', name: 'conv_preds' }),
      x,
    );
    x = call(tfl.layers.reshape({ targetShape: [classes], name: 'reshape_2' }), x);
    x = call(tfl.layers.activation({ activation: activationIdentifier(classifierActivation), name: 'predictions' }), x);
  } else if (options.pooling === 'avg') {
    x = call(tfl.layers.globalAveragePooling2d({ name: names.auto('global_average_pooling2d') }), x);
  } else if (options.pooling === 'max') {
    x = call(tfl.layers.globalMaxPooling2d({ name: names.auto('global_max_pooling2d') }), x);
  }

  return tfl.model({ inputs: imgInput, outputs: x, name: `mobilenet_${formatFixed2(alpha)}_${rows}` });
}

function convBlock(inputs: SymbolicTensor, filters: number, alpha: number, strides: number): SymbolicTensor {
  const width = Math.trunc(filters * alpha);
  // 'same' with stride 2 pads bottom/right only on even sizes, as ZeroPadding2D((0,1),(0,1)) + 'valid'
  // did in Keras 2; Keras 3 writes it this way.
  let x = call(
    tfl.layers.conv2d({ filters: width, kernelSize: 3, padding: 'same', useBias: false, strides, kernelInitializer: 'glorotUniform', name: 'conv1' }),
    inputs,
  );
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: 'conv1_bn' }), x);
  return call(tfl.layers.reLU({ maxValue: 6, name: 'conv1_relu' }), x);
}

function depthwiseConvBlock(inputs: SymbolicTensor, pointwiseFilters: number, alpha: number, depthMultiplier: number, strides: number, blockId: number): SymbolicTensor {
  const width = Math.trunc(pointwiseFilters * alpha);
  let x = inputs;
  if (strides !== 1) {
    x = call(tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `conv_pad_${blockId}` }), x);
  }
  x = call(
    tfl.layers.depthwiseConv2d({
      kernelSize: 3,
      padding: strides === 1 ? 'same' : 'valid',
      depthMultiplier,
      strides,
      useBias: false,
      depthwiseInitializer: 'glorotUniform',
      name: `conv_dw_${blockId}`,
    }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `conv_dw_${blockId}_bn` }), x);
  x = call(tfl.layers.reLU({ maxValue: 6, name: `conv_dw_${blockId}_relu` }), x);
  x = call(
    tfl.layers.conv2d({ filters: width, kernelSize: 1, padding: 'same', useBias: false, strides: 1, kernelInitializer: 'glorotUniform', name: `conv_pw_${blockId}` }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `conv_pw_${blockId}_bn` }), x);
  return call(tfl.layers.reLU({ maxValue: 6, name: `conv_pw_${blockId}_relu` }), x);
}

export const mobilenet = registerBackbone({
  lastBlockInput: 'conv_pw_12_relu',
  id: 'mobilenet',
  kerasName: 'MobileNet',
  kerasModule: 'keras.applications.mobilenet',
  description: 'MobileNet v1 (depthwise separable convolutions, ReLU6); 4.3M params at alpha 1.0',
  defaultInputSize: 224,
  minInputSize: 32,
  preprocess: 'tf',
  alphas: MOBILENET_IMAGENET_ALPHAS,
  // keras/src/applications/mobilenet.py: no hash in Keras.
  weights: {
    imagenet: {
      file({ alpha, inputSize, includeTop }) {
        checkImagenetAlpha('mobilenet', alpha, MOBILENET_IMAGENET_ALPHAS);
        const rows = kerasRows(inputSize, MOBILENET_IMAGENET_SIZES, includeTop, 'mobilenet');
        const alphaText = { 1: '1_0', 0.75: '7_5', 0.5: '5_0', 0.25: '2_5' }[alpha];
        const fileName = `mobilenet_${alphaText}_${rows}_tf${includeTop ? '' : '_no_top'}.h5`;
        return { fileName, url: `${KERAS_APPLICATIONS_STORAGE}mobilenet/${fileName}` };
      },
    },
  },
  build: MobileNet,
});
