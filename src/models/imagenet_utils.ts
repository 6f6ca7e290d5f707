// The parts of keras.applications.imagenet_utils that several family builders share, beyond the input
// shape checks (input_shape.ts): the classifier activation check and the option checks every
// Keras application function makes before it builds anything.
import { UsageError, formatValue } from '../errors.js';
import type { BackboneOptions } from './types.js';

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

/** `includeTop` must be a boolean (Keras would take any truthy value; a typo like 'false' should not). */
export function includeTopOf(options: BackboneOptions, modelName: string): boolean {
  const includeTop = options.includeTop ?? true;
  if (typeof includeTop !== 'boolean') {
    throw new UsageError(`${modelName}: \`includeTop\` must be true or false. Received: includeTop=${formatValue(includeTop)}`, 'includeTop');
  }
  return includeTop;
}
