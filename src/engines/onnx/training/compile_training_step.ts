// The compiled training step: one onnxruntime-node session.run = forward + loss + backward + optimizer
// update of a tfjs-layers model. Weights, optimizer slots and BatchNorm moving statistics stay in
// tlkit's hands (Float32Arrays in the graph's layout, fed in and taken back each step); the trained
// values go back into the same tfjs-layers model with syncWeightsToModel().
import * as ort from 'onnxruntime-node';
import { invalidArgument, TlkitError, TrainingError, UsageError } from '../../../core/errors.js';
import { resolveLoss } from '../../../core/names.js';
import { seededUniform } from '../../../core/random.js';
import type { LossName } from '../../../core/names.js';
import { tf, type tfl } from '../../tfjs/tf.js';
import type { LayersModel } from '../model_graph.js';
import { cacheEntry, optimizedModelPath, prepareEntryDir, readCached, resolveCacheDir, writeCached, type CompileInfo } from '../compiled_cache.js';
import { checkOptimizerSettings, slotNames, stepScalarValues, type OptimizerSettings } from './optimizer_update.js';
import { createStepSession } from './step_session.js';
import { probeNchwcBlockSize } from './nchwc.js';
import { kerasToOnnx, onnxToKeras, type ParamLayout, type ParamSlot } from './params.js';
import { UnsupportedLayer } from '../layers/index.js';
import { buildTrainingGraph, GRAPH_NAMES, type TrainingGraph } from './training_graph.js';
import { describeTrainingStep, trainingGraphFromRecord, trainingGraphRecord, type TrainingGraphRecord } from './training_step_cache.js';

export interface CompileTrainingStepOptions {
  /** Keras loss name: binary_crossentropy, sparse_categorical_crossentropy, categorical_crossentropy. */
  loss: LossName | string;
  /** 'adam' (default) or 'sgd' (with `momentum`, default 0). */
  optimizer?: 'adam' | 'sgd';
  /** Default: Keras's (Adam 1e-3, SGD 1e-2). */
  learningRate?: number;
  /** Batch size the graph is compiled for; other sizes (a last partial batch) compile on first use. */
  batchSize: number;
  momentum?: number;
  beta1?: number;
  beta2?: number;
  /** Adam epsilon; default 1e-7 (Keras, and tlkit's tfjs engine). */
  epsilon?: number;
  /** Seed of the dropout masks. Default 0. */
  seed?: number;
  /** onnxruntime threads inside one op. Default: os.availableParallelism(). */
  intraOpNumThreads?: number;
  /** onnxruntime threads running independent ops at once (> 1: parallel execution mode). Default 1. */
  interOpNumThreads?: number;
  /** Let idle intra-op threads spin while waiting for work (onnxruntime's default). Default false. */
  allowSpinning?: boolean;
  /**
   * Writes onnxruntime's per-node profile (Chrome trace JSON) to files starting with this path; a file
   * is complete once the step is disposed (bench/train_onnx.ts --profile reads it).
   */
  profilePrefix?: string;
  /**
   * Directory of the on-disk cache of compiled steps (compiled_cache.ts), keyed by the model's
   * architecture, trainable set, batch size and these options (not its weights, which are graph inputs).
   * false: no cache. Default: $TLKIT_CACHE_DIR, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit.
   */
  cacheDir?: string | false;
}

export interface TrainingStepResult {
  /** Batch loss (mean over the batch of sampleWeight * per-sample loss), before the update. */
  loss: number;
  /** Samples whose predicted class (argmax, or p > 0.5 for one sigmoid unit) equals the label's. */
  correct: number;
  /** The model output for the batch, [N, classes] row-major. */
  output: Float32Array;
}

export interface TrainingStepOptions {
  /** Per-sample loss weights (class weights gathered by label). Default 1. */
  sampleWeight?: ArrayLike<number>;
  /** Seed of this step's dropout masks (e.g. mixSeed(seed, epoch, batch) for exact resume). */
  seed?: number;
}

export interface CompiledTrainingStep {
  /**
   * One step on a batch: x [N, ...inputShape] (NHWC); y as the loss wants it (class indices for sparse,
   * one-hot for categorical, 0/1 for binary). When the loss or the updated weights are not finite the
   * step throws a TrainingError and the weights stay as they were before it.
   */
  step(x: tf.Tensor | Float32Array, y: tf.Tensor | Float32Array | ArrayLike<number>, options?: TrainingStepOptions): Promise<TrainingStepResult>;
  /** Writes the current weights and BatchNorm statistics into the tfjs-layers model's variables. */
  syncWeightsToModel(): void;
  /** Re-reads the model's weights (e.g. after loading a checkpoint into it); optimizer slots restart at 0. */
  syncWeightsFromModel(): void;
  setLearningRate(learningRate: number): void;
  getLearningRate(): number;
  /** Steps taken. */
  readonly iterations: number;
  /** Fixed cost of this step: compile time and whether the cache served it. */
  readonly compileInfo: CompileInfo;
  /** Copies of the optimizer's state, for checkpoints: the step count and the slots (Adam m, v; SGD momentum). */
  getOptimizerState(): OptimizerState;
  /**
   * Puts back a state from getOptimizerState of a step compiled from the same model and optimizer
   * (call after syncWeightsFromModel, which resets the slots). Slot count and sizes are checked.
   */
  setOptimizerState(state: OptimizerState): void;
  /**
   * Where each trainable weight sits in the flat slot vectors and in which layout, so optimizer state can
   * be moved to and from another engine's per-variable slots (train/loop/optimizer_state_convert.ts).
   */
  flatLayout(): FlatWeightPlacement[];
  dispose(): Promise<void>;
}

/** One trainable weight's place in the compiled step's flat vectors (weights and optimizer slots). */
export interface FlatWeightPlacement {
  variable: tfl.LayerVariable;
  offset: number;
  kerasShape: number[];
  layout: ParamLayout;
}

/** The compiled step's optimizer state: slots are flat vectors over the graph's trainable weights. */
export interface OptimizerState {
  iterations: number;
  slots: Float32Array[];
}

interface CompiledSession {
  graph: TrainingGraph;
  session: ort.InferenceSession;
  cache: CompileInfo['cache'];
}

interface FlatStore {
  /** Every trainable weight, concatenated in graph order (ONNX layout). */
  weights: Float32Array;
  /** Optimizer slots over the same vector. */
  slots: Float32Array[];
  /** Where each trainable variable sits in `weights`. */
  offsets: Map<tfl.LayerVariable, { offset: number; slot: ParamSlot }>;
}

const DEFAULT_LR = { adam: 1e-3, sgd: 1e-2 } as const;

/** Constant fills of at least this size go into the cached step as ConstantOfShape nodes (compiled_cache.ts). */
const UNFOLD_FILLS_OVER = 1 << 20;

function allFinite(values: Float32Array): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * 0;
  return sum === 0;
}

function argmax(values: ArrayLike<number>, start: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[start + k] > values[start + best]) best = k;
  return best;
}

/** Whether `compileTrainingStep` can compile `model` (every layer class and config has a rule). */
export function canCompileTrainingStep(model: LayersModel, options: { loss?: LossName | string } = {}): { ok: boolean; reason?: string } {
  try {
    buildTrainingGraph(model, { batchSize: 2, loss: options.loss ? resolveLoss(options.loss) : 'categorical_crossentropy', optimizer: 'gradients' });
    return { ok: true };
  } catch (error) {
    if (error instanceof UnsupportedLayer) return { ok: false, reason: error.message };
    if (error instanceof UsageError) throw error;
    return { ok: false, reason: (error as Error).message };
  }
}

export async function compileTrainingStep(model: LayersModel, options: CompileTrainingStepOptions): Promise<CompiledTrainingStep> {
  const optimizerName = options.optimizer ?? 'adam';
  if (optimizerName !== 'adam' && optimizerName !== 'sgd') throw invalidArgument('optimizer', optimizerName, "'adam' or 'sgd' (the compiled step's optimizers)");
  const settings: OptimizerSettings =
    optimizerName === 'adam'
      ? { kind: 'adam', beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, epsilon: options.epsilon ?? 1e-7 }
      : { kind: 'sgd', momentum: options.momentum ?? 0 };
  checkOptimizerSettings(settings);
  let learningRate = options.learningRate ?? DEFAULT_LR[optimizerName];
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) throw invalidArgument('learningRate', options.learningRate, 'a finite number > 0');
  const started = performance.now();
  const step = new TrainingStepRunner(model, resolveLoss(options.loss), settings, options);
  const { cache } = await step.sessionFor(options.batchSize);
  step.syncWeightsFromModel();
  const compileInfo: CompileInfo = { compileMs: performance.now() - started, cache };
  return {
    step: (x, y, stepOptions) => step.run(x, y, stepOptions ?? {}, learningRate),
    syncWeightsToModel: () => step.syncWeightsToModel(),
    syncWeightsFromModel: () => step.syncWeightsFromModel(),
    setLearningRate(lr) {
      if (!(lr > 0) || !Number.isFinite(lr)) throw invalidArgument('learningRate', lr, 'a finite number > 0');
      learningRate = lr;
    },
    getLearningRate: () => learningRate,
    get iterations() {
      return step.iterations;
    },
    compileInfo,
    getOptimizerState: () => step.getOptimizerState(),
    setOptimizerState: (state) => step.setOptimizerState(state),
    flatLayout: () => step.flatLayout(),
    dispose: () => step.dispose(),
  };
}

/**
 * Gradients of the loss w.r.t. every trainable weight (Keras layout, by variable name), and the loss:
 * the graph without the optimizer update. For tests and gradient checks. `dropoutMasks` replaces the
 * seeded masks (one array per Dropout layer, in model order).
 */
export async function computeGradients(
  model: LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: { loss: LossName | string; dropoutMasks?: Float32Array[]; intraOpNumThreads?: number },
): Promise<{ loss: number; gradients: Map<string, Float32Array>; state: Map<string, Float32Array> }> {
  const runner = new TrainingStepRunner(model, resolveLoss(options.loss), 'gradients', { batchSize: x.shape[0], intraOpNumThreads: options.intraOpNumThreads, cacheDir: false });
  try {
    const compiled = await runner.sessionFor(x.shape[0]);
    runner.syncWeightsFromModel();
    const results = await runner.execute(compiled, x, y, {}, [], options.dropoutMasks);
    const gradients = new Map<string, Float32Array>();
    const state = new Map<string, Float32Array>();
    for (const slot of compiled.graph.params) {
      const outs = compiled.graph.paramOutputs.get(slot);
      if (!outs) continue;
      const data = results[outs[0]].data as Float32Array;
      (slot.trainable ? gradients : state).set(slot.variable.name, onnxToKeras(data, slot.kerasShape, slot.layout));
    }
    return { loss: (results[GRAPH_NAMES.loss].data as Float32Array)[0], gradients, state };
  } finally {
    await runner.dispose();
  }
}

class TrainingStepRunner {
  private readonly sessions = new Map<number, Promise<CompiledSession>>();
  /** Non-trainable weights (BatchNorm statistics, frozen layers), ONNX layout. */
  private readonly state = new Map<tfl.LayerVariable, { value: Float32Array; slot: ParamSlot }>();
  private flat: FlatStore = { weights: new Float32Array(0), slots: [], offsets: new Map() };
  private readonly compiledGraphs: TrainingGraph[] = [];
  iterations = 0;
  private readonly random: () => number;

  constructor(
    private readonly model: LayersModel,
    private readonly loss: LossName,
    private readonly optimizer: OptimizerSettings | 'gradients',
    private readonly options: { batchSize: number; seed?: number; intraOpNumThreads?: number; interOpNumThreads?: number; allowSpinning?: boolean; profilePrefix?: string; cacheDir?: string | false },
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw invalidArgument('batchSize', options.batchSize, 'a positive integer');
    this.random = seededUniform(options.seed ?? 0, 0x0badd00d);
  }

  sessionFor(batch: number): Promise<CompiledSession> {
    let pending = this.sessions.get(batch);
    if (!pending) {
      pending = this.compile(batch).then((compiled) => {
        this.compiledGraphs.push(compiled.graph);
        return compiled;
      });
      this.sessions.set(batch, pending);
    }
    return pending;
  }

  /** The session for `batch`: from the on-disk cache when it holds this step, else built (and stored). */
  private async compile(batch: number): Promise<CompiledSession> {
    await probeNchwcBlockSize(); // decides where the blocked depthwise kernels can be used
    const dir = resolveCacheDir(this.options.cacheDir);
    const entry = dir ? await cacheEntry(dir, 'training-step', describeTrainingStep(this.model, { batchSize: batch, loss: this.loss, optimizer: this.optimizer })) : undefined;
    if (entry) {
      const hit = await readCached<TrainingGraphRecord>(entry);
      let graph: TrainingGraph | undefined;
      try {
        graph = hit && trainingGraphFromRecord(hit.meta, this.model, hit.model);
      } catch {
        // A record that does not parse as this model's: rebuilt below.
      }
      if (graph) {
        try {
          // The cached graph is already optimised (and holds CPU-specific kernels): no second pass.
          return { graph, session: await this.createSession(graph.modelBytes, 'disabled'), cache: 'hit' };
        } catch {
          // A graph this onnxruntime cannot load: rebuilt below, which overwrites the entry.
        }
      }
    }
    let graph: TrainingGraph;
    try {
      graph = buildTrainingGraph(this.model, { batchSize: batch, loss: this.loss, optimizer: this.optimizer });
    } catch (error) {
      if (error instanceof UnsupportedLayer) {
        throw new TlkitError(`Cannot compile a training step for model '${this.model.name}' to ONNX: ${error.message}`, { cause: error });
      }
      throw error;
    }
    const optimized = entry && (await prepareEntryDir(entry)) ? optimizedModelPath(entry) : undefined;
    let session: ort.InferenceSession;
    try {
      session = await this.createSession(graph.modelBytes, 'all', optimized);
    } catch (error) {
      throw new TlkitError(`onnxruntime-node could not load the training step of '${this.model.name}': ${(error as Error).message}`, { cause: error });
    }
    if (entry && optimized) await writeCached(entry, optimized, trainingGraphRecord(graph, this.model), { unfoldFillsOver: UNFOLD_FILLS_OVER });
    return { graph, session, cache: entry ? 'miss' : 'off' };
  }

  private createSession(modelBytes: Uint8Array, level: 'all' | 'disabled', saveOptimizedTo?: string): Promise<ort.InferenceSession> {
    const { intraOpNumThreads, interOpNumThreads, allowSpinning, profilePrefix } = this.options;
    // onnxruntime writes the graph as it optimised it to saveOptimizedTo; writeCached stores it.
    return createStepSession(modelBytes, { intraOpNumThreads, interOpNumThreads, allowSpinning, profilePrefix, level, saveOptimizedTo });
  }

  /** Reads every weight the compiled graphs use from the tfjs model; optimizer slots restart at 0. */
  syncWeightsFromModel(): void {
    const graph = this.compiledGraphs[0];
    if (!graph) throw new Error('internal: no compiled graph to lay the weights out');
    const offsets = new Map<tfl.LayerVariable, { offset: number; slot: ParamSlot }>();
    let size = 0;
    for (const [slot, offset] of graph.flatOffsets) {
      offsets.set(slot.variable, { offset, slot });
      size = Math.max(size, offset + slot.shape.reduce((a, b) => a * b, 1));
    }
    const weights = new Float32Array(size);
    this.state.clear();
    for (const slot of graph.params) {
      const keras = slot.variable.read().dataSync() as Float32Array;
      const place = offsets.get(slot.variable);
      // Trainable weights go straight into their place in the flat vector.
      if (place) kerasToOnnx(keras, slot.kerasShape, slot.layout, weights.subarray(place.offset, place.offset + keras.length));
      else this.state.set(slot.variable, { value: kerasToOnnx(keras, slot.kerasShape, slot.layout), slot });
    }
    const slotCount = this.optimizer === 'gradients' ? 0 : slotNames(this.optimizer).length;
    this.flat = { weights, slots: Array.from({ length: slotCount }, () => new Float32Array(size)), offsets };
    this.iterations = 0;
  }

  getOptimizerState(): OptimizerState {
    return { iterations: this.iterations, slots: this.flat.slots.map((slot) => Float32Array.from(slot)) };
  }

  setOptimizerState(state: OptimizerState): void {
    const expected = this.flat.slots;
    if (!Number.isInteger(state.iterations) || state.iterations < 0) throw invalidArgument('state.iterations', state.iterations, 'an integer >= 0');
    if (state.slots.length !== expected.length) {
      throw invalidArgument('state.slots', `${state.slots.length} slots`, `${expected.length} (the slots of this optimizer: ${this.optimizer === 'gradients' ? 'none' : slotNames(this.optimizer).join(', ') || 'none'})`);
    }
    state.slots.forEach((slot, i) => {
      if (slot.length !== expected[i].length) throw invalidArgument(`state.slots[${i}]`, `${slot.length} values`, `${expected[i].length} (one per trainable weight value of this model)`);
    });
    this.flat.slots = state.slots.map((slot) => Float32Array.from(slot));
    this.iterations = state.iterations;
  }

  flatLayout(): FlatWeightPlacement[] {
    return [...this.flat.offsets].map(([variable, { offset, slot }]) => ({ variable, offset, kerasShape: slot.kerasShape.slice(), layout: slot.layout }));
  }

  syncWeightsToModel(): void {
    const write = (variable: tfl.LayerVariable, slot: ParamSlot, data: Float32Array): void => {
      const tensor = tf.tensor(onnxToKeras(data, slot.kerasShape, slot.layout), slot.kerasShape, 'float32');
      variable.write(tensor);
      tensor.dispose();
    };
    for (const [variable, { offset, slot }] of this.flat.offsets) write(variable, slot, this.weightView(offset, slot));
    for (const [variable, { value, slot }] of this.state) write(variable, slot, value);
  }

  private weightView(offset: number, slot: ParamSlot): Float32Array {
    return this.flat.weights.subarray(offset, offset + slot.shape.reduce((a, b) => a * b, 1));
  }

  async execute(compiled: CompiledSession, x: tf.Tensor | Float32Array, y: tf.Tensor | Float32Array | ArrayLike<number>, stepOptions: TrainingStepOptions, scalars: number[], masks?: Float32Array[]): Promise<ort.InferenceSession.OnnxValueMapType> {
    const sampleWeight = stepOptions.sampleWeight;
    const random = stepOptions.seed === undefined ? this.random : seededUniform(stepOptions.seed);
    const { graph, session } = compiled;
    const n = graph.inputShape[0];
    const xData = x instanceof Float32Array ? x : ((await x.data()) as Float32Array);
    if (xData.length !== graph.inputShape.reduce((a, b) => a * b, 1)) throw invalidArgument('x', x instanceof Float32Array ? `${xData.length} values` : (x as tf.Tensor).shape, `shape ${JSON.stringify(graph.inputShape)}`);
    const feeds: Record<string, ort.Tensor> = {
      [GRAPH_NAMES.x]: new ort.Tensor('float32', xData, graph.inputShape),
      [GRAPH_NAMES.labels]: new ort.Tensor('float32', await this.encodeLabels(y, graph), graph.labelShape),
      [GRAPH_NAMES.sampleWeight]: new ort.Tensor('float32', sampleWeight ? Float32Array.from(sampleWeight) : new Float32Array(n).fill(1), [n]),
    };
    graph.stepScalars.forEach((name, i) => {
      feeds[name] = new ort.Tensor('float32', new Float32Array([scalars[i]]), []);
    });
    for (const slot of graph.params) {
      const place = this.flat.offsets.get(slot.variable);
      const value = place ? this.weightView(place.offset, slot) : this.state.get(slot.variable)?.value;
      if (!value) throw new Error(`internal: no stored value for '${slot.variable.name}'`);
      // A view into the flat vector: onnxruntime reads it in place.
      feeds[slot.input] = new ort.Tensor('float32', value, slot.shape);
    }
    graph.flat?.slotInputs.forEach((name, i) => {
      feeds[name] = new ort.Tensor('float32', this.flat.slots[i], [graph.flat!.size]);
    });
    graph.dropout.forEach((d, i) => {
      const size = d.shape.reduce((a, b) => a * b, 1);
      let mask = masks?.[i];
      if (!mask) {
        mask = new Float32Array(size);
        const keep = 1 - d.rate;
        for (let j = 0; j < size; j++) mask[j] = random() < keep ? 1 / keep : 0;
      }
      feeds[d.input] = new ort.Tensor('float32', mask, d.shape);
    });
    return session.run(feeds);
  }

  private async encodeLabels(y: tf.Tensor | Float32Array | ArrayLike<number>, graph: TrainingGraph): Promise<Float32Array> {
    const raw = y instanceof tf.Tensor ? ((await y.data()) as Float32Array) : Float32Array.from(y as ArrayLike<number>);
    const [n, units] = graph.labelShape;
    if (this.loss === 'sparse_categorical_crossentropy') {
      if (raw.length !== n) throw invalidArgument('y', `${raw.length} labels`, `${n} class indices (sparse labels)`);
      const oneHot = new Float32Array(n * units);
      for (let i = 0; i < n; i++) {
        const k = Math.round(raw[i]);
        if (!(k >= 0 && k < units)) throw invalidArgument('y', raw[i], `class indices in [0, ${units - 1}]`);
        oneHot[i * units + k] = 1;
      }
      return oneHot;
    }
    if (raw.length !== n * units) throw invalidArgument('y', `${raw.length} values`, `${n * units} (labels of shape [${n}, ${units}])`);
    return raw;
  }

  async run(x: tf.Tensor | Float32Array, y: tf.Tensor | Float32Array | ArrayLike<number>, stepOptions: TrainingStepOptions, learningRate: number): Promise<TrainingStepResult> {
    if (this.optimizer === 'gradients') throw new Error('internal: gradient runner has no step');
    const batch = x instanceof Float32Array ? this.options.batchSize : x.shape[0];
    const compiled = await this.sessionFor(batch);
    const t = this.iterations + 1;
    const results = await this.execute(compiled, x, y, stepOptions, stepScalarValues(this.optimizer, learningRate, t));
    const loss = (results[GRAPH_NAMES.loss].data as Float32Array)[0];
    const flat = compiled.graph.flat;
    // The update is only taken when it is finite: tlkit still holds the previous weights and slots.
    if (!Number.isFinite(loss) || (flat && !allFinite(results[flat.weightOutput].data as Float32Array))) {
      throw new TrainingError(
        `the compiled training step produced a non-finite ${Number.isFinite(loss) ? 'weight update' : `loss (${loss})`} at step ${t}; ` +
          'the weights are left as they were before this batch (try a lower learning rate, or look for broken input images)',
      );
    }
    if (flat) {
      this.flat.weights = results[flat.weightOutput].data as Float32Array;
      this.flat.slots = flat.slotOutputs.map((name) => results[name].data as Float32Array);
    }
    for (const [slot, outs] of compiled.graph.paramOutputs) {
      const stored = this.state.get(slot.variable);
      if (stored) stored.value = results[outs[0]].data as Float32Array;
    }
    this.iterations = t;
    const output = results[GRAPH_NAMES.output].data as Float32Array;
    return { loss, output, correct: this.countCorrect(output, compiled.graph, y) };
  }

  private countCorrect(output: Float32Array, graph: TrainingGraph, y: tf.Tensor | Float32Array | ArrayLike<number>): number {
    const [n, units] = graph.labelShape;
    const labels = y instanceof tf.Tensor ? (y.dataSync() as Float32Array) : (y as ArrayLike<number>);
    let correct = 0;
    for (let i = 0; i < n; i++) {
      let predicted: number;
      let truth: number;
      if (units === 1) {
        predicted = output[i] > 0.5 ? 1 : 0;
        truth = labels[i] > 0.5 ? 1 : 0;
      } else {
        predicted = argmax(output, i * units, units);
        truth = this.loss === 'sparse_categorical_crossentropy' ? Math.round(labels[i]) : argmax(labels, i * units, units);
      }
      if (predicted === truth) correct++;
    }
    return correct;
  }

  async dispose(): Promise<void> {
    for (const pending of this.sessions.values()) {
      try {
        const { session } = await pending;
        if (this.options.profilePrefix) session.endProfiling();
        await session.release();
      } catch {
        // A session that failed to build has nothing to release.
      }
    }
    this.sessions.clear();
  }
}
