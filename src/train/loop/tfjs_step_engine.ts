// The reference step engine: tf.variableGrads and a tfjs optimizer, on whatever backend tfjs runs
// (wasm with tlkit's gradient kernels, or cpu).
import { tf, type tfl } from '../../engines/tfjs/tf.js';
import { TrainingError } from '../../core/errors.js';
import type { LossName } from '../../core/names.js';
import { withSeededMathRandom } from '../../core/random.js';
import type { TrainingCheckpoint } from './checkpoint.js';
import { batchLoss, predictedClasses, trueClasses } from '../../inference/losses.js';
import { loadOptimizerState, saveOptimizerState, type SavedArray } from './optimizers.js';
import { convertibleOptimizerOf, describeConversion, flatStateFromSaved, flatToTfjsState, trainableWeightInfos, type ConvertibleOptimizer } from './optimizer_state_convert.js';
import type { EngineOptimizerState, StepContext, StepEngine, StepEngineOptions, StepResult } from './step_engine.js';

export class TfjsStepEngine implements StepEngine {
  readonly name = 'tfjs' as const;
  /** Variables in model order: the optimizer matches its slots to them by position (see optimizers.ts). */
  private readonly variables: tf.Variable[];

  private constructor(private readonly options: StepEngineOptions) {
    this.variables = options.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  static async create(options: StepEngineOptions): Promise<TfjsStepEngine> {
    const engine = new TfjsStepEngine(options);
    const resume = options.resume;
    if (resume) {
      const from = resume.engine ?? 'tfjs';
      const saved = from === 'tfjs' ? resume.optimizerWeights : await onnxStepStateForTfjs(options.model, options.loss, resume, convertibleOptimizerFor(options.optimizer, resume.optimizerClass, from), options.onLog);
      await loadOptimizerState(options.optimizer, saved);
    }
    return engine;
  }

  async trainBatch(x: tf.Tensor, y: tf.Tensor, step: StepContext): Promise<StepResult> {
    const { model, optimizer, loss, classWeights } = this.options;
    let output: tf.Tensor | undefined;
    let weights: tf.Tensor1D | undefined;
    let value: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap | undefined;
    try {
      if (classWeights) weights = tf.tidy(() => tf.gather(tf.tensor1d(classWeights, 'float32'), trueClasses(loss, y)));
      ({ value, grads } = withSeededMathRandom(step.seed, () =>
        tf.variableGrads(() => {
          output = tf.keep(model.apply(x, { training: true }) as tf.Tensor);
          let total = batchLoss(loss, y, output, weights);
          for (const regulariser of model.calculateLosses()) total = tf.add(total, regulariser);
          return total;
        }, this.variables),
      ));
      const lossValue = value.dataSync()[0];
      // The loss clips probabilities and some backends' clip or ReLU turn NaN into a number, so check the
      // output and the gradients too (a sum is not finite when any element is NaN or infinite).
      const [outputSum, gradientSumOfSquares] = tf.tidy(() => [
        tf.sum(output!).dataSync()[0],
        tf.addN(Object.values(grads!).map((g) => tf.sum(tf.square(g)))).dataSync()[0],
      ]);
      if (!Number.isFinite(lossValue) || !Number.isFinite(outputSum) || !Number.isFinite(gradientSumOfSquares)) {
        const what = !Number.isFinite(lossValue) ? `loss is ${lossValue}` : !Number.isFinite(outputSum) ? 'loss is NaN (the model output is not finite)' : `loss is ${lossValue} but the gradients are not finite`;
        throw new TrainingError(`${what} at ${step.where}: training stopped before applying this step (try a lower learning rate, or look for broken input images)`);
      }
      optimizer.applyGradients(grads);
      const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(predictedClasses(output!), trueClasses(loss, y)), 'int32')).dataSync()[0]);
      return { loss: lossValue, correct, size: x.shape[0] };
    } finally {
      tf.dispose([output as tf.Tensor, weights as tf.Tensor, value as tf.Tensor]);
      if (grads) tf.dispose(Object.values(grads));
    }
  }

  /** The tfjs model is the one that trains: always current. */
  syncToModel(): void {}

  async optimizerState(): Promise<EngineOptimizerState> {
    return { engine: 'tfjs', optimizerWeights: await saveOptimizerState(this.options.optimizer) };
  }

  async dispose(): Promise<void> {}
}

/**
 * The optimizer whose state a conversion carries: the same kind must have written the checkpoint (its
 * tfjs class name is stored in both engines' checkpoints).
 */
export function convertibleOptimizerFor(optimizer: tf.Optimizer, checkpointClass: string, from: string): ConvertibleOptimizer {
  const kind = convertibleOptimizerOf(optimizer.getClassName());
  if (!kind) throw new TrainingError(`the checkpoint was written by the ${from} engine; its optimizer state cannot be converted for a ${optimizer.getClassName()} optimizer (convertible: Adam, SGD, Momentum)`);
  if (convertibleOptimizerOf(checkpointClass) !== kind) {
    throw new TrainingError(`the checkpoint's optimizer is ${checkpointClass} but this fit uses ${optimizer.getClassName()}: its state cannot be carried over`);
  }
  return kind;
}

/**
 * An onnx-step checkpoint's flat slots as tfjs optimizer weights for `model`. The layout comes from the
 * checkpoint; older checkpoints lack it, and then the model's training graph gives it (when it compiles).
 */
async function onnxStepStateForTfjs(model: tfl.LayersModel, loss: LossName, resume: TrainingCheckpoint, optimizer: ConvertibleOptimizer, onLog?: (message: string) => void): Promise<SavedArray[]> {
  let layout = resume.optimizerLayout;
  if (!layout) {
    try {
      // Loaded only here: the tfjs engine otherwise needs none of the compiled step's graph code.
      const { compiledStepLayout } = await import('./onnx_step_engine.js');
      layout = compiledStepLayout(model, loss);
    } catch (error) {
      throw new TrainingError(`the checkpoint was written by the compiled ONNX step without its slot layout (an older tlkit), and the layout cannot be rebuilt for this model: ${(error as Error).message}; resume it with engine 'onnx'`, { cause: error });
    }
  }
  const weights = trainableWeightInfos(model);
  const state = flatStateFromSaved(resume.optimizerWeights);
  const saved = flatToTfjsState(state, optimizer, layout, weights);
  onLog?.(describeConversion('onnx-step', 'tfjs', optimizer, state.iterations, weights.length));
  return saved;
}
