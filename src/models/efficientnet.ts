// EfficientNet as keras/src/applications/efficientnet.py builds it (B0 registered): preprocessing in the
// graph (Rescaling 1/255, Normalization), swish, MBConv blocks with squeeze-excitation and drop-connect,
// Keras's names ('stem_conv', 'block2a_se_excite', 'top_conv', ...). Read side by side with the Keras module.
import { tfl } from '../engines/tfjs/tf.js';
import { activationIdentifier, call, type ActivationIdentifier, type SymbolicTensor } from './functional.js';
import { correctPad, rejectUnsupportedOptions, validateClassifierActivation } from './imagenet_utils.js';
import { checkClasses, obtainInputShape } from './input_shape.js';
import { Normalization } from './layers/normalization.js';
import { LayerNames } from './naming.js';
import { registerBackbone } from './registry.js';
import { topOrNotop } from './weights_records.js';
import type { BackboneOptions } from './types.js';

interface BlockArgs {
  kernelSize: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  idSkip: boolean;
  strides: number;
  seRatio: number;
}

/** Keras's DEFAULT_BLOCKS_ARGS (B0 widths and depths; other variants scale them). */
const DEFAULT_BLOCKS_ARGS: BlockArgs[] = [
  { kernelSize: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, idSkip: true, strides: 1, seRatio: 0.25 },
  { kernelSize: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, idSkip: true, strides: 1, seRatio: 0.25 },
  { kernelSize: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, idSkip: true, strides: 1, seRatio: 0.25 },
];

// Keras's CONV_KERNEL_INITIALIZER is VarianceScaling(2.0, fan_out, truncated_normal), whose stddev is
// sqrt(scale / fan) / 0.8796 so that the truncated distribution keeps the intended variance. tfjs 4.22
// treats 'truncatedNormal' as uniform and draws 'normal' truncated without the correction, so the
// correction goes into the scale.
const TRUNCATED_NORMAL_STDDEV_CORRECTION = 0.87962566103423978;
const convKernelInitializer = () =>
  tfl.initializers.varianceScaling({ scale: 2.0 / TRUNCATED_NORMAL_STDDEV_CORRECTION ** 2, mode: 'fanOut', distribution: 'normal' });
const denseKernelInitializer = () => tfl.initializers.varianceScaling({ scale: 1.0 / 3.0, mode: 'fanOut', distribution: 'uniform' });

/** Keras stores ImageNet's standard deviation where the variance belongs, and corrects it with this rescaling. */
const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225];

// EfficientNet keeps Keras's BatchNormalization defaults; spelled out so tfjs defaults cannot change them.
const BN_EPSILON = 1e-3;
const BN_MOMENTUM = 0.99;
const BN_AXIS = 3;

export interface EfficientNetConfig {
  widthCoefficient: number;
  depthCoefficient: number;
  defaultSize: number;
  dropoutRate: number;
  dropConnectRate?: number;
  depthDivisor?: number;
  activation?: ActivationIdentifier;
  blocksArgs?: BlockArgs[];
  /** Keras model name, e.g. 'efficientnetb0'. */
  name: string;
}

/** Keras's `EfficientNet(...)` family builder; the public variants fix its coefficients. */
export function EfficientNet(config: EfficientNetConfig, options: BackboneOptions = {}): tfl.LayersModel {
  const { widthCoefficient, depthCoefficient, defaultSize, dropoutRate, name } = config;
  const dropConnectRate = config.dropConnectRate ?? 0.2;
  const depthDivisor = config.depthDivisor ?? 8;
  const activation = config.activation ?? 'swish';
  const blocksArgs = config.blocksArgs ?? DEFAULT_BLOCKS_ARGS;
  const modelLabel = `EfficientNet (${name})`;

  rejectUnsupportedOptions(options, ['alpha', 'depthMultiplier', 'dropout'], modelLabel);
  const includeTop = options.includeTop ?? true;
  const weights = options.weights ?? null;
  const classes = options.classes ?? 1000;
  const classifierActivation = options.classifierActivation === undefined ? 'softmax' : options.classifierActivation;
  checkClasses({ ...options, weights }, modelLabel);
  const inputShape = obtainInputShape(options.inputShape, { defaultSize, minSize: 32, requireFlatten: includeTop, weights, modelName: modelLabel });
  if (includeTop) validateClassifierActivation(classifierActivation, weights, modelLabel);

  const roundFilters = (filters: number): number => {
    const scaled = filters * widthCoefficient;
    let rounded = Math.max(depthDivisor, Math.floor(Math.trunc(scaled + depthDivisor / 2) / depthDivisor) * depthDivisor);
    if (rounded < 0.9 * scaled) rounded += depthDivisor;
    return rounded;
  };
  const roundRepeats = (repeats: number): number => Math.ceil(depthCoefficient * repeats);

  const names = new LayerNames();
  const imgInput = tfl.input({ shape: inputShape, name: names.auto('input_layer') });
  let x = call(tfl.layers.rescaling({ scale: 1.0 / 255.0, name: names.auto('rescaling') }), imgInput);
  x = call(new Normalization({ axis: BN_AXIS, name: names.auto('normalization') }), x);
  if (weights === 'imagenet') {
    // Per-channel scale: tfjs's Rescaling multiplies by `scale` with broadcasting, so an array works
    // although its type says number (Keras's Rescaling takes a list too).
    const scale = IMAGENET_STDDEV_RGB.map((s) => 1.0 / Math.sqrt(s)) as unknown as number;
    x = call(tfl.layers.rescaling({ scale, name: names.auto('rescaling') }), x);
  }

  x = call(tfl.layers.zeroPadding2d({ padding: correctPad(spatial(x), 3), name: 'stem_conv_pad' }), x);
  x = call(
    tfl.layers.conv2d({ filters: roundFilters(32), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: convKernelInitializer(), name: 'stem_conv' }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: BN_AXIS, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: 'stem_bn' }), x);
  x = call(tfl.layers.activation({ activation, name: 'stem_activation' }), x);

  let b = 0;
  const blocks = blocksArgs.reduce((n, args) => n + roundRepeats(args.repeats), 0);
  blocksArgs.forEach((args, i) => {
    let filtersIn = roundFilters(args.filtersIn);
    const filtersOut = roundFilters(args.filtersOut);
    let strides = args.strides;
    for (let j = 0; j < roundRepeats(args.repeats); j++) {
      if (j > 0) {
        strides = 1;
        filtersIn = filtersOut;
      }
      x = block(x, {
        activation,
        dropRate: (dropConnectRate * b) / blocks,
        name: `block${i + 1}${String.fromCharCode(j + 97)}_`,
        filtersIn,
        filtersOut,
        kernelSize: args.kernelSize,
        strides,
        expandRatio: args.expandRatio,
        seRatio: args.seRatio,
        idSkip: args.idSkip,
      });
      b += 1;
    }
  });

  x = call(
    tfl.layers.conv2d({ filters: roundFilters(1280), kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: convKernelInitializer(), name: 'top_conv' }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: BN_AXIS, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: 'top_bn' }), x);
  x = call(tfl.layers.activation({ activation, name: 'top_activation' }), x);

  if (includeTop) {
    x = call(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    if (dropoutRate > 0) x = call(tfl.layers.dropout({ rate: dropoutRate, name: 'top_dropout' }), x);
    x = call(
      tfl.layers.dense({ units: classes, activation: activationIdentifier(classifierActivation), kernelInitializer: denseKernelInitializer(), name: 'predictions' }),
      x,
    );
  } else if (options.pooling === 'avg') {
    x = call(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
  } else if (options.pooling === 'max') {
    x = call(tfl.layers.globalMaxPooling2d({ name: 'max_pool' }), x);
  }

  return tfl.model({ inputs: imgInput, outputs: x, name });
}

interface MBConvArgs {
  activation: ActivationIdentifier;
  dropRate: number;
  name: string;
  filtersIn: number;
  filtersOut: number;
  kernelSize: number;
  strides: number;
  expandRatio: number;
  seRatio: number;
  idSkip: boolean;
}

/** Keras's `block`: an inverted residual block with squeeze-excitation and drop-connect on the skip. */
function block(inputs: SymbolicTensor, args: MBConvArgs): SymbolicTensor {
  const { activation, dropRate, name, filtersIn, filtersOut, kernelSize, strides, expandRatio, seRatio, idSkip } = args;
  const filters = filtersIn * expandRatio;
  let x = inputs;
  if (expandRatio !== 1) {
    x = call(
      tfl.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: convKernelInitializer(), name: `${name}expand_conv` }),
      x,
    );
    x = call(tfl.layers.batchNormalization({ axis: BN_AXIS, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `${name}expand_bn` }), x);
    x = call(tfl.layers.activation({ activation, name: `${name}expand_activation` }), x);
  }

  let convPad: 'valid' | 'same' = 'same';
  if (strides === 2) {
    x = call(tfl.layers.zeroPadding2d({ padding: correctPad(spatial(x), kernelSize), name: `${name}dwconv_pad` }), x);
    convPad = 'valid';
  }
  x = call(
    tfl.layers.depthwiseConv2d({ kernelSize, strides, padding: convPad, useBias: false, depthwiseInitializer: convKernelInitializer(), name: `${name}dwconv` }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: BN_AXIS, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `${name}bn` }), x);
  x = call(tfl.layers.activation({ activation, name: `${name}activation` }), x);

  if (seRatio > 0 && seRatio <= 1) {
    const filtersSe = Math.max(1, Math.trunc(filtersIn * seRatio));
    let se = call(tfl.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
    se = call(tfl.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
    se = call(
      tfl.layers.conv2d({ filters: filtersSe, kernelSize: 1, padding: 'same', activation, kernelInitializer: convKernelInitializer(), name: `${name}se_reduce` }),
      se,
    );
    se = call(
      tfl.layers.conv2d({ filters, kernelSize: 1, padding: 'same', activation: 'sigmoid', kernelInitializer: convKernelInitializer(), name: `${name}se_expand` }),
      se,
    );
    x = call(tfl.layers.multiply({ name: `${name}se_excite` }), [x, se]);
  }

  x = call(
    tfl.layers.conv2d({ filters: filtersOut, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: convKernelInitializer(), name: `${name}project_conv` }),
    x,
  );
  x = call(tfl.layers.batchNormalization({ axis: BN_AXIS, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name: `${name}project_bn` }), x);
  if (idSkip && strides === 1 && filtersIn === filtersOut) {
    if (dropRate > 0) {
      // Drop-connect: one draw per sample (noise shape (None, 1, 1, 1)); tfjs fills a null with the
      // batch size at call time although the option's type says number[].
      const noiseShape = [null, 1, 1, 1] as unknown as number[];
      x = call(tfl.layers.dropout({ rate: dropRate, noiseShape, name: `${name}drop` }), x);
    }
    x = call(tfl.layers.add({ name: `${name}add` }), [x, inputs]);
  }
  return x;
}

function spatial(x: SymbolicTensor): [number, number] {
  return [x.shape[1] as number, x.shape[2] as number];
}

/** Keras `EfficientNetB0(...)`. Options: includeTop, weights, inputShape, pooling, classes, classifierActivation. */
export function EfficientNetB0(options: BackboneOptions = {}): tfl.LayersModel {
  return EfficientNet({ widthCoefficient: 1.0, depthCoefficient: 1.0, defaultSize: 224, dropoutRate: 0.2, name: 'efficientnetb0' }, options);
}

export const efficientnetB0 = registerBackbone({
  lastBlockInput: 'block6d_add',
  id: 'efficientnet_b0',
  kerasName: 'EfficientNetB0',
  kerasModule: 'keras.applications.efficientnet',
  description: 'EfficientNetB0 (MBConv + squeeze-excitation, swish; preprocessing inside the model, takes 0-255 pixels); 5.3M params',
  defaultInputSize: 224,
  minInputSize: 32,
  preprocess: 'none',
  // keras/src/applications/efficientnet.py: name 'efficientnetb0', WEIGHTS_HASHES['b0'], a different bucket.
  weights: {
    imagenet: topOrNotop('efficientnet_b0', 'efficientnetb0', { top: '902e53a9f72be733fc0bcb005b3ebbac', notop: '50bc09e76180e00e4465e1a485ddc09d' }, 'https://storage.googleapis.com/keras-applications/', [224]),
  },
  build: EfficientNetB0,
});
