// The fast engine, stage 1: the frozen prefix of a model runs on onnxruntime-node, the trainable rest
// (the head) stays a tfjs-layers model that shares its layers with the original.
//
//   const engine = await createFrozenEngine(model, { frozenUpTo: 'out_relu' });
//   const f = await engine.features(images);        // NHWC batch -> boundary features (tf tensor)
//   engine.head.fit / trainOnBatch(f, labels) ...   // only the head trains, in tfjs
//
// Weights of the prefix are captured when the engine is created: create a new engine after loading
// other weights into the model.
import { createHash } from 'node:crypto';
import { invalidArgument, UsageError } from '../../core/errors.js';
import { tf, tfl } from '../tfjs/tf.js';
import { exportOnnx } from './export.js';
import { createOnnxRunner, type OnnxOutput, type OnnxRunnerOptions } from './session.js';
import { frozenPrefixEnd } from './frozen_prefix.js';
import { splitAtLayer } from './split_at_layer.js';

export interface FrozenEngineOptions extends OnnxRunnerOptions {
  /**
   * Name of the last frozen layer: everything from the inputs up to its output runs on onnxruntime.
   * Default: where the model's non-trainable prefix ends (frozenPrefixEnd).
   */
  frozenUpTo?: string;
}

export interface FrozenEngine {
  /** Boundary features of a NHWC float32 batch, as a tf tensor (the caller disposes it). */
  features(x: tf.Tensor): Promise<tf.Tensor>;
  /** Same, without tfjs: a float32 batch of `shape` in, the features' data and shape out. */
  featuresOf(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput>;
  /** The trainable rest, taking the boundary features as its input; shares layers with the model. */
  head: tfl.LayersModel;
  /** The frozen prefix as a tfjs model (the reference the ONNX graph is tested against). */
  prefix: tfl.LayersModel;
  /** The layer whose output the head consumes. */
  boundaryLayerName: string;
  /** Keras shape of the features, batch first (null). */
  featureShape: (number | null)[];
  /** The exported prefix (ONNX bytes). */
  onnxModel: Uint8Array;
  /**
   * sha256 of the exported prefix: changes with the architecture, the cut and every frozen weight.
   * The feature cache keys on it.
   */
  fingerprint: string;
  dispose(): Promise<void>;
}

/** Splits `model` after `frozenUpTo`, exports the prefix to ONNX and opens an onnxruntime session on it. */
export async function createFrozenEngine(model: tfl.LayersModel, options: FrozenEngineOptions = {}): Promise<FrozenEngine> {
  const frozenUpTo = options.frozenUpTo ?? frozenPrefixEnd(model);
  if (frozenUpTo === undefined) {
    throw new UsageError(
      `Model '${model.name}' has no frozen prefix to run on onnxruntime (its first layers are trainable). ` +
        'Freeze the backbone (trainable = false) or pass frozenUpTo.',
      'frozenUpTo',
    );
  }
  if (typeof frozenUpTo !== 'string' || frozenUpTo === '') {
    throw invalidArgument('frozenUpTo', frozenUpTo, 'the name of the last frozen layer');
  }
  const { prefix, rest, boundaryLayer, boundaryShape } = splitAtLayer(model, frozenUpTo);
  const onnxModel = await exportOnnx(prefix);
  const runner = await createOnnxRunner(onnxModel, options);
  const fingerprint = createHash('sha256').update(onnxModel).digest('hex');

  return {
    async features(x) {
      return runner.run(x);
    },
    featuresOf(x, shape) {
      return runner.run(x, shape);
    },
    head: rest,
    prefix,
    boundaryLayerName: boundaryLayer.name,
    featureShape: boundaryShape,
    onnxModel,
    fingerprint,
    dispose: () => runner.dispose(),
  };
}
