// fit's second engine: each batch is one session.run of the compiled ONNX training step (forward,
// loss, backward and optimizer update on onnxruntime-node). The tfjs-layers model stays the model of
// record: its weights are brought up to date (syncToModel) whenever something outside the step reads
// them (validation, checkpoints, EarlyStopping, the end of fit).
import { compileTrainingStep, type CompiledTrainingStep, type FlatWeightPlacement } from '../../engines/onnx/training/compile_training_step.js';
import { describeCompile } from '../../engines/onnx/compiled_cache.js';
import { buildTrainingGraph } from '../../engines/onnx/training/training_graph.js';
import { createOnnxPredictor } from '../../engines/onnx/predictor.js';
import type { tf, tfl } from '../../engines/tfjs/tf.js';
import type { EngineOptimizerState, StepContext, StepEngine, StepEngineOptions, StepResult } from './step_engine.js';
import { TrainingError } from '../../core/errors.js';
import { trueClasses } from '../../inference/losses.js';
import type { SavedArray } from './optimizers.js';
import { describeConversion, flatSlotLayoutOf, flatStateFromSaved, flatStateToSaved, tfjsToFlatState, trainableWeightInfos, type FlatOptimizerState, type FlatSlotLayout } from './optimizer_state_convert.js';
import type { LossName, StepEngineName } from '../../core/names.js';

/** The compiled step's flat layout for `model` without compiling a session (its graph alone). */
export function compiledStepLayout(model: tfl.LayersModel, loss: LossName): FlatSlotLayout {
  const graph = buildTrainingGraph(model, { batchSize: 2, loss, optimizer: 'gradients' });
  const placements: FlatWeightPlacement[] = [...graph.flatOffsets].map(([slot, offset]) => ({ variable: slot.variable, offset, kerasShape: slot.kerasShape, layout: slot.layout }));
  return flatSlotLayoutOf(model, placements);
}

type PendingState = { engine: 'onnx-step'; state: FlatOptimizerState; layout?: FlatSlotLayout } | { engine: 'tfjs'; saved: SavedArray[] };

export class OnnxStepEngine implements StepEngine {
  readonly name = 'onnx-step' as const;
  private step: CompiledTrainingStep | undefined;
  private layout: FlatSlotLayout | undefined;
  private pending: PendingState | undefined;
  /** True while the step holds newer weights than the tfjs model. */
  private modelStale = false;

  private constructor(
    private readonly options: StepEngineOptions,
    private readonly optimizer: 'adam' | 'sgd',
  ) {
    const resume = options.resume;
    if (resume) {
      const from: StepEngineName = resume.engine ?? 'tfjs';
      this.pending = from === 'tfjs' ? { engine: 'tfjs', saved: resume.optimizerWeights } : { engine: 'onnx-step', state: flatStateFromSaved(resume.optimizerWeights), layout: resume.optimizerLayout };
    }
  }

  static async create(options: StepEngineOptions): Promise<OnnxStepEngine> {
    const name = options.optimizerName;
    if (name !== 'adam' && name !== 'sgd') throw new TrainingError(`the compiled ONNX training step trains with adam or sgd given by name; got ${name === undefined ? 'a tf.Optimizer object' : `'${name}'`}`);
    return new OnnxStepEngine(options, name);
  }

  private get model(): tfl.LayersModel {
    return this.options.model;
  }

  /** Compiles on the first batch (its size is the compiled batch size) and reads the model's weights. */
  private async open(batchSize: number, learningRate: number): Promise<CompiledTrainingStep> {
    if (this.step) return this.step;
    const step = await compileTrainingStep(this.model, {
      loss: this.options.loss,
      optimizer: this.optimizer,
      learningRate,
      batchSize,
      intraOpNumThreads: this.options.intraOpNumThreads,
    });
    this.options.onLog?.(describeCompile('compiled training step', step.compileInfo));
    this.layout = flatSlotLayoutOf(this.model, step.flatLayout());
    try {
      let state: FlatOptimizerState | undefined;
      if (this.pending?.engine === 'tfjs') {
        const weights = trainableWeightInfos(this.model);
        state = tfjsToFlatState(this.pending.saved, this.optimizer, this.layout, weights);
        this.options.onLog?.(describeConversion('tfjs', 'onnx-step', this.optimizer, state.iterations, weights.length));
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

  async trainBatch(x: tf.Tensor, y: tf.Tensor, context: StepContext): Promise<StepResult> {
    const step = await this.open(x.shape[0], context.learningRate);
    if (step.getLearningRate() !== context.learningRate) step.setLearningRate(context.learningRate);
    const classWeights = this.options.classWeights;
    let sampleWeight: Float32Array | undefined;
    if (classWeights) {
      const classes = trueClasses(this.options.loss, y);
      const indices = classes.dataSync();
      classes.dispose();
      sampleWeight = Float32Array.from(indices, (k) => classWeights[k]);
    }
    try {
      const result = await step.step(x, y, { sampleWeight, seed: context.seed });
      this.modelStale = true;
      return { loss: result.loss, correct: result.correct, size: x.shape[0] };
    } catch (error) {
      if (error instanceof TrainingError) throw new TrainingError(`${error.message}; ${context.where}: training stopped before applying this step`, { cause: error });
      throw error;
    }
  }

  /** Writes the step's weights and BatchNorm statistics into the tfjs model (no-op when it is current). */
  syncToModel(): void {
    if (this.step && this.modelStale) this.step.syncWeightsToModel();
    this.modelStale = false;
  }

  /**
   * The optimizer state for a checkpoint. Before the first step it is the resumed one, as it came (a tfjs
   * state not converted yet stays tfjs, and its checkpoint says so).
   */
  async optimizerState(): Promise<EngineOptimizerState> {
    if (this.step) return { engine: 'onnx-step', optimizerWeights: flatStateToSaved(this.step.getOptimizerState()), optimizerLayout: this.layout };
    if (this.pending?.engine === 'tfjs') return { engine: 'tfjs', optimizerWeights: this.pending.saved };
    if (this.pending) return { engine: 'onnx-step', optimizerWeights: flatStateToSaved(this.pending.state), optimizerLayout: this.pending.layout };
    return { engine: 'onnx-step', optimizerWeights: [] };
  }

  /**
   * The epoch's weights on onnxruntime (exported once per epoch): several times faster than the tfjs
   * forward on wasm for full-size backbones. Undefined (validation then runs on tfjs) when it cannot export.
   */
  async validationPredictor(): Promise<{ predict: (x: tf.Tensor) => Promise<tf.Tensor>; dispose: () => Promise<void> } | undefined> {
    try {
      const predictor = await createOnnxPredictor(this.model);
      return { predict: (x) => predictor.predict(x), dispose: () => predictor.dispose() };
    } catch (error) {
      this.options.onLog?.(`validation: on tfjs (the model could not run on onnxruntime: ${error instanceof Error ? error.message : String(error)})`);
      return undefined;
    }
  }

  async dispose(): Promise<void> {
    await this.step?.dispose();
    this.step = undefined;
  }
}
