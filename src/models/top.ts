// The activation of a Keras application's "top" classifier, as tfjs-layers spells it.
import type { tfl } from '../engines/tfjs/tf.js';
import type { BackboneOptions } from './types.js';

type ActivationIdentifier = NonNullable<Parameters<typeof tfl.layers.dense>[0]['activation']>;

/**
 * Keras's `classifier_activation`: 'softmax' by default, null for logits (tfjs calls that 'linear').
 * Keras's snake_case 'hard_sigmoid' is tfjs's 'hardSigmoid'; other names pass through, and tfjs
 * rejects unknown ones when the Dense layer is made.
 */
export function classifierActivation(options: BackboneOptions): ActivationIdentifier {
  const requested = options.classifierActivation;
  if (requested === undefined) return 'softmax';
  if (requested === null) return 'linear';
  return (requested === 'hard_sigmoid' ? 'hardSigmoid' : requested) as ActivationIdentifier;
}
