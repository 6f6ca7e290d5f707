// Runs tfjs-layers' ReLU(maxValue: 6) layer (Keras's layers.ReLU(6.), in every MobileNetV2 block) as
// the single Relu6 op instead of Relu followed by ClipByValue: the same values (min(max(x, 0), 6)) and
// the same gradient (dy where 0 < x <= 6), with one activation tensor and one gradient pass fewer per
// layer. Other maxValues keep the layer's own two ops (a lone ClipByValue would pass gradient at x = 0).
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

const PATCHED = Symbol.for('tlkit.reluLayerAsRelu6');

type Call = (this: { maxValue?: number }, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) => Tensor | Tensor[];

/** Installs the single-op path on the ReLU layer class. Idempotent. */
export function installFastRelu6Layer(): void {
  const proto = Object.getPrototypeOf(tfl.layers.reLU({})) as { call: Call; [PATCHED]?: boolean };
  if (proto[PATCHED]) return;
  const original = proto.call;
  proto.call = function (inputs, kwargs) {
    const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
    if (this.maxValue !== 6 || input === undefined || input.dtype !== 'float32') return original.call(this, inputs, kwargs);
    return tf.relu6(input);
  };
  proto[PATCHED] = true;
}
