// Keras's preprocessing `Normalization` layer, which tfjs-layers lacks. EfficientNet has one in its
// graph (after Rescaling(1/255)); Keras stores its ImageNet mean and variance as non-trainable weights
// `mean`, `variance` and `count` (7 values for RGB), so they count as Non-trainable params.
//
// Only what EfficientNet uses: mean/variance as weights (the "adapt" form, no `adapt()` here),
// channels kept on `axis`, invert=false. Registered under Keras's class name so that a saved
// tfjs model.json or a Keras config that names 'Normalization' resolves to it.
import { tf, tfl } from '../../engines/tfjs/tf.js';

type LayerVariable = ReturnType<InstanceType<typeof tfl.layers.Layer>['addWeight']>;

export interface NormalizationArgs {
  name?: string;
  trainable?: boolean;
  /** The axis (or axes) that keep their own mean and variance. Default -1 (channels). */
  axis?: number | number[];
}

/** Keras's `backend.epsilon()`: the floor on the standard deviation. */
const EPSILON = 1e-7;

export class Normalization extends tfl.layers.Layer {
  static className = 'Normalization';
  readonly axis: number[];
  private mean?: LayerVariable;
  private variance?: LayerVariable;
  private count?: LayerVariable;
  private broadcastShape: number[] = [];

  constructor(args: NormalizationArgs = {}) {
    super(args);
    const axis = args.axis ?? -1;
    this.axis = Array.isArray(axis) ? [...axis] : [axis];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
    const ndim = shape.length;
    const keep = this.axis.map((a) => (a < 0 ? a + ndim : a)).sort((a, b) => a - b);
    for (const d of keep) {
      if (d < 0 || d >= ndim) throw new Error(`Normalization: axis ${formatAxis(this.axis)} is out of range for inputs of rank ${ndim}`);
      if (shape[d] === null) throw new Error(`Normalization: axis ${d} must have a known size; input shape ${JSON.stringify(shape)}`);
    }
    const weightShape = keep.map((d) => shape[d] as number);
    this.broadcastShape = shape.map((size, d) => (keep.includes(d) ? (size as number) : 1));
    this.mean = this.addWeight('mean', weightShape, 'float32', tfl.initializers.zeros(), undefined, false);
    this.variance = this.addWeight('variance', weightShape, 'float32', tfl.initializers.ones(), undefined, false);
    // Keras keeps `count` only so that older saved models load; it does not enter the computation.
    this.count = this.addWeight('count', [], 'int32', tfl.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const mean = tf.reshape(this.mean!.read(), this.broadcastShape);
      const std = tf.reshape(tf.maximum(tf.sqrt(this.variance!.read()), EPSILON), this.broadcastShape);
      return tf.div(tf.sub(tf.cast(x, 'float32'), mean), std);
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis, invert: false, mean: null, variance: null };
  }
}

function formatAxis(axis: number[]): string {
  return axis.length === 1 ? String(axis[0]) : `[${axis.join(', ')}]`;
}

tf.serialization.registerClass(Normalization);
