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
import * as ort from 'onnxruntime-node';
import { cacheEntry, cacheKey, describeArchitecture, hashWeights, optimizedModelPath, prepareEntryDir, readCached, resolveCacheDir, sha256, writeCached, type CompileInfo } from './compiled_cache.js';
import { nodeInModel, type SymbolicTensor } from './model_graph.js';
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
  /**
   * Layers (inside the prefix) whose outputs the prefix graph also returns, after the boundary's: the
   * boundaries later phases will cut at, so one forward pass writes all of them (see outputsOf).
   */
  alsoOutput?: string[];
}

/** One tensor the prefix graph returns. */
export interface FrozenBoundary {
  layerName: string;
  /** One image's shape (no batch axis). */
  shape: number[];
  /**
   * sha256 over what decides this tensor's values: the architecture up to it (trainability left out),
   * every weight it depends on, and onnxruntime's version. Equal for the same cut whichever engine
   * computes it, so a later phase finds what an earlier one stored.
   */
  fingerprint: string;
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
  /** Every tensor the graph returns: [0] is the boundary the head consumes, then alsoOutput's. */
  boundaries: FrozenBoundary[];
  /** Every boundary's values for a NHWC batch, in `boundaries` order. */
  outputsOf(x: tf.Tensor): Promise<OnnxOutput[]>;
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
  const extras = extraOutputs(model, frozenUpTo, options.alsoOutput ?? []);
  // The exported graph: the boundary, then the extra outputs (the same graph when there are none).
  const exported = extras.length === 0 ? prefix : tfl.model({ inputs: model.inputs, outputs: [prefix.outputs[0], ...extras.map((e) => e.tensor)], name: `${prefix.name}_and_${extras.length}` });
  const description = { architecture: describeArchitecture(exported), weights: hashWeights(exported), level: options.graphOptimizationLevel ?? 'all' };
  const fingerprint = await cacheKey('frozen-prefix', description);
  const { runner, onnxModel, cache } = await openPrefix(exported, description, options);
  const compileInfo: CompileInfo = { compileMs: performance.now() - started, cache };
  const boundaries: FrozenBoundary[] = [
    { layerName: boundaryLayer.name, shape: boundaryShape.slice(1) as number[], fingerprint: boundaryFingerprint(prefix) },
    ...extras.map((e) => ({ layerName: e.layerName, shape: e.tensor.shape.slice(1) as number[], fingerprint: boundaryFingerprint(tfl.model({ inputs: model.inputs, outputs: e.tensor })) })),
  ];

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
    boundaries,
    async outputsOf(x) {
      const all = await runner.runAll((await x.data()) as Float32Array, x.shape);
      return runner.outputNames.map((name) => all[name]);
    },
    dispose: () => runner.dispose(),
  };
}

/**
 * The output tensors of `names` in a flat model, each at or before the cut (a layer after it, or one
 * that is not a single-output layer of the top-level graph, is left out: that phase computes its own).
 */
function extraOutputs(model: tfl.LayersModel, frozenUpTo: string, names: string[]): { layerName: string; tensor: SymbolicTensor }[] {
  const cut = model.layers.findIndex((l) => l.name === frozenUpTo);
  const out: { layerName: string; tensor: SymbolicTensor }[] = [];
  for (const name of new Set(names)) {
    const at = model.layers.findIndex((l) => l.name === name);
    if (name === frozenUpTo || at < 0 || cut < 0 || at > cut) continue;
    const tensors = nodeInModel(model, model.layers[at]).outputTensors;
    if (tensors.length === 1 && tensors[0].shape.slice(1).every((d) => typeof d === 'number')) out.push({ layerName: name, tensor: tensors[0] });
  }
  return out;
}

/** See FrozenBoundary.fingerprint. */
function boundaryFingerprint(prefix: tfl.LayersModel): string {
  const architecture = describeArchitecture(prefix) as { calls: { trainable?: boolean; weights: [number, unknown, boolean][] }[] };
  const calls = architecture.calls.map(({ trainable: _trainable, weights, ...call }) => ({ ...call, weights: weights.map(([index, shape]) => [index, shape]) }));
  return sha256(JSON.stringify({ format: 1, architecture: { ...architecture, calls }, weights: hashWeights(prefix), onnxruntime: ort.env.versions }));
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
