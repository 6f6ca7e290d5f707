// The fast engine, stage 1: the frozen prefix of a model runs on onnxruntime-node, the trainable rest
// (the head) stays a tfjs-layers model that shares its layers with the original.
//
//   const engine = await createFrozenEngine(model, { frozenUpTo: 'out_relu' });
//   const f = await engine.features(images);        // NHWC batch -> boundary features (tf tensor)
//   engine.head.fit / trainOnBatch(f, labels) ...   // only the head trains, in tfjs
//
// Weights of the prefix are captured when the engine is created: create a new engine after loading
// other weights into the model.
//
// The prefix's session is cached on disk (compiled_cache.ts) keyed by its architecture and its weights
// (they are constants in this graph): a hit skips the export and onnxruntime's optimiser.
import { invalidArgument, UsageError } from '../../core/errors.js';
import { tf, tfl } from '../tfjs/tf.js';
import { cacheEntry, cacheKey, describeArchitecture, hashWeights, optimizedModelPath, prepareEntryDir, readCached, resolveCacheDir, writeCached, type CompileInfo } from './compiled_cache.js';
import { exportOnnx } from './export.js';
import { createOnnxRunner, type OnnxOutput, type OnnxRunner, type OnnxRunnerOptions } from './session.js';
import { frozenPrefixEnd } from './frozen_prefix.js';
import { splitAtLayer } from './split_at_layer.js';

export interface FrozenEngineOptions extends OnnxRunnerOptions {
  /**
   * Name of the last frozen layer: everything from the inputs up to its output runs on onnxruntime.
   * Default: where the model's non-trainable prefix ends (frozenPrefixEnd).
   */
  frozenUpTo?: string;
  /**
   * Directory of the on-disk cache of optimised prefixes; false: no cache. Default: $TLKIT_CACHE_DIR,
   * else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit.
   */
  cacheDir?: string | false;
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
  /** The prefix as ONNX bytes: as exported, or as onnxruntime optimised it when the cache served it. */
  onnxModel: Uint8Array;
  /**
   * sha256 that changes with the architecture, the cut, every frozen weight, onnxruntime's version and
   * the export code. The feature cache keys on it.
   */
  fingerprint: string;
  /** What the session cost to get ready, and whether the cache served it. */
  compileInfo: CompileInfo;
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
  const started = performance.now();
  const { prefix, rest, boundaryLayer, boundaryShape } = splitAtLayer(model, frozenUpTo);
  const description = { architecture: describeArchitecture(prefix), weights: hashWeights(prefix), level: options.graphOptimizationLevel ?? 'all' };
  const fingerprint = await cacheKey('frozen-prefix', description);
  const { runner, onnxModel, cache } = await openPrefix(prefix, description, options);
  const compileInfo: CompileInfo = { compileMs: performance.now() - started, cache };

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
    compileInfo,
    dispose: () => runner.dispose(),
  };
}

/** The prefix's session: from the cache when it holds this prefix, else exported, optimised and stored. */
async function openPrefix(prefix: tfl.LayersModel, description: unknown, options: FrozenEngineOptions): Promise<{ runner: OnnxRunner; onnxModel: Uint8Array; cache: CompileInfo['cache'] }> {
  const dir = resolveCacheDir(options.cacheDir);
  const entry = dir ? await cacheEntry(dir, 'frozen-prefix', description) : undefined;
  const hit = entry && (await readCached<Record<string, never>>(entry));
  if (hit) {
    // Already optimised, with CPU-specific kernels: no second pass. A graph that fails to load is rebuilt.
    const runner = await createOnnxRunner(hit.model, { ...options, graphOptimizationLevel: 'disabled' }).catch(() => undefined);
    if (runner) return { runner, onnxModel: hit.model, cache: 'hit' };
  }
  const onnxModel = await exportOnnx(prefix);
  const optimized = entry && (await prepareEntryDir(entry)) ? optimizedModelPath(entry) : undefined;
  const runner = await createOnnxRunner(onnxModel, { ...options, saveOptimizedModelTo: optimized });
  if (entry && optimized) await writeCached(entry, optimized, {});
  return { runner, onnxModel, cache: entry ? 'miss' : 'off' };
}
