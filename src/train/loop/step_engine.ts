// What fit loops over: a step engine computes one training step (forward, loss, backward, update) and
// owns the optimizer state in its own format. tfjs (the reference) and the compiled ONNX step
// implement it; fit itself never asks which one it has.
import type { tf, tfl } from '../../engines/tfjs/tf.js';
import type { LossName, OptimizerName, StepEngineName } from '../../core/names.js';
import type { TrainingCheckpoint } from './checkpoint.js';
import type { SavedArray } from './optimizers.js';
import type { FlatSlotLayout } from './optimizer_state_convert.js';

export interface StepResult {
  /** Mean loss of the batch (class-weighted as Keras weights it). */
  loss: number;
  /** Samples whose predicted class is the true one. */
  correct: number;
  size: number;
}

/** Optimizer state for a checkpoint, in the format of `engine`; onnx-step states carry their layout. */
export interface EngineOptimizerState {
  engine: StepEngineName;
  optimizerWeights: SavedArray[];
  optimizerLayout?: FlatSlotLayout;
}

export interface StepContext {
  /** Seeds the step's random ops (Dropout): same seed, same step. */
  seed: number;
  /** The learning rate fit's optimizer holds now (callbacks such as ReduceLROnPlateau change it). */
  learningRate: number;
  /** Where the step is, for error messages ('epoch 2, batch 5'). */
  where: string;
}

export interface StepEngine {
  readonly name: StepEngineName;
  trainBatch(x: tf.Tensor, y: tf.Tensor, step: StepContext): Promise<StepResult>;
  /** Brings the tfjs model's weights up to date (validation, checkpoints and callbacks read them). */
  syncToModel(): void;
  optimizerState(): Promise<EngineOptimizerState>;
  /** A faster forward pass for validation, when the engine has one (undefined: run the tfjs model). */
  validationPredictor?(): Promise<{ predict: (x: tf.Tensor) => Promise<tf.Tensor>; dispose: () => Promise<void> } | undefined>;
  dispose(): Promise<void>;
}

export interface StepEngineOptions {
  model: tfl.LayersModel;
  /** fit's optimizer: its learning rate is the one of record; the tfjs engine also applies its updates. */
  optimizer: tf.Optimizer;
  /** The optimizer's Keras name when it was given by name (the compiled step needs one). */
  optimizerName?: OptimizerName;
  loss: LossName;
  classWeights?: number[];
  /** A checkpoint whose optimizer state the engine continues from (converted if the other engine wrote it). */
  resume?: TrainingCheckpoint;
  onLog?: (message: string) => void;
  /** onnxruntime threads of the compiled step (default: all cores). */
  intraOpNumThreads?: number;
}

/** The step engine `name` for these options. Engines load lazily: the tfjs one needs no onnxruntime. */
export async function createStepEngine(name: StepEngineName, options: StepEngineOptions): Promise<StepEngine> {
  if (name === 'onnx-step') {
    const { OnnxStepEngine } = await import('./onnx_step_engine.js');
    return OnnxStepEngine.create(options);
  }
  const { TfjsStepEngine } = await import('./tfjs_step_engine.js');
  return TfjsStepEngine.create(options);
}
