// Small typed glue for building tfjs-layers functional graphs the way Keras code reads: `layer(x)`.
import type { SymbolicTensor, tfl } from '../engines/tfjs/tf.js';

export type { SymbolicTensor };
export type ActivationIdentifier = NonNullable<Parameters<typeof tfl.layers.activation>[0]['activation']>;

/** `layer.apply(x)` for one symbolic input or a list (merge layers), typed as one symbolic output. */
export function call(layer: { apply(x: SymbolicTensor | SymbolicTensor[]): unknown }, x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
  return layer.apply(x) as SymbolicTensor;
}

/** Keras's `activation=None` is the identity, which tfjs calls 'linear'. */
export function activationIdentifier(activation: string | null | undefined): ActivationIdentifier {
  return (activation ?? 'linear') as ActivationIdentifier;
}
