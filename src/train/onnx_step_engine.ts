// fit's second engine: each batch is one session.run of the compiled ONNX training step (forward,
// loss, backward and optimizer update on onnxruntime-node). The tfjs-layers model stays the model of
// record: its weights are brought up to date (syncToModel) whenever something outside the step reads
// them (validation, checkpoints, EarlyStopping, the end of fit).
import { canCompileTrainingStep, compileTrainingStep, type CompiledTrainingStep, type FlatWeightPlacement } from '../engines/onnx/training/compile_training_step.js';
import { buildTrainingGraph } from '../engines/onnx/training/training_graph.js';
import { frozenPrefixEnd } from '../engines/onnx/frozen_prefix.js';
import type { tf, tfl } from '../engines/tfjs/tf.js';
import { TrainingError } from '../core/errors.js';
import { trueClasses } from './losses.js';
import type { SavedArray } from './optimizers.js';
import { describeConversion, flatSlotLayoutOf, flatStateFromSaved, flatStateToSaved, tfjsToFlatState, trainableWeightInfos, type FlatOptimizerState, type FlatSlotLayout } from './optimizer_state_convert.js';
import type { LossName } from '../core/names.js';

/** fit's `engine` option: 'tfjs' (default), 'onnx' (the compiled step, or an error), 'auto'. */
export type FitEngineChoice = 'tfjs' | 'onnx' | 'auto';
export const FIT_ENGINES: readonly FitEngineChoice[] = ['tfjs', 'onnx', 'auto'];

/** The engine tag stored in checkpoints and results. */
export type StepEngineName = 'tfjs' | 'onnx-step';

export interface EngineDecision {
  engine: StepEngineName;
  /** Why: one line for logs. */
  reason: string;
}

/**
 * Whether the compiled step can train `model` with this optimizer: only Adam and plain SGD given by
 * name (the compiled step's optimizers, with the settings createOptimizer uses), and a model it compiles.
 */
export function onnxStepSupport(model: tfl.LayersModel, loss: LossName, optimizer: unknown): { ok: boolean; reason?: string } {
  if (optimizer !== 'adam' && optimizer !== 'sgd') {
    return { ok: false, reason: `optimizer ${typeof optimizer === 'string' ? `'${optimizer}'` : 'given as a tf.Optimizer'} is not one of the compiled step's (adam, sgd)` };
  }
  return canCompileTrainingStep(model, { loss });
}

/**
 * The rule of 'auto': the compiled step when nothing at the model's start is frozen (full or nearly
 * full fine-tuning, where tfjs is slowest) and it supports the model; otherwise tfjs (a frozen prefix
 * is trainRun's onnx-frozen engine's job, and a small trainable head gains little).
 */
export function decideEngine(model: tfl.LayersModel, choice: FitEngineChoice, loss: LossName, optimizer: unknown): EngineDecision {
  if (choice === 'tfjs') return { engine: 'tfjs', reason: 'tfjs requested' };
  if (choice === 'auto' && frozenPrefixEnd(model) !== undefined) return { engine: 'tfjs', reason: 'the first layers are frozen (only the rest trains)' };
  const support = onnxStepSupport(model, loss, optimizer);
  if (support.ok) return { engine: 'onnx-step', reason: choice === 'onnx' ? 'compiled ONNX training step requested' : 'the whole model trains and the compiled ONNX step supports it' };
  return { engine: 'tfjs', reason: `the compiled ONNX training step cannot train this model: ${support.reason}` };
}

export interface OnnxStepEngineOptions {
  loss: LossName;
  optimizer: 'adam' | 'sgd';
  learningRate: number;
  /**
   * Optimizer state of a checkpoint to continue from (applied once the step is compiled), in the format
   * of the engine that wrote it (`resumeEngine`, default 'onnx-step'): a tfjs state is converted then.
   */
  resumeState?: SavedArray[];
  resumeEngine?: StepEngineName;
  /** The flat layout stored with an onnx-step resume state (kept for a checkpoint before the first step). */
  resumeLayout?: FlatSlotLayout;
  /** Told once a resumed tfjs state has been converted (one line). */
  onLog?: (message: string) => void;
  intraOpNumThreads?: number;
}

/** Optimizer state for a checkpoint, in the format of `engine`; onnx-step states carry their layout. */
export interface EngineOptimizerState {
  engine: StepEngineName;
  optimizerWeights: SavedArray[];
  optimizerLayout?: FlatSlotLayout;
}

/** The compiled step's flat layout for `model` without compiling a session (its graph alone). */
export function compiledStepLayout(model: tfl.LayersModel, loss: LossName): FlatSlotLayout {
  const graph = buildTrainingGraph(model, { batchSize: 2, loss, optimizer: 'gradients' });
  const placements: FlatWeightPlacement[] = [...graph.flatOffsets].map(([slot, offset]) => ({ variable: slot.variable, offset, kerasShape: slot.kerasShape, layout: slot.layout }));
  return flatSlotLayoutOf(model, placements);
}

type PendingState = { engine: 'onnx-step'; state: FlatOptimizerState; layout?: FlatSlotLayout } | { engine: 'tfjs'; saved: SavedArray[] };

export class OnnxStepEngine {
  private step: CompiledTrainingStep | undefined;
  private layout: FlatSlotLayout | undefined;
  private pending: PendingState | undefined;
  /** True while the step holds newer weights than the tfjs model. */
  private modelStale = false;

  constructor(
    private readonly model: tfl.LayersModel,
    private readonly options: OnnxStepEngineOptions,
  ) {
    const saved = options.resumeState;
    if (saved) {
      this.pending = (options.resumeEngine ?? 'onnx-step') === 'tfjs' ? { engine: 'tfjs', saved } : { engine: 'onnx-step', state: flatStateFromSaved(saved), layout: options.resumeLayout };
    }
  }

  /** Compiles on the first batch (its size is the compiled batch size) and reads the model's weights. */
  private async open(batchSize: number): Promise<CompiledTrainingStep> {
    if (this.step) return this.step;
    const step = await compileTrainingStep(this.model, {
      loss: this.options.loss,
      optimizer: this.options.optimizer,
      learningRate: this.options.learningRate,
      batchSize,
      intraOpNumThreads: this.options.intraOpNumThreads,
    });
    this.layout = flatSlotLayoutOf(this.model, step.flatLayout());
    try {
      let state: FlatOptimizerState | undefined;
      if (this.pending?.engine === 'tfjs') {
        const weights = trainableWeightInfos(this.model);
        state = tfjsToFlatState(this.pending.saved, this.options.optimizer, this.layout, weights);
        this.options.onLog?.(describeConversion('tfjs', 'onnx-step', this.options.optimizer, state.iterations, weights.length));
      } else if (this.pending) {
        state = this.pending.state;
      }
      // A state without slots (no step taken before the checkpoint) keeps the fresh step's zeros.
      if (state) step.setOptimizerState(state.slots.length > 0 ? state : { iterations: state.iterations, slots: step.getOptimizerState().slots });
    } catch (error) {
      await step.dispose();
      throw error;
    }
    this.pending = undefined;
    this.step = step;
    return step;
  }

  /** One training step; the learning rate is the one fit's optimizer holds now (callbacks change it). */
  async trainBatch(x: tf.Tensor, y: tf.Tensor, classWeights: number[] | undefined, learningRate: number, seed: number, where: string): Promise<{ loss: number; correct: number; size: number }> {
    const step = await this.open(x.shape[0]);
    if (step.getLearningRate() !== learningRate) step.setLearningRate(learningRate);
    let sampleWeight: Float32Array | undefined;
    if (classWeights) {
      const classes = trueClasses(this.options.loss, y);
      const indices = classes.dataSync();
      classes.dispose();
      sampleWeight = Float32Array.from(indices, (k) => classWeights[k]);
    }
    try {
      const result = await step.step(x, y, { sampleWeight, seed });
      this.modelStale = true;
      return { loss: result.loss, correct: result.correct, size: x.shape[0] };
    } catch (error) {
      if (error instanceof TrainingError) {
        throw new TrainingError(`${error.message}; ${where}: training stopped before applying this step`, { cause: error });
      }
      throw error;
    }
  }

  /** Writes the step's weights and BatchNorm statistics into the tfjs model (no-op when it is current). */
  syncToModel(): void {
    if (this.step && this.modelStale) this.step.syncWeightsToModel();
    this.modelStale = false;
  }

  /** Re-reads the model's weights after something wrote them, keeping the optimizer state. */
  syncFromModel(): void {
    if (!this.step) return;
    const state = this.step.getOptimizerState();
    this.step.syncWeightsFromModel();
    this.step.setOptimizerState(state);
    this.modelStale = false;
  }

  /**
   * The optimizer state for a checkpoint. Before the first step it is the resumed one, as it came (a tfjs
   * state not converted yet stays tfjs, and its checkpoint says so).
   */
  optimizerState(): EngineOptimizerState {
    if (this.step) return { engine: 'onnx-step', optimizerWeights: flatStateToSaved(this.step.getOptimizerState()), optimizerLayout: this.layout };
    if (this.pending?.engine === 'tfjs') return { engine: 'tfjs', optimizerWeights: this.pending.saved };
    if (this.pending) return { engine: 'onnx-step', optimizerWeights: flatStateToSaved(this.pending.state), optimizerLayout: this.pending.layout };
    return { engine: 'onnx-step', optimizerWeights: [] };
  }

  async dispose(): Promise<void> {
    await this.step?.dispose();
    this.step = undefined;
  }
}
