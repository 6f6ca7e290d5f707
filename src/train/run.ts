// trainRun: one whole training run as a library call (no printing): build the classifier, load the
// backbone weights, make the iterators, fit (optionally the two-phase recipe: head on the frozen
// backbone, then fine-tuning from a layer at a lower rate), evaluate, and fill the run directory.
// `compare` calls it once per backbone; the CLI's `train` is a thin wrapper around it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { initEngine } from '../engines/tfjs/tf.js';
import { createFrozenEngine, type FrozenEngine } from '../engines/onnx/frozen_features.js';
import { frozenPrefixEnd } from '../engines/onnx/frozen_prefix.js';
import { FileError, TlkitError, UsageError, invalidArgument } from '../core/errors.js';
import { buildClassifier, setTrainable, type Classifier } from '../models/classifier.js';
import type { LabelClassMode } from '../core/names.js';
import { formatSummary, summarize } from '../models/summary.js';
import type { ProgressCallback } from '../core/progress.js';
import { saveModel } from '../weights/saved_model.js';
import type { Callback } from './callbacks/callback.js';
import { EarlyStopping } from './callbacks/early_stopping.js';
import { HistoryLogger } from './callbacks/history_logger.js';
import { ModelCheckpoint } from './callbacks/model_checkpoint.js';
import { ReduceLROnPlateau } from './callbacks/reduce_lr_on_plateau.js';
import { readCheckpoint, restoreWeights, type TrainingCheckpoint } from './checkpoint.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { fit } from './fit.js';
import { decideEngine } from './onnx_step_engine.js';
import { resolveLoss } from '../core/names.js';
import { FeatureIterator } from './feature_iterator.js';
import { atomicWriteText } from '../core/atomic_write.js';
import { mixSeed, withSeededMathRandom } from '../core/random.js';
import { DEFAULT_LEARNING_RATE } from './optimizers.js';
import { readJson, runDirLayout, writeJson } from './run_dir.js';
import { checkRunDirRequest, claimRunDir, type RunDirClaim } from './run_dir_guard.js';
import { checkInputSize, checkResumeDataDir, checkResumeIdentity, checkRunData } from './run_checks.js';
import { loadWeightsForRun, makeRunInputs, weightsChoice, type RunInputs } from './run_inputs.js';
import { inputScalingFor } from '../weights/resolve.js';
import type { BatchIterator, ClassWeight, EpochLogs } from './types.js';
import type { OptimizerName } from '../core/names.js';

export type EngineChoice = 'tfjs' | 'onnx' | 'auto';

/** Every option of a run; the JSON-able part is stored in config.json so the run can be repeated. */
export interface TrainRunOptions {
  /** Folder with one sub-folder per class (flow_from_directory). Not needed when `train` is given. */
  dataDir?: string;
  /** Ready-made iterators instead of dataDir (tests, custom data); they are not stored in config.json. */
  train?: BatchIterator;
  validation?: BatchIterator;
  /** Separate validation folder, or the fraction of each class held out (Keras validation_split). */
  valDir?: string;
  validationSplit?: number;
  backbone: string;
  /** 'imagenet', 'none', an offline source ('nsfwjs') or a Keras .h5 path. Default: imagenet when it exists. */
  weights?: string;
  inputSize?: number;
  /** Width multiplier of MobileNet / MobileNetV2. */
  alpha?: number;
  /** Head spec ('flatten,dense:16:relu,dropout:0.25'); default: the models module's default (gap). */
  head?: string;
  classMode?: LabelClassMode;
  epochs: number;
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
  signal?: AbortSignal;
}

export interface TrainRunHooks {
  onProgress?: ProgressCallback;
  /** One line of information (weights loaded, data found, phase changes...). */
  onLog?: (message: string) => void;
}

export interface TrainRunResult {
  runDir: string;
  history: EpochLogs[];
  evaluation?: Evaluation;
  elapsedSeconds: number;
  params: { total: number; trainable: number; nonTrainable: number };
  /** Engines that computed the phases, comma-separated ('onnx-frozen', 'tfjs', 'onnx-frozen,tfjs'). */
  engine: string;
  phaseEngines: PhaseEngine[];
  classNames: string[];
  backbone: string;
  stoppedEarly: boolean;
}

type StoredConfig = Omit<TrainRunOptions, 'train' | 'validation' | 'signal'>;

/** The JSON-able options with absolute paths, so `--resume` works from any working directory. */
function storedConfig(options: TrainRunOptions): StoredConfig {
  const { train: _t, validation: _v, signal: _s, overwrite: _o, ...rest } = options;
  const absolute = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  return {
    ...rest,
    dataDir: absolute(rest.dataDir),
    valDir: absolute(rest.valDir),
    outDir: resolve(rest.outDir),
    weights: rest.weights && existsSync(rest.weights) ? resolve(rest.weights) : rest.weights,
  };
}

function checkOptions(o: TrainRunOptions): void {
  const int = (name: string, v: unknown, min: number) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) throw invalidArgument(name, v, `an integer >= ${min}`);
  };
  int('epochs', o.epochs, 0);
  int('fineTuneEpochs', o.fineTuneEpochs, 0);
  int('batchSize', o.batchSize, 1);
  int('earlyStoppingPatience', o.earlyStoppingPatience, 0);
  int('checkpointEveryBatches', o.checkpointEveryBatches, 1);
  if (o.freezeBackbone && o.fineTuneFrom !== undefined && !o.fineTuneEpochs) {
    throw new UsageError('freezeBackbone and fineTuneFrom contradict each other (unless fineTuneEpochs asks for the two-phase recipe); give one', 'fineTuneFrom');
  }
  if (!o.dataDir && !o.train) throw invalidArgument('dataDir', o.dataDir, 'a folder with one sub-folder per class (or a `train` iterator)');
  if (o.engine !== undefined && !['tfjs', 'onnx', 'auto'].includes(o.engine)) throw invalidArgument('engine', o.engine, "'tfjs', 'onnx' or 'auto'");
}

/**
 * Which engine computed a phase: tfjs alone, the frozen prefix on onnxruntime feeding a tfjs head, or
 * the compiled ONNX training step of the whole model.
 */
export type PhaseEngine = 'tfjs' | 'onnx-frozen' | 'onnx-step';

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

function isDeterministic(iterator: BatchIterator): boolean {
  const f = (iterator as { isDeterministic?: () => boolean }).isDeterministic;
  return typeof f === 'function' ? f.call(iterator) : false;
}

/**
 * The fast path for a phase whose first layers are frozen: they run on onnxruntime (features cached
 * across epochs when the images never change), only the trainable rest runs on tfjs. 'auto' falls back
 * to tfjs when nothing is frozen or the prefix cannot be exported; 'onnx' insists.
 */
async function openFrozenEngine(classifier: Classifier, choice: EngineChoice, log: (m: string) => void): Promise<FrozenEngine | undefined> {
  if (choice === 'tfjs') return undefined;
  const frozenUpTo = frozenPrefixEnd(classifier.model);
  // Nothing frozen: the compiled step was considered first (chooseCompiledStep) and logged its verdict.
  if (frozenUpTo === undefined) return undefined;
  try {
    const engine = await createFrozenEngine(classifier.model, { frozenUpTo });
    log(`engine: layers up to ${frozenUpTo} run on onnxruntime, the rest on tfjs`);
    return engine;
  } catch (error) {
    if (choice === 'onnx') throw error;
    log(`engine: tfjs (the frozen layers could not run on onnxruntime: ${error instanceof Error ? error.message : String(error)})`);
    return undefined;
  }
}

/**
 * Whether a phase trains with the compiled ONNX step: only when nothing at the model's start is frozen
 * (else the onnx-frozen engine fits better) and the step supports the model and optimizer. A resumed
 * phase follows the same rule whichever engine wrote its checkpoint: fit converts the optimizer state.
 */
function chooseCompiledStep(classifier: Classifier, choice: EngineChoice, optimizer: OptimizerName, log: (m: string) => void): boolean {
  if (choice === 'tfjs' || frozenPrefixEnd(classifier.model) !== undefined) return false;
  const decision = decideEngine(classifier.model, 'auto', resolveLoss(classifier.loss), optimizer);
  if (decision.engine === 'onnx-step') {
    log(`engine: onnx-step (compiled ONNX training step: ${decision.reason})`);
    return true;
  }
  log(`engine: tfjs (${decision.reason}; falling back to tfjs)`);
  return false;
}

interface Phase {
  index: 1 | 2;
  label?: string;
  /** Total epochs at the end of this phase. */
  untilEpoch: number;
  learningRate: number;
  trainable: { freezeBackbone?: boolean; fineTuneFrom?: string; freezeBatchNorm?: boolean };
}

function phasesOf(o: StoredConfig): Phase[] {
  const optimizer = o.optimizer ?? 'adam';
  const lr = o.learningRate ?? DEFAULT_LEARNING_RATE[optimizer];
  if (o.fineTuneEpochs && o.fineTuneEpochs > 0) {
    return [
      { index: 1, label: 'head', untilEpoch: o.epochs, learningRate: lr, trainable: { freezeBackbone: true } },
      { index: 2, label: 'fine-tune', untilEpoch: o.epochs + o.fineTuneEpochs, learningRate: o.fineTuneLr ?? lr / 10, trainable: { fineTuneFrom: o.fineTuneFrom ?? 'all', freezeBatchNorm: true } },
    ];
  }
  const trainable = o.fineTuneFrom !== undefined ? { fineTuneFrom: o.fineTuneFrom } : { freezeBackbone: Boolean(o.freezeBackbone) };
  return [{ index: 1, untilEpoch: o.epochs, learningRate: lr, trainable }];
}

export async function trainRun(options: TrainRunOptions, hooks: TrainRunHooks = {}): Promise<TrainRunResult> {
  const started = performance.now();
  const log = hooks.onLog ?? (() => undefined);
  await initEngine();
  const layout = runDirLayout(options.outDir);

  // On resume the stored config is the run's definition; only the run directory and signal come from the caller.
  let config: StoredConfig = storedConfig(options);
  let resumeFrom: TrainingCheckpoint | undefined;
  if (options.resume) {
    if (!existsSync(layout.config)) {
      throw new FileError(options.outDir, 'nothing to resume: not a tlkit run directory (no config.json); start the run without --resume');
    }
    const stored = await readJson<StoredConfig>(layout.config);
    checkResumeDataDir(options.dataDir, stored.dataDir, options.outDir);
    // The engine only decides where the numbers are computed (checkpoints convert between engines), so
    // an engine given with resume wins over the stored one.
    const engine = options.engine ?? stored.engine;
    if (options.engine !== undefined && options.engine !== (stored.engine ?? 'auto')) log(`engine ${options.engine} requested for the resumed run (its config.json says ${stored.engine ?? 'auto'})`);
    config = { ...stored, outDir: options.outDir, resume: true, ...(engine !== undefined ? { engine } : {}) };
    resumeFrom = await readCheckpoint(layout.lastCheckpoint).catch((error: unknown) => {
      if (error instanceof TlkitError && /no checkpoint here/.test(error.message)) return undefined;
      throw error;
    });
    log(resumeFrom ? `resuming ${options.outDir} at epoch ${resumeFrom.epoch + 1}, batch ${resumeFrom.batch}` : `no checkpoint in ${options.outDir} yet: starting the run from its config`);
  }
  const full: TrainRunOptions = { ...config, train: options.train, validation: options.validation, signal: options.signal };
  checkOptions(full);
  // Refusals that need nothing but the options come first: a refused run creates nothing.
  checkRunDirRequest({ outDir: options.outDir, resume: options.resume, overwrite: options.overwrite, inputDirs: [full.dataDir, full.valDir] });
  checkInputSize(full.inputSize, full.batchSize ?? 32);
  const engineChoice: EngineChoice = full.engine ?? 'auto';
  const seed = full.seed ?? Math.floor(Math.random() * 2 ** 31);
  config.seed = seed;

  let iterators: RunInputs | undefined;
  let classifier: Classifier | undefined;
  let runDir: RunDirClaim | undefined;
  try {
    const choice = weightsChoice(full);
    if (choice.reason) log(`weights: ${choice.reason}`);
    const scaling = inputScalingFor(full.backbone, choice.weights);
    const userRescale = full.augmentation?.rescale;
    if (typeof userRescale === 'number' && userRescale !== 0) scaling.rescale = userRescale;
    iterators = makeRunInputs(full, choice.weights, seed, scaling, log);
    checkRunData(iterators.train, iterators.validation, full);
    checkResumeIdentity(resumeFrom, { inputSize: iterators.inputSize, classNames: iterators.classNames }, options.outDir);
    const classes = iterators.classNames.length;
    const classMode = full.classMode ?? 'categorical';
    // Initial weights (the head's, and the backbone's with weights none) come from the run's seed too.
    const classifierOptions = {
      backbone: full.backbone,
      backboneOptions: { inputShape: [iterators.inputSize, iterators.inputSize, 3] as [number, number, number], ...(full.alpha !== undefined ? { alpha: full.alpha } : {}) },
      head: full.head,
      classes,
      classMode,
    };
    classifier = withSeededMathRandom(mixSeed(seed, 0x494e4954), () => buildClassifier(classifierOptions));
    const weightsInfo = await loadWeightsForRun(classifier, choice.weights, full, log);
    // Everything is checked (options, data, backbone, weights): only now does the run directory change.
    runDir = await claimRunDir(layout, { outDir: options.outDir, resume: options.resume, overwrite: options.overwrite, inputDirs: [full.dataDir, full.valDir] }, log);
    if (!options.resume) await writeJson(layout.config, { ...config, tlkit: { configVersion: 1 }, createdAt: new Date().toISOString() });

    const phases = phasesOf(config);
    const history: EpochLogs[] = [];
    let stoppedEarly = false;
    const checkpointer = new ModelCheckpoint({ dir: layout.checkpoints, monitor: iterators.validation ? 'val_loss' : 'loss', everyBatches: full.checkpointEveryBatches });
    const historyLogger = new HistoryLogger({ dir: layout.root });
    const phaseEngines: PhaseEngine[] = [];
    // The last phase's fast engine stays open for the final evaluation.
    let evaluationEngine: FrozenEngine | undefined;
    let evaluation: Evaluation | undefined;
    try {
      for (const phase of phases) {
        const resumeHere = resumeFrom && (resumeFrom.tag?.phase ?? 1) === phase.index ? resumeFrom : undefined;
        if (resumeFrom && !resumeHere && (resumeFrom.tag?.phase as number) > phase.index) continue;
        if (!resumeHere && history.length >= phase.untilEpoch) continue;
        setTrainable(classifier, phase.trainable);
        if (phase.label) log(`phase ${phase.index} (${phase.label}): ${describeTrainable(classifier)}, lr ${phase.learningRate}`);
        if (resumeHere) restoreWeights(classifier.model, resumeHere.weights);
        await closeFrozenEngine(evaluationEngine);
        evaluationEngine = undefined;
        // One 'engine: ...' line per phase: from whichever step below decides, else the plain tfjs one.
        let engineLogged = false;
        const engineLog = (message: string) => {
          engineLogged = true;
          log(message);
        };
        const useStep = chooseCompiledStep(classifier, engineChoice, full.optimizer ?? 'adam', engineLog);
        // The engine captures the frozen weights when created: create it after any restore.
        if (!useStep) evaluationEngine = await openFrozenEngine(classifier, engineChoice, engineLog);
        const engine = evaluationEngine;
        const phaseEngine: PhaseEngine = useStep ? 'onnx-step' : engine ? 'onnx-frozen' : 'tfjs';
        if (!engineLogged) log(`engine: tfjs${engineChoice === 'tfjs' ? ' (requested)' : ''}`);
        const resumedEngine = resumeHere ? (resumeHere.engine ?? 'tfjs') : undefined;
        if (resumedEngine && resumedEngine !== (useStep ? 'onnx-step' : 'tfjs')) {
          log(`resume: the checkpoint was written by the ${resumedEngine} engine; its optimizer state is converted for ${useStep ? 'onnx-step' : 'tfjs'}`);
        }
        phaseEngines.push(phaseEngine);
        const train = engine ? new FeatureIterator(iterators.train, engine, { cache: isDeterministic(iterators.train) }) : iterators.train;
        const validation = engine && iterators.validation ? new FeatureIterator(iterators.validation, engine, { cache: isDeterministic(iterators.validation) }) : iterators.validation;
        const monitor = iterators.validation ? 'val_loss' : 'loss';
        const callbacks: Callback[] = [checkpointer, historyLogger];
        if (full.earlyStoppingPatience !== undefined) callbacks.push(new EarlyStopping({ monitor, patience: full.earlyStoppingPatience, restoreBestWeights: true }));
        if (full.reduceLrPatience !== undefined) callbacks.push(new ReduceLROnPlateau({ monitor, patience: full.reduceLrPatience }));
        const result = await fit(engine ? engine.head : classifier.model, train, {
          epochs: phase.untilEpoch,
          initialEpoch: history.length,
          initialHistory: history,
          validation,
          optimizer: full.optimizer ?? 'adam',
          learningRate: phase.learningRate,
          loss: classifier.loss,
          classWeight: full.classWeight,
          callbacks,
          onProgress: hooks.onProgress,
          progressLabel: phase.label,
          signal: full.signal,
          seed: seed + phase.index,
          resumeFrom: resumeHere,
          extraLogs: phases.length > 1 ? { phase: phase.index } : undefined,
          tag: { phase: phase.index, engine: phaseEngine, inputSize: iterators.inputSize, classNames: iterators.classNames },
          stateModel: classifier.model,
          engine: useStep ? 'onnx' : 'tfjs',
          onLog: log,
        });
        result.optimizer.dispose();
        history.length = 0;
        history.push(...result.epochs);
        if (result.stoppedEarly) {
          stoppedEarly = true;
          log(`early stopping after epoch ${history.length}`);
        }
      }
      if (resumeFrom && history.length === 0) {
        // Everything had already run: the checkpoint holds the final state.
        restoreWeights(classifier.model, resumeFrom.weights);
        history.push(...resumeFrom.history);
      }
      if (iterators.validation) {
        const model = evaluationEngine ? evaluationEngine.head : classifier.model;
        const data = evaluationEngine ? new FeatureIterator(iterators.validation, evaluationEngine, { cache: false }) : iterators.validation;
        evaluation = await evaluate(model, data, { loss: classifier.loss, classNames: iterators.classNames, onProgress: hooks.onProgress, task: 'evaluate', signal: full.signal });
      }
    } finally {
      await closeFrozenEngine(evaluationEngine);
    }
    const summary = summarize(classifier.model);
    await saveModel(layout.model, classifier.model, {
      classNames: iterators.classNames,
      classMode,
      preprocess: weightsInfo.preprocess,
      ...(scaling.rescale !== undefined ? { rescale: scaling.rescale } : {}),
      inputSize: [iterators.inputSize, iterators.inputSize],
      backbone: classifier.backboneId,
      weightsSource: weightsInfo.source,
    });
    if (evaluation) await writeJson(layout.evaluation, evaluation);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const engine = [...new Set(phaseEngines)].join(',') || 'tfjs';
    await atomicWriteText(layout.summary, summaryText(classifier, summary, history, evaluation, elapsedSeconds, engine));
    runDir.complete();
    return {
      runDir: layout.root,
      history,
      evaluation,
      elapsedSeconds,
      params: { total: summary.totalParams, trainable: summary.trainableParams, nonTrainable: summary.nonTrainableParams },
      engine,
      phaseEngines,
      classNames: iterators.classNames,
      backbone: classifier.backboneId,
      stoppedEarly,
    };
  } finally {
    await iterators?.close();
    // The trained model lives on in the run directory; its tensors here are freed (compare runs many).
    classifier?.model.dispose();
    await runDir?.release();
  }
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

