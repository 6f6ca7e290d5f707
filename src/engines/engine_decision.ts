// The one engine decision. Every caller (trainRun once per phase, fit when called alone, BatchNorm
// recalibration when called alone, evaluate / predict) asks here where its numbers are computed, so
// that a choice means the same thing everywhere.
//
// The words, one per idea:
// - EngineChoice (core/names.ts): what the user asked: 'auto' | 'onnx' | 'tfjs'.
// - Runtime: what executes a pass: 'onnxruntime' or 'tfjs' (the reference).
// - EnginePlan: one phase's record, decided once by planPhaseEngines and logged once: where the frozen
//   prefix ends (it runs on onnxruntime), which StepEngine trains the rest, and the runtime of each
//   other pass (validation, BatchNorm recalibration, inference), with the reasons.
// - StepEngineName: which StepEngine trains ('tfjs', or 'onnx-step': the compiled ONNX training step);
//   a StepEngine (train/loop/step_engine.ts) is the object fit loops over.
// - FrozenEngine (onnx/frozen_features.ts): the object that runs the plan's frozen prefix.
// - PhaseEngineLabel (core/names.ts): a phase's plan in one word for results and checkpoints.
// (initEngine in tfjs/tf.ts only sets up tfjs's backend; it decides nothing.)
//
// What 'auto' means:
// - a frozen prefix of a model in training runs on onnxruntime (its outputs cached when nothing is
//   augmented) and only the trainable rest trains;
// - what trains runs as the compiled ONNX training step when it compiles, else on tfjs;
// - the other passes run on onnxruntime where they can, else on tfjs.
// 'onnx': the same, but a frozen prefix that cannot run on onnxruntime is an error. 'tfjs': every pass
// on tfjs.
import { invalidArgument } from '../core/errors.js';
import { ENGINE_CHOICES, type EngineChoice, type LossName, type PhaseEngineLabel, type StepEngineName } from '../core/names.js';
import { createFrozenEngine, type FrozenEngine } from './onnx/frozen_features.js';
import { frozenPrefixEnd } from './onnx/frozen_prefix.js';
import { canCompileTrainingStep } from './onnx/training/compile_training_step.js';
import type { tfl } from './tfjs/tf.js';

/** What executes a pass. */
export type Runtime = 'onnxruntime' | 'tfjs';

export function checkEngineChoice(value: unknown, name = 'engine'): EngineChoice {
  if (!(ENGINE_CHOICES as readonly unknown[]).includes(value)) throw invalidArgument(name, value, `one of ${ENGINE_CHOICES.join(', ')}`);
  return value as EngineChoice;
}

/**
 * Where a pass that could run on either runtime runs under `choice`, and whether a failure to use
 * onnxruntime falls back to tfjs ('auto') or is an error ('onnx').
 */
export function runtimeFor(choice: EngineChoice): { runtime: Runtime; fallbackToTfjs: boolean } {
  checkEngineChoice(choice);
  return choice === 'tfjs' ? { runtime: 'tfjs', fallbackToTfjs: false } : { runtime: 'onnxruntime', fallbackToTfjs: choice === 'auto' };
}

/** One phase's engines, decided once (planPhaseEngines) and passed down to every pass of the phase. */
export interface EnginePlan {
  /** What the user asked for. */
  choice: EngineChoice;
  /** The frozen first layers, run on onnxruntime up to and including `endsAt`; undefined: nothing is split off. */
  frozenPrefix?: { runsOn: 'onnxruntime'; endsAt: string };
  /** The StepEngine that trains the rest (the whole model when there is no frozen prefix). */
  trainingStep: StepEngineName;
  /** Each epoch's validation forward of the trained part: the compiled step's exported predictor, or tfjs. */
  validation: Runtime;
  /** The BatchNorm statistics pass (onnxruntime falls back to tfjs, logged, when its graph does not compile). */
  recalibration: Runtime;
  /** The trained part's forward in the run's final evaluation. */
  inference: Runtime;
  /** Why, one line per decision that needed one. */
  reasons: string[];
}

export interface TrainingStepDecision {
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
  // The verdict builds the whole training graph: kept per model, loss and trainable set, so that a
  // phase entered again (resume) does not build it twice.
  const key = `${loss}|${model.trainableWeights.map((w) => w.name).join(',')}`;
  let verdicts = compileVerdicts.get(model);
  if (!verdicts) compileVerdicts.set(model, (verdicts = new Map()));
  let verdict = verdicts.get(key);
  if (!verdict) verdicts.set(key, (verdict = canCompileTrainingStep(model, { loss })));
  return verdict;
}

const compileVerdicts = new WeakMap<tfl.LayersModel, Map<string, { ok: boolean; reason?: string }>>();

/**
 * Which StepEngine trains `model` (every trainable layer of it). fit asks this once when it is called
 * with an EngineChoice; planPhaseEngines asks it for the part a phase trains.
 */
export function decideTrainingStep(model: tfl.LayersModel, choice: EngineChoice, loss: LossName, optimizer: unknown): TrainingStepDecision {
  checkEngineChoice(choice);
  if (choice === 'tfjs') return { engine: 'tfjs', reason: 'tfjs requested' };
  const support = compiledStepSupport(model, loss, optimizer);
  if (support.ok) return { engine: 'onnx-step', reason: choice === 'onnx' ? 'compiled ONNX training step requested' : 'the compiled ONNX training step supports this model' };
  return { engine: 'tfjs', reason: `the compiled ONNX training step cannot train this model: ${support.reason}`, fallbackReason: support.reason };
}

export interface PhaseEnginesRequest {
  /** The whole model, with the phase's trainable flags set (and any checkpoint's weights restored). */
  model: tfl.LayersModel;
  choice: EngineChoice;
  loss: LossName;
  /** The optimizer's name (or object): the compiled step trains with adam or sgd given by name. */
  optimizer: unknown;
  /** Options of the frozen prefix's onnxruntime session (tests turn the compiled-graph cache off). */
  frozenPrefixOptions?: Parameters<typeof createFrozenEngine>[1];
}

export interface PhaseEngines {
  plan: EnginePlan;
  /** Runs plan.frozenPrefix; its `head` is the part the phase trains. Undefined without a frozen prefix. */
  frozen?: FrozenEngine;
}

/**
 * Where the frozen prefix of `model` (with its current trainable flags) ends when the run's choice puts it on
 * onnxruntime: the name of its last layer, or undefined when nothing is frozen or tfjs was chosen. A run asks
 * this of every phase up front, so that the first pass writes every later phase's boundary too;
 * planPhaseEngines asks the same of the phase it opens.
 */
export function frozenBoundary(model: tfl.LayersModel, choice: EngineChoice): string | undefined {
  return runtimeFor(choice).runtime === 'onnxruntime' ? frozenPrefixEnd(model) : undefined;
}

/**
 * The engines of one training phase, decided once: the frozen prefix (opened on onnxruntime here,
 * because only the export says whether it can run there: under 'auto' a failure leaves the whole model
 * to the training step, under 'onnx' it is an error), then the StepEngine of the part that trains, then
 * the runtime of validation, recalibration and inference. The caller disposes `frozen`.
 */
export async function planPhaseEngines(request: PhaseEnginesRequest): Promise<PhaseEngines> {
  const { model, choice, loss, optimizer } = request;
  const { runtime, fallbackToTfjs } = runtimeFor(choice);
  const reasons: string[] = [];
  let frozen: FrozenEngine | undefined;
  const endsAt = frozenBoundary(model, choice);
  if (endsAt !== undefined) {
    try {
      frozen = await createFrozenEngine(model, { ...request.frozenPrefixOptions, frozenUpTo: endsAt });
    } catch (error) {
      if (!fallbackToTfjs) throw error;
      reasons.push(`the frozen layers could not run on onnxruntime (${error instanceof Error ? error.message : String(error)}): they stay in the trained model`);
    }
  }
  // The compiled step is tried under 'onnx' too: a model it cannot train falls back to tfjs, logged.
  const step = decideTrainingStep(frozen ? frozen.head : model, choice === 'tfjs' ? 'tfjs' : 'auto', loss, optimizer);
  if (choice === 'tfjs') reasons.push('tfjs requested');
  else {
    if (frozen) reasons.push(`frozen prefix up to '${endsAt}' on onnxruntime`);
    reasons.push(step.reason);
  }
  const plan: EnginePlan = {
    choice,
    ...(frozen ? { frozenPrefix: { runsOn: 'onnxruntime' as const, endsAt: frozen.boundaryLayerName } } : {}),
    trainingStep: step.engine,
    validation: step.engine === 'onnx-step' ? 'onnxruntime' : 'tfjs',
    recalibration: runtime,
    // The run's final evaluation runs the trained part where each epoch's validation ran (the same
    // exported forward, so the last epoch's val_acc and the evaluation agree); it falls back to tfjs,
    // logged, when the export fails. `tlkit evaluate` runs the saved model on onnxruntime too.
    inference: step.engine === 'onnx-step' ? 'onnxruntime' : 'tfjs',
    reasons,
  };
  return { plan, frozen };
}

/** The plan in one word, as results and checkpoints record a phase. */
export function phaseEngineLabel(plan: EnginePlan): PhaseEngineLabel {
  return plan.frozenPrefix ? 'onnx-frozen' : plan.trainingStep;
}

/** The plan as one log line: 'engine: <label>: where each pass runs (why)'. */
export function describeEnginePlan(plan: EnginePlan): string {
  const label = phaseEngineLabel(plan);
  const why = plan.reasons.length ? ` (${plan.reasons.join('; ')})` : '';
  const passes = [plan.trainingStep, plan.validation, plan.recalibration, plan.inference];
  if (!plan.frozenPrefix && passes.every((p) => p === 'tfjs')) return `engine: ${label}: every pass on tfjs${why}`;
  const step = plan.trainingStep === 'onnx-step' ? 'the compiled ONNX step' : 'tfjs';
  const parts = [
    ...(plan.frozenPrefix ? [`frozen layers up to '${plan.frozenPrefix.endsAt}' on onnxruntime`] : []),
    `training step on ${step}`,
    `validation on ${plan.validation}`,
    `BatchNorm recalibration on ${plan.recalibration}`,
    `inference on ${plan.inference}`,
  ];
  return `engine: ${label}: ${parts.join(', ')}${why}`;
}
