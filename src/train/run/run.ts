// trainRun: one whole training run as a library call (no printing). A plan first (run_plan.ts: the
// checked options, seed and phases, decided before anything is created), then its execution: build
// the classifier, load the backbone weights, make the iterators, run each phase (its EnginePlan decided
// once, on entering it, by engines/engine_decision.ts, and passed to every pass of the phase), evaluate,
// and fill the run directory. `compare` calls it once per backbone; the CLI's `train` is a thin wrapper
// around it.
import { existsSync } from 'node:fs';
import { initEngine, type tfl } from '../../engines/tfjs/tf.js';
import { createOnnxPredictor, type OnnxPredictor } from '../../engines/onnx/predictor.js';
import { describeCompile } from '../../engines/onnx/compiled_cache.js';
import type { FrozenEngine } from '../../engines/onnx/frozen_features.js';
import { describeEnginePlan, frozenBoundary, phaseEngineLabel, planPhaseEngines, type EnginePlan, type PhaseEngines } from '../../engines/engine_decision.js';
import { FileError, TlkitError } from '../../core/errors.js';
import type { EngineChoice, LabelClassMode, OptimizerName, PhaseEngineLabel, StepEngineName } from '../../core/names.js';
import type { ProgressCallback } from '../../core/progress.js';
import { atomicWriteText } from '../../core/atomic_write.js';
import { mixSeed, withSeededMathRandom } from '../../core/random.js';
import { buildClassifier, setTrainable, type Classifier } from '../../models/classifier.js';
import { formatSummary, summarize } from '../../models/summary.js';
import { saveModel } from '../../weights/saved_model.js';
import { inputScalingFor } from '../../weights/resolve.js';
import type { Callback } from '../loop/callbacks/callback.js';
import { EarlyStopping } from '../loop/callbacks/early_stopping.js';
import { HistoryLogger } from '../loop/callbacks/history_logger.js';
import { ModelCheckpoint } from '../loop/callbacks/model_checkpoint.js';
import { ReduceLROnPlateau } from '../loop/callbacks/reduce_lr_on_plateau.js';
import { readCheckpoint, restoreWeights, type TrainingCheckpoint } from '../loop/checkpoint.js';
import { evaluate, type Evaluation } from '../../inference/evaluate.js';
import { fit } from '../loop/fit.js';
import { FeatureIterator } from '../loop/feature_iterator.js';
import { planRun, storedConfig, type PhasePlan, type RunPlan, type StoredConfig } from './run_plan.js';
import { readJson, runDirLayout, writeJson, type RunDirLayout } from './run_dir.js';
import { checkRunDirRequest, claimRunDir, type RunDirClaim } from './run_dir_guard.js';
import { checkInputSize, checkResumeDataDir, checkResumeIdentity, checkRunData } from './run_checks.js';
import { loadWeightsForRun, makeRunInputs, unaugmentedTrainReader, weightsChoice, type RunInputs } from './run_inputs.js';
import type { ClassWeight, EpochLogs } from '../loop/types.js';
import { isDeterministic, type BatchIterator } from '../../data/batch.js';
import { planEpochs, type Epochs } from './epochs_auto.js';
import { belowProbeWarning, describeProbe, probeFrozenFeatures, splitFeatures, type ProbeRows, type SplitFeatures } from '../probes/frozen_probe.js';
import type { LinearProbeResult } from '../probes/linear_probe.js';
import { recalibrateAfterPhase, validationRecalibration, type PhaseRecalibration, type RecalibrateAfterPhaseArgs, type ValidationRecalibration, type ValidationRecalibrationSettings } from '../recalibration/recalibrate_after_phase.js';
import { generalizationWarning } from '../recalibration/recalibrate_batchnorm.js';
import type { InputScaling } from './run_inputs.js';
import { RunFeatureStores, type FeatureStoreSettings } from './run_feature_stores.js';
import type { ExcludeList } from '../../data/exclude_list.js';
import { collectFingerprints } from '../audit/fingerprint_store.js';

/** Every option of a run; the JSON-able part is stored in config.json so the run can be repeated. */
export interface TrainRunOptions extends FeatureStoreSettings {
  /** Folder with one sub-folder per class (flow_from_directory). Not needed when `train` is given. */
  dataDir?: string;
  /** Ready-made iterators instead of dataDir (tests, custom data); they are not stored in config.json. */
  train?: BatchIterator;
  validation?: BatchIterator;
  /** Separate validation folder, or the fraction of each class held out (Keras validation_split). */
  valDir?: string;
  validationSplit?: number;
  /**
   * Files left out, as 'class/name' relative to their folder: a list (training folder) or readExcludeList's
   * { train, validation } (an audit CSV with its keep column). Nothing is deleted.
   */
  exclude?: readonly string[] | ExcludeList;
  backbone: string;
  /** 'imagenet', 'none', an offline source ('nsfwjs') or a Keras .h5 path. Default: imagenet when it exists. */
  weights?: string;
  inputSize?: number;
  /** Width multiplier of MobileNet / MobileNetV2. */
  alpha?: number;
  /** Head spec ('flatten,dense:16:relu,dropout:0.25'); default: the models module's default (gap). */
  head?: string;
  classMode?: LabelClassMode;
  /**
   * Epochs of the (first) phase, or 'auto': with the features cached (frozen backbone, nothing augmented)
   * and validation data, until val_loss stops improving (best weights restored, at most 100); else 5.
   */
  epochs: Epochs;
  batchSize?: number;
  optimizer?: OptimizerName;
  learningRate?: number;
  freezeBackbone?: boolean;
  fineTuneFrom?: string;
  /** Two-phase recipe: after `epochs` on the frozen backbone, this many epochs unfrozen from fineTuneFrom. */
  fineTuneEpochs?: number;
  /** Learning rate of the second phase; default learningRate / 10. */
  fineTuneLr?: number;
  /**
   * ImageDataGenerator options for the training data (rotationRange, horizontalFlip...). A `rescale`
   * here replaces the one the weights imply and is saved with the model.
   */
  augmentation?: Record<string, unknown>;
  /** Augment the validation subset too (Keras does; default false). */
  augmentValidation?: boolean;
  /**
   * Worker threads that decode and augment while the model computes (flowFromDirectory's `workers`).
   * Default: 1 when augmentation is configured (the frozen part on onnxruntime blocks the main thread, so a
   * worker overlaps the two), else 0 (features are cached after the first epoch).
   */
  workers?: number;
  /** The run directory. */
  outDir: string;
  /** Continue the run in outDir from its last checkpoint (its config.json wins over these options, but `engine`). */
  resume?: boolean;
  /**
   * Replace the previous run in outDir (its files are removed once the new run starts). Without it (or
   * `resume`) a non-empty outDir is refused; a folder that is not a tlkit run is refused either way.
   */
  overwrite?: boolean;
  seed?: number;
  earlyStoppingPatience?: number;
  reduceLrPatience?: number;
  classWeight?: ClassWeight;
  /** Also checkpoint every N batches inside an epoch. */
  checkpointEveryBatches?: number;
  /**
   * 'auto' (default): frozen first layers run on onnxruntime (onnx-frozen); a phase that trains the
   * whole model runs the compiled ONNX training step (onnx-step) when it supports the model; else tfjs.
   * 'onnx': the same, but a failure to use onnxruntime is an error (or, for a model the compiled step
   * cannot train, a logged fallback to tfjs). 'tfjs': everything on tfjs. Given with `resume`, it
   * replaces the run's stored engine: a checkpoint of the other engine continues with its optimizer
   * state converted.
   */
  engine?: EngineChoice;
  /**
   * Also fit a linear probe (logistic regression on the frozen backbone's pooled features, its strength
   * chosen by cross-validation on the training data) after the head phase, as a baseline. Default false.
   */
  linearProbe?: boolean;
  /**
   * Return the probe's pooled features with their files (TrainRunResult.pooledFeatures), for the data
   * audit of a comparison. Default false.
   */
  keepPooledFeatures?: boolean;
  /**
   * Keep the fingerprints of the files this run decodes (a sha256 and perceptual hashes, taken from the
   * decode the run does anyway) in the fingerprint store beside the feature stores, for the data audit of
   * a comparison, which then decodes nothing itself. Default false.
   */
  storeFingerprints?: boolean;
  /**
   * After a phase that trained BatchNorm layers in training mode, set their moving statistics to the
   * average batch statistics over one pass of un-augmented training batches (PreciseBN). Default true.
   */
  recalibrateBatchNorm?: boolean;
  /**
   * During such a phase (with recalibrateBatchNorm not false), validate each epoch with the moving
   * statistics set from a bounded pass (`maxSamples`, default 128 images, at least one batch) over
   * the same un-augmented training data, the training's own moving averages put back after, so that
   * val_loss / val_accuracy, EarlyStopping and best.ckpt judge the weights. Decided once per phase: when
   * the first pass costs more than `maxCostFraction` (default 0.2) of that epoch's training time, the
   * phase validates with the lagging moving statistics instead (logged). Default true; false: never.
   */
  recalibrateBatchNormForValidation?: boolean | ValidationRecalibrationSettings;
  signal?: AbortSignal;
}

export interface TrainRunHooks {
  onProgress?: ProgressCallback;
  /** One line of information (weights loaded, data found, phase changes...). */
  onLog?: (message: string) => void;
  /** The run continues from a checkpoint: the epoch it is in (1-based, of its phase) and the batches of it already done. */
  onResume?: (from: { epoch: number; batch: number }) => void;
}

export interface TrainRunResult {
  runDir: string;
  history: EpochLogs[];
  evaluation?: Evaluation;
  elapsedSeconds: number;
  params: { total: number; trainable: number; nonTrainable: number };
  /** Engines that computed the phases, comma-separated ('onnx-frozen', 'tfjs', 'onnx-frozen,tfjs'). */
  engine: string;
  /** Each phase's engine plan: where its frozen prefix, training step, validation, recalibration and inference ran. */
  enginePlans: EnginePlan[];
  /** Each phase's plan in one word. */
  phaseEngines: PhaseEngineLabel[];
  /** What computed the trainable part's steps in each phase. */
  stepEngines: StepEngineName[];
  classNames: string[];
  backbone: string;
  stoppedEarly: boolean;
  /** The linear-probe baseline, when asked for and the run had a frozen-backbone phase and held-out data. */
  linearProbe?: LinearProbeResult;
  /** With keepPooledFeatures and a probe: the pooled frozen features it was fitted on, row by row with their files. */
  pooledFeatures?: { train: SplitFeatures; validation: SplitFeatures };
  /** BatchNorm recalibrations done after phases (empty when no phase trained BatchNorm in training mode). */
  batchNormRecalibration: PhaseRecalibration[];
  /** True when BatchNorm trained in training mode and recalibration was turned off. */
  batchNormSkipped: boolean;
  /**
   * Set when held-out accuracy is far below training accuracy, or below the linear probe's on the same
   * images: what happened and why, one line each.
   */
  warning?: string;
}

/**
 * Closes the onnxruntime session and releases the engine's head model. The head was built by applying
 * the classifier's trainable layers again, which counts one more reference on each (tfjs-layers frees a
 * layer's weights when its count reaches 0), so it must be disposed; the prefix reuses the classifier's
 * graph without new references and is left to the classifier's own dispose.
 */
async function closeFrozenEngine(engine: FrozenEngine | undefined): Promise<void> {
  if (!engine) return;
  await engine.dispose();
  engine.head.dispose();
}


/** Where the run starts: a fresh plan, or (resume) the stored config with its last checkpoint. */
async function resolveStart(options: TrainRunOptions, layout: RunDirLayout, log: (m: string) => void): Promise<{ config: StoredConfig; resumeFrom?: TrainingCheckpoint }> {
  if (!options.resume) return { config: storedConfig(options) };
  if (!existsSync(layout.config)) {
    throw new FileError(options.outDir, 'nothing to resume: not a tlkit run directory (no config.json); start the run without --resume');
  }
  const stored = await readJson<StoredConfig>(layout.config);
  checkResumeDataDir(options.dataDir, stored.dataDir, options.outDir);
  // The engine only decides where the numbers are computed (checkpoints convert between engines), so
  // an engine given with resume wins over the stored one.
  const engine = options.engine ?? stored.engine;
  if (options.engine !== undefined && options.engine !== (stored.engine ?? 'auto')) log(`engine ${options.engine} requested for the resumed run (its config.json says ${stored.engine ?? 'auto'})`);
  const config: StoredConfig = { ...stored, outDir: options.outDir, resume: true, ...(engine !== undefined ? { engine } : {}) };
  const resumeFrom = await readCheckpoint(layout.lastCheckpoint).catch((error: unknown) => {
    if (error instanceof TlkitError && /no checkpoint here/.test(error.message)) return undefined;
    throw error;
  });
  log(resumeFrom ? `resuming ${options.outDir} at epoch ${resumeFrom.epoch + 1}, batch ${resumeFrom.batch}` : `no checkpoint in ${options.outDir} yet: starting the run from its config`);
  return { config, resumeFrom };
}

export async function trainRun(options: TrainRunOptions, hooks: TrainRunHooks = {}): Promise<TrainRunResult> {
  const started = performance.now();
  const log = hooks.onLog ?? (() => undefined);
  await initEngine();
  const layout = runDirLayout(options.outDir);
  const { config, resumeFrom } = await resolveStart(options, layout, log);
  if (resumeFrom) hooks.onResume?.({ epoch: resumeFrom.epoch + 1, batch: resumeFrom.batch });
  // On resume the stored config is the run's definition; only the run directory, iterators and signal come from the caller.
  const plan = planRun(config, { train: options.train, validation: options.validation });
  const full: TrainRunOptions = { ...plan.config, train: options.train, validation: options.validation, signal: options.signal };
  // Refusals that need nothing but the options come first: a refused run creates nothing.
  const dirRequest = { outDir: options.outDir, resume: options.resume, overwrite: options.overwrite, inputDirs: [full.dataDir, full.valDir] };
  checkRunDirRequest(dirRequest);
  checkInputSize(full.inputSize, full.batchSize ?? 32);

  let iterators: RunInputs | undefined;
  let classifier: Classifier | undefined;
  let runDir: RunDirClaim | undefined;
  try {
    const choice = weightsChoice(full);
    if (choice.reason) log(`weights: ${choice.reason}`);
    const scaling = inputScalingFor(full.backbone, choice.weights);
    const userRescale = full.augmentation?.rescale;
    if (typeof userRescale === 'number' && userRescale !== 0) scaling.rescale = userRescale;
    iterators = makeRunInputs(full, choice.weights, plan.seed, scaling, log);
    checkRunData(iterators.train, iterators.validation, full);
    checkResumeIdentity(resumeFrom, { inputSize: iterators.inputSize, classNames: iterators.classNames }, options.outDir);
    // Initial weights (the head's, and the backbone's with weights none) come from the run's seed too.
    const classifierOptions = {
      backbone: full.backbone,
      backboneOptions: { inputShape: [iterators.inputSize, iterators.inputSize, 3] as [number, number, number], ...(full.alpha !== undefined ? { alpha: full.alpha } : {}) },
      head: full.head,
      classes: iterators.classNames.length,
      classMode: plan.classMode,
    };
    classifier = withSeededMathRandom(mixSeed(plan.seed, 0x494e4954), () => buildClassifier(classifierOptions));
    const weightsInfo = await loadWeightsForRun(classifier, choice.weights, full, log);
    // Everything is checked (options, data, backbone, weights): only now does the run directory change.
    runDir = await claimRunDir(layout, dirRequest, log);
    if (!options.resume) await writeJson(layout.config, { ...plan.config, tlkit: { configVersion: 1 }, createdAt: new Date().toISOString() });

    const outcome = await runPhases({ plan, options: full, classifier, inputs: iterators, layout, resumeFrom, hooks, log, weights: choice.weights, scaling });
    const summary = summarize(classifier.model);
    await saveModel(layout.model, classifier.model, {
      classNames: iterators.classNames,
      classMode: plan.classMode,
      preprocess: weightsInfo.preprocess,
      ...(scaling.rescale !== undefined ? { rescale: scaling.rescale } : {}),
      inputSize: [iterators.inputSize, iterators.inputSize],
      backbone: classifier.backboneId,
      weightsSource: weightsInfo.source,
      ...(outcome.enginePlans.at(-1)?.frozenPrefix ? { frozenPrefixEnd: outcome.enginePlans.at(-1)!.frozenPrefix!.endsAt } : {}),
    });
    if (outcome.evaluation) await writeJson(layout.evaluation, outcome.evaluation);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const engine = [...new Set(outcome.phaseEngines)].join(',') || 'tfjs';
    await atomicWriteText(layout.summary, summaryText(classifier, summary, outcome.history, outcome.evaluation, elapsedSeconds, engine));
    runDir.complete();
    return {
      runDir: layout.root,
      history: outcome.history,
      evaluation: outcome.evaluation,
      elapsedSeconds,
      params: { total: summary.totalParams, trainable: summary.trainableParams, nonTrainable: summary.nonTrainableParams },
      engine,
      enginePlans: outcome.enginePlans,
      phaseEngines: outcome.phaseEngines,
      stepEngines: outcome.stepEngines,
      classNames: iterators.classNames,
      backbone: classifier.backboneId,
      stoppedEarly: outcome.stoppedEarly,
      linearProbe: outcome.linearProbe,
      ...(outcome.pooledFeatures ? { pooledFeatures: outcome.pooledFeatures } : {}),
      batchNormRecalibration: outcome.batchNormRecalibration,
      batchNormSkipped: outcome.batchNormSkipped,
      warning: outcome.warning,
    };
  } finally {
    await iterators?.close();
    // The trained model lives on in the run directory; its tensors here are freed (compare runs many).
    classifier?.model.dispose();
    await runDir?.release();
  }
}

/** What every phase of a run reads, built once by trainRun. */
interface RunContext {
  plan: RunPlan;
  /** The run's options as its plan resolved them, with the caller's iterators and signal. */
  options: TrainRunOptions;
  classifier: Classifier;
  inputs: RunInputs;
  layout: RunDirLayout;
  resumeFrom?: TrainingCheckpoint;
  hooks: TrainRunHooks;
  log: (message: string) => void;
  /** The backbone's weights and the input scaling they imply: a recalibration reader opens the data with them. */
  weights: string;
  scaling: InputScaling;
}

/** What the phases leave for trainRun's result (the rest of it, run directory, params and timings, trainRun adds). */
type PhasesOutcome = Pick<TrainRunResult, 'history' | 'evaluation' | 'enginePlans' | 'phaseEngines' | 'stepEngines' | 'stoppedEarly' | 'linearProbe' | 'pooledFeatures' | 'batchNormRecalibration' | 'batchNormSkipped' | 'warning'>;

/** Runs the plan's phases in turn (skipping those a resumed checkpoint has finished), then evaluates. */
async function runPhases(run: RunContext): Promise<PhasesOutcome> {
  const { plan, options: full, classifier, inputs, resumeFrom, log } = run;
  const outcome: PhasesOutcome = { history: [], enginePlans: [], phaseEngines: [], stepEngines: [], stoppedEarly: false, batchNormRecalibration: [], batchNormSkipped: false };
  const monitor = inputs.validation ? 'val_loss' : 'loss';
  const shared: Callback[] = [new ModelCheckpoint({ dir: run.layout.checkpoints, monitor, everyBatches: full.checkpointEveryBatches }), new HistoryLogger({ dir: run.layout.root })];
  // The last phase's frozen prefix stays open for the final evaluation.
  let engines: PhaseEngines | undefined;
  const featureStores = new RunFeatureStores(full, { backbone: classifier.backboneId });
  const fingerprints = full.storeFingerprints ? collectFingerprints([inputs.train, inputs.validation]) : undefined;
  // Where each phase's frozen prefix ends: a phase's pass also outputs the later phases' boundaries, so
  // each image goes through the frozen layers once for the whole run.
  const splitPoints = plan.phases.map((phase) => {
    setTrainable(classifier, phase.trainable);
    return frozenBoundary(classifier.model, plan.engine);
  });
  try {
    for (const phase of plan.phases) {
      const resumeHere = resumeFrom && (resumeFrom.tag?.phase ?? 1) === phase.index ? resumeFrom : undefined;
      if (resumeFrom && !resumeHere && (resumeFrom.tag?.phase as number) > phase.index) continue;
      if (!resumeHere && phase.epochs === 0) continue;
      await closeFrozenEngine(engines?.frozen);
      engines = undefined;
      setTrainable(classifier, phase.trainable);
      if (phase.label) log(`phase ${phase.index} (${phase.label}): ${describeTrainable(classifier)}, lr ${phase.learningRate}`);
      if (resumeHere) restoreWeights(classifier.model, resumeHere.weights);
      // The one engine decision of the phase. The frozen prefix captures the frozen weights when it
      // opens: decide after any restore.
      const later = splitPoints.slice(plan.phases.indexOf(phase) + 1).filter((p): p is string => p !== undefined);
      engines = await planPhaseEngines({ model: classifier.model, choice: plan.engine, loss: classifier.loss, optimizer: plan.optimizer, frozenPrefixOptions: { alsoOutput: later } });
      if (engines.frozen) log(describeCompile('frozen layers on onnxruntime', engines.frozen.compileInfo));
      log(describeEnginePlan(engines.plan));
      const { frozen, plan: enginePlan } = engines;
      const recalibration = (phaseTrain: BatchIterator): RecalibrateAfterPhaseArgs => ({
        phase: phase.index, model: frozen ? frozen.head : classifier.model, frozen, runsOn: enginePlan.recalibration, phaseTrain,
        openUnaugmentedTrain: unaugmentedTrainReader(full, run.weights, plan.seed, run.scaling),
        enabled: full.recalibrateBatchNorm !== false, log, onProgress: run.hooks.onProgress, signal: full.signal,
      });
      const forValidation = (phaseTrain: BatchIterator) => validationRecalibration(recalibration(phaseTrain), full.recalibrateBatchNormForValidation, Boolean(inputs.validation));
      const callbacks = [...shared, ...phaseCallbacks(full, monitor)];
      const { result, train, validation } = await runPhase(run, phase, engines, { callbacks, history: outcome.history, resumeHere, forValidation, featureStores });
      const features = await featureStores.describe();
      if (features) log(features);
      outcome.enginePlans.push(enginePlan);
      outcome.phaseEngines.push(phaseEngineLabel(enginePlan));
      outcome.stepEngines.push(result.engine);
      outcome.history = result.epochs;
      if (result.stoppedEarly) {
        outcome.stoppedEarly = true;
        log(`early stopping after epoch ${outcome.history.length}`);
      }
      // Checkpoints are written at the end of epochs, before this, and never hold recalibrated
      // statistics (the pass before each validation puts the moving averages back before callbacks
      // run). So a run killed during this recalibration resumes from a checkpoint of this phase with
      // epoch === its last: the phase is entered again (fit has no epoch left to train) and
      // recalibration runs here as in an uninterrupted run, on the same data (the iterator state is
      // the checkpoint's). The rule is simply: after a phase, resumed or not, recalibrate.
      const recalibrated = await recalibrateAfterPhase(recalibration(train));
      if (recalibrated === 'skipped') outcome.batchNormSkipped = true;
      else if (recalibrated) outcome.batchNormRecalibration.push(recalibrated);
      if (full.linearProbe && !outcome.linearProbe && train instanceof FeatureIterator && validation instanceof FeatureIterator && phase.trainable.freezeBackbone) {
        // The phase's own boundary features (with a Flatten head too: the prefix ends on the map before it,
        // which the probe pools).
        const keep = full.keepPooledFeatures ? (a: ProbeRows, b: ProbeRows) => (outcome.pooledFeatures = { train: splitFeatures(a, train), validation: splitFeatures(b, validation) }) : undefined;
        // The data audit of a comparison uses the probe's out-of-fold probabilities when it keeps them.
        const cacheRoot = featureStores.root || undefined;
        outcome.linearProbe = await probeFrozenFeatures(train, validation, inputs.classNames.length, { onProgress: run.hooks.onProgress, ...(full.keepPooledFeatures ? { keepOutOfFold: true } : {}), ...(cacheRoot ? { cacheRoot } : {}) }, keep);
        log(describeProbe(outcome.linearProbe));
      }
    }
    if (resumeFrom && outcome.history.length === 0) {
      // No planned phase matched the checkpoint's tag (the loop above re-enters the checkpoint's
      // phase, and recalibrates after it, whenever it is part of the plan): its weights are all there is.
      restoreWeights(classifier.model, resumeFrom.weights);
      outcome.history = [...resumeFrom.history];
    }
    if (inputs.validation) {
      const frozen = engines?.frozen;
      const model = frozen ? frozen.head : classifier.model;
      const stores = frozen ? await featureStores.forIterator(inputs.validation, frozen) : undefined;
      const data = frozen ? new FeatureIterator(inputs.validation, frozen, { cache: Boolean(stores), stores }) : inputs.validation;
      const predictor = engines?.plan.inference === 'onnxruntime' ? await onnxEvaluationPredictor(model, log) : undefined;
      try {
        outcome.evaluation = await evaluate(model, data, { loss: classifier.loss, classNames: inputs.classNames, onProgress: run.hooks.onProgress, task: 'evaluate', signal: full.signal, ...(predictor ? { predictor: predictor.predict } : {}) });
      } finally {
        await predictor?.dispose();
      }
      const trainAccuracy = outcome.history.at(-1)?.accuracy;
      const batchNorm = outcome.batchNormSkipped ? 'skipped' : outcome.batchNormRecalibration.length > 0 ? 'recalibrated' : 'not-trained';
      const warnings = [
        trainAccuracy === undefined ? undefined : generalizationWarning(trainAccuracy, outcome.evaluation.accuracy, batchNorm),
        outcome.linearProbe ? belowProbeWarning(outcome.evaluation.accuracy, outcome.linearProbe, outcome.evaluation.samples) : undefined,
      ].filter((w): w is string => w !== undefined);
      for (const w of warnings) log(w);
      outcome.warning = warnings.length > 0 ? warnings.join('\n') : undefined;
    }
  } finally {
    await closeFrozenEngine(engines?.frozen);
    await fingerprints?.save(featureStores.root);
    await featureStores.close();
  }
  return outcome;
}

/** The trained part on onnxruntime for the final evaluation, or undefined (logged) to run it on tfjs. */
async function onnxEvaluationPredictor(model: tfl.LayersModel, log: (message: string) => void): Promise<OnnxPredictor | undefined> {
  try {
    return await createOnnxPredictor(model, { batchSize: 32 });
  } catch (error) {
    log(`evaluation: on tfjs (the trained part could not run on onnxruntime: ${error instanceof Error ? error.message : String(error)})`);
    return undefined;
  }
}

function phaseCallbacks(full: TrainRunOptions, monitor: string): Callback[] {
  const callbacks: Callback[] = [];
  if (full.earlyStoppingPatience !== undefined) callbacks.push(new EarlyStopping({ monitor, patience: full.earlyStoppingPatience, restoreBestWeights: true }));
  if (full.reduceLrPatience !== undefined) callbacks.push(new ReduceLROnPlateau({ monitor, patience: full.reduceLrPatience }));
  return callbacks;
}

/** What one phase adds to the run's context: its callbacks, the history so far, a checkpoint to resume, the validation hook. */
interface PhaseState {
  callbacks: Callback[];
  history: EpochLogs[];
  resumeHere?: TrainingCheckpoint;
  forValidation: (phaseTrain: BatchIterator) => ValidationRecalibration;
  /** Where the phase's frozen features are read and written. */
  featureStores: RunFeatureStores;
}

/**
 * One phase: fit over the trainable part, on the phase's engine plan. With a frozen prefix on
 * onnxruntime, fit trains only the head it feeds (on boundary features, cached when the images never
 * change) with the plan's StepEngine.
 */
async function runPhase(run: RunContext, phase: PhasePlan, engines: PhaseEngines, state: PhaseState) {
  const { plan, options: full, classifier, inputs, log } = run;
  const { frozen, plan: enginePlan } = engines;
  const { history, resumeHere } = state;
  // With a frozen prefix, features of un-augmented images go through the feature stores (one pass over
  // each image for every boundary this and later phases cut at; nothing held in memory per image).
  const withFeatures = async (data: BatchIterator, engine: FrozenEngine) => {
    const stores = await state.featureStores.forIterator(data, engine);
    const iterator = new FeatureIterator(data, engine, { cache: Boolean(stores), stores });
    state.featureStores.track(iterator.counts);
    return iterator;
  };
  const train = frozen ? await withFeatures(inputs.train, frozen) : inputs.train;
  const validation = frozen && inputs.validation ? await withFeatures(inputs.validation, frozen) : inputs.validation;
  const trained = frozen ? frozen.head : classifier.model;
  const monitor = inputs.validation ? 'val_loss' : 'loss';
  const epochs = planEpochs(phase.epochs, { featuresCached: Boolean(frozen) && isDeterministic(inputs.train), hasValidation: Boolean(inputs.validation) });
  if (phase.epochs === 'auto') log(`epochs: ${epochs.reason}`);
  const callbacks = epochs.earlyStopping ? [...state.callbacks, new EarlyStopping({ ...epochs.earlyStopping, monitor })] : state.callbacks;
  // Epochs of the earlier phases (epochs count across phases, as Keras's initial_epoch does): the
  // history so far, or on resume the checkpoint's.
  const before = resumeHere ? resumeHere.history.filter((h) => (h.phase ?? 1) < phase.index).length : history.length;
  const resumedEngine = resumeHere ? (resumeHere.engine ?? 'tfjs') : undefined;
  if (resumedEngine && resumedEngine !== enginePlan.trainingStep) log(`resume: the checkpoint was written by the ${resumedEngine} engine; its optimizer state is converted for ${enginePlan.trainingStep}`);
  const validationStats = state.forValidation(train);
  const result = await fit(trained, train, {
    epochs: before + epochs.epochs,
    initialEpoch: history.length,
    initialHistory: history,
    validation,
    optimizer: plan.optimizer,
    learningRate: phase.learningRate,
    loss: classifier.loss,
    classWeight: full.classWeight,
    callbacks,
    onProgress: run.hooks.onProgress,
    progressLabel: phase.label,
    signal: full.signal,
    seed: phase.seed,
    resumeFrom: resumeHere,
    extraLogs: plan.phases.length > 1 ? { phase: phase.index } : undefined,
    tag: { phase: phase.index, engine: frozen ? 'onnx-frozen' : undefined, inputSize: inputs.inputSize, classNames: inputs.classNames },
    stateModel: classifier.model,
    stepEngine: enginePlan.trainingStep,
    beforeValidation: validationStats.beforeValidation,
    onLog: log,
  }).finally(() => validationStats.close());
  result.optimizer.dispose();
  return { result, train, validation };
}

function describeTrainable(classifier: Classifier): string {
  const trainable = classifier.model.layers.filter((l) => l.trainable && l.weights.length > 0).length;
  const withWeights = classifier.model.layers.filter((l) => l.weights.length > 0).length;
  return `${trainable}/${withWeights} layers with weights trainable`;
}

function summaryText(classifier: Classifier, summary: ReturnType<typeof summarize>, history: EpochLogs[], evaluation: Evaluation | undefined, elapsed: number, engine: string): string {
  const last = history.at(-1);
  const lines = [formatSummary(summary), '', `backbone: ${classifier.backboneId}`, `engine: ${engine}`, `epochs: ${history.length}`, `elapsed: ${elapsed.toFixed(1)} s`];
  if (last) lines.push(`final: ${Object.entries(last).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`).join(' ')}`);
  if (evaluation) lines.push(`validation accuracy: ${evaluation.accuracy.toFixed(4)} (${evaluation.samples} images), loss ${evaluation.loss.toFixed(4)}`);
  return lines.join('\n') + '\n';
}

