// The one engine decision. Every caller (fit, trainRun, evaluate, predict, compare, the CLI) asks here
// where its numbers are computed, so that 'auto' means the same thing everywhere:
// - a frozen prefix of a model in training runs on onnxruntime (its outputs cached when nothing is
//   augmented) and only the trainable rest trains;
// - what trains runs as the compiled ONNX training step when it compiles, else on tfjs (the reference);
// - inference runs the whole model on onnxruntime when it exports, else on tfjs.
import { invalidArgument } from '../core/errors.js';
import { ENGINE_CHOICES, type EngineChoice, type LossName, type StepEngineName } from '../core/names.js';
import { frozenPrefixEnd } from './onnx/frozen_prefix.js';
import { canCompileTrainingStep } from './onnx/training/compile_training_step.js';
import type { tfl } from './tfjs/tf.js';

export function checkEngineChoice(value: unknown, name = 'engine'): EngineChoice {
  if (!(ENGINE_CHOICES as readonly unknown[]).includes(value)) throw invalidArgument(name, value, `one of ${ENGINE_CHOICES.join(', ')}`);
  return value as EngineChoice;
}

export interface StepEngineDecision {
  engine: StepEngineName;
  /** Why, in one line for logs. */
  reason: string;
  /** Set when the compiled step was wanted ('auto' or 'onnx') but cannot train this model. */
  fallbackReason?: string;
}

/**
 * Whether the compiled step can train `model` with this optimizer: Adam and plain SGD given by name
 * (the compiled step's optimizers, with the settings createOptimizer uses), and a model it compiles.
 */
export function compiledStepSupport(model: tfl.LayersModel, loss: LossName, optimizer: unknown): { ok: boolean; reason?: string } {
  if (optimizer !== 'adam' && optimizer !== 'sgd') {
    return { ok: false, reason: `optimizer ${typeof optimizer === 'string' ? `'${optimizer}'` : 'given as a tf.Optimizer'} is not one of the compiled step's (adam, sgd)` };
  }
  // The verdict builds the whole training graph; trainRun and the fit it calls ask for the same model,
  // loss and trainable set, so it is kept per model for that combination.
  const key = `${loss}|${model.trainableWeights.map((w) => w.name).join(',')}`;
  let verdicts = compileVerdicts.get(model);
  if (!verdicts) compileVerdicts.set(model, (verdicts = new Map()));
  let verdict = verdicts.get(key);
  if (!verdict) verdicts.set(key, (verdict = canCompileTrainingStep(model, { loss })));
  return verdict;
}

const compileVerdicts = new WeakMap<tfl.LayersModel, Map<string, { ok: boolean; reason?: string }>>();

/** Which engine computes the training steps of `model` (every trainable layer of it). */
export function decideStepEngine(model: tfl.LayersModel, choice: EngineChoice, loss: LossName, optimizer: unknown): StepEngineDecision {
  checkEngineChoice(choice);
  if (choice === 'tfjs') return { engine: 'tfjs', reason: 'tfjs requested' };
  const support = compiledStepSupport(model, loss, optimizer);
  if (support.ok) return { engine: 'onnx-step', reason: choice === 'onnx' ? 'compiled ONNX training step requested' : 'the compiled ONNX training step supports this model' };
  return { engine: 'tfjs', reason: `the compiled ONNX training step cannot train this model: ${support.reason}`, fallbackReason: support.reason };
}

/**
 * Where a run's phase splits its model: the name of the last layer of the frozen prefix that runs on
 * onnxruntime, or undefined when the whole model trains (or tfjs was asked for).
 */
export function frozenSplitPoint(model: tfl.LayersModel, choice: EngineChoice): string | undefined {
  checkEngineChoice(choice);
  return choice === 'tfjs' ? undefined : frozenPrefixEnd(model);
}
