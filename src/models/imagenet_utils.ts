// The parts of keras.applications.imagenet_utils that several family builders share, beyond the input
// shape checks (input_shape.ts): the classifier activation check, the option checks every Keras
// application function makes before it builds anything, correct_pad, and model-name formatting.
import { UsageError, formatValue } from '../core/errors.js';
import type { BackboneOptions } from './types.js';
import { checkClasses, obtainInputShape } from './input_shape.js';
import { tfl } from '../engines/tfjs/tf.js';
import type { LayerNames } from './naming.js';

// tfjs-layers' activation identifiers (ActivationIdentifier), plus Keras's snake_case spelling of
// hard_sigmoid, so a Keras-style name is accepted too.
const TFJS_ACTIVATIONS = [
  'elu', 'hardSigmoid', 'linear', 'relu', 'relu6', 'selu', 'sigmoid', 'softmax', 'softplus', 'softsign', 'tanh',
  'swish', 'mish', 'gelu', 'gelu_new',
] as const;
export type ClassifierActivation = (typeof TFJS_ACTIVATIONS)[number];

const KERAS_SPELLINGS: Record<string, ClassifierActivation> = { hard_sigmoid: 'hardSigmoid' };

/**
 * The activation of the top classifier as tfjs-layers spells it. Keras's `validate_activation`: with
 * pretrained weights only softmax or none (logits) make sense, because the weights were trained for them.
 */
export function classifierActivationFor(options: BackboneOptions, modelName: string): ClassifierActivation {
  const requested = options.classifierActivation === undefined ? 'softmax' : options.classifierActivation;
  if (requested === null) return checkedForWeights('linear', options, modelName);
  const name = KERAS_SPELLINGS[requested] ?? requested;
  if (!(TFJS_ACTIVATIONS as readonly string[]).includes(name)) {
    throw new UsageError(
      `${modelName}: unknown \`classifierActivation\`; expected null or one of ${TFJS_ACTIVATIONS.join(', ')}. Received: classifierActivation=${formatValue(requested)}`,
      'classifierActivation',
    );
  }
  return checkedForWeights(name as ClassifierActivation, options, modelName);
}

function checkedForWeights(name: ClassifierActivation, options: BackboneOptions, modelName: string): ClassifierActivation {
  const pretrained = options.weights !== null && options.weights !== undefined;
  if (pretrained && name !== 'softmax' && name !== 'linear') {
    throw new UsageError(
      `${modelName}: only null and 'softmax' are allowed for \`classifierActivation\` when using pretrained weights with includeTop=true. Received: classifierActivation=${formatValue(options.classifierActivation)}`,
      'classifierActivation',
    );
  }
  return name;
}

/**
 * Keras's `validate_activation` alone: pretrained classifiers were trained with softmax, so with weights
 * only softmax or no activation (logits) is allowed. Call it when includeTop is true.
 */
export function validateClassifierActivation(activation: string | null | undefined, weights: string | null | undefined, modelName: string): void {
  if (weights === null || weights === undefined) return;
  if (activation === null || activation === undefined || activation === 'softmax' || activation === 'linear') return;
  throw new UsageError(
    `${modelName}: only null and 'softmax' are allowed for \`classifierActivation\` when using pretrained weights with includeTop=true. Received: classifierActivation=${formatValue(activation)}`,
    'classifierActivation',
  );
}

/** `includeTop` must be a boolean (Keras would take any truthy value; a typo like 'false' should not). */
export function includeTopOf(options: BackboneOptions, modelName: string): boolean {
  const includeTop = options.includeTop ?? true;
  if (typeof includeTop !== 'boolean') {
    throw new UsageError(`${modelName}: \`includeTop\` must be true or false. Received: includeTop=${formatValue(includeTop)}`, 'includeTop');
  }
  return includeTop;
}

export type Padding2D = [[number, number], [number, number]];

/**
 * Keras's `correct_pad`: the ZeroPadding2D that, followed by a 'valid' strided convolution, centres the
 * kernel the way TF's 'same' would for odd sizes and pads one less on the top/left for even sizes.
 */
export function correctPad(inputSize: [number, number], kernelSize: number): Padding2D {
  const adjust = [1 - (inputSize[0] % 2), 1 - (inputSize[1] % 2)];
  const correct = Math.floor(kernelSize / 2);
  return [
    [correct - adjust[0], correct],
    [correct - adjust[1], correct],
  ];
}

/** Python's `f"{x:0.2f}"` for model names such as 'mobilenet_1.00_224' (exact ties round to even there, up in toFixed). */
export function formatFixed2(x: number): string {
  const scaled = x * 100;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && floor % 2 === 0) return (floor / 100).toFixed(2);
  return x.toFixed(2);
}

/**
 * Keras's application functions have no such keyword (e.g. `alpha` for EfficientNetB0) and Python would
 * reject it; tlkit's options are one shared interface, so say it here instead of silently ignoring it.
 */
export function rejectUnsupportedOptions(options: BackboneOptions, unsupported: (keyof BackboneOptions)[], modelName: string): void {
  for (const key of unsupported) {
    if (options[key] !== undefined) {
      throw new UsageError(
        `${modelName} has no \`${key}\` option (Keras's function takes none). Received: ${key}=${formatValue(options[key])}`,
        key,
      );
    }
  }
}

export interface CheckedApplicationOptions {
  includeTop: boolean;
  inputShape: [number, number, number];
  /** The top classifier's activation when includeTop, else undefined. */
  activation: ClassifierActivation | undefined;
}

/**
 * The checks every Keras application without a width multiplier runs first (ResNet, InceptionV3,
 * Xception): options it does not take, classes vs weights, the input shape, the classifier activation.
 */
export function checkApplicationOptions(
  options: BackboneOptions,
  family: { modelName: string; defaultSize: number; minSize: number },
): CheckedApplicationOptions {
  const { modelName, defaultSize, minSize } = family;
  const includeTop = includeTopOf(options, modelName);
  rejectUnsupportedOptions(options, ['alpha', 'depthMultiplier', 'dropout'], modelName);
  checkClasses(options, modelName);
  const inputShape = obtainInputShape(options.inputShape, { defaultSize, minSize, requireFlatten: includeTop, weights: options.weights, modelName });
  return { includeTop, inputShape, activation: includeTop ? classifierActivationFor(options, modelName) : undefined };
}

/**
 * The end of InceptionV3 and Xception: Keras's 'avg_pool' + 'predictions' top, or the optional global
 * pooling of a no-top model (auto-named, as Keras leaves it).
 */
export function applyTopOrPooling(
  x: tfl.SymbolicTensor,
  options: BackboneOptions,
  checked: Pick<CheckedApplicationOptions, 'includeTop' | 'activation'>,
  names: LayerNames,
): tfl.SymbolicTensor {
  if (checked.includeTop) {
    const pooled = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
    return tfl.layers.dense({ units: options.classes ?? 1000, activation: checked.activation, name: 'predictions' }).apply(pooled) as tfl.SymbolicTensor;
  }
  if (options.pooling === 'avg') return tfl.layers.globalAveragePooling2d({ name: names.auto('global_average_pooling2d') }).apply(x) as tfl.SymbolicTensor;
  if (options.pooling === 'max') return tfl.layers.globalMaxPooling2d({ name: names.auto('global_max_pooling2d') }).apply(x) as tfl.SymbolicTensor;
  return x;
}
