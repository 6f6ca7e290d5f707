// BatchNorm recalibration (Detectron2's PreciseBN; AdaBN for a new domain). A BatchNormalization layer
// trained in training mode normalises with batch statistics, but predicts with moving averages that lag
// far behind the weights they describe (Keras MobileNetV2's momentum 0.999 moves them ~14% of the way in
// 150 steps): training accuracy climbs while held-out accuracy collapses. After such a phase, one pass over
// un-augmented training batches sets each moving mean / variance to the average of its batch statistics,
// computed as training computed them (every recalibrated layer normalising with its batch's statistics).
import { tf, tfl } from '../../engines/tfjs/tf.js';
import { resolveTensor, type TensorScope } from '../../engines/onnx/model_walk.js';
import { isFrozen } from '../../engines/tfjs/batch_norm_layer.js';
import type { ProgressCallback } from '../../core/progress.js';
import { TlkitError, TrainingError, invalidArgument } from '../../core/errors.js';
import { OnnxBatchStatistics, type LayerBatchStatistics } from '../../engines/onnx/training/batch_statistics.js';
import { UnsupportedLayer } from '../../engines/onnx/layers/index.js';
import { readTensorData } from '../../engines/onnx/tensor_data.js';
import { restOfEpoch, type BatchIterator } from '../../data/batch.js';
import { runtimeFor, type Runtime } from '../../engines/engine_decision.js';
import type { EngineChoice } from '../../core/names.js';

type Layer = tfl.layers.Layer;

export interface RecalibrationOptions {
  /** Which BatchNormalization layers to recalibrate. Default: those not frozen (they trained in training mode). */
  select?: (layer: Layer) => boolean;
  /**
   * Stop after the batch that brings the images seen to at least this many (so at least one batch):
   * a bounded estimate, as trainRun makes before each validation. Default: one whole epoch of `data`.
   */
  maxSamples?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * Where the statistics pass runs: an EngineChoice ('auto', the default, resolves through
   * engines/engine_decision.ts as every caller's does: onnxruntime when the model compiles to ONNX and
   * the selected layers are exactly its BatchNorm layers in training mode, else tfjs), or the
   * `recalibration` runtime of a run's EnginePlan ('onnxruntime' falls back to tfjs as 'auto' does).
   */
  engine?: EngineChoice | Runtime;
  /** onnxruntime threads (default: the machine's cores). */
  intraOpNumThreads?: number;
}

export interface RecalibrationResult {
  layers: number;
  batches: number;
  samples: number;
  seconds: number;
  /** The engine that ran the statistics pass (absent when there was nothing to recalibrate). */
  engine?: 'onnx' | 'tfjs';
  /** Why onnxruntime was not used, when 'auto' fell back to tfjs. */
  fallbackReason?: string;
}

function isBatchNorm(layer: Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

/** Every BatchNormalization layer of the model, nested models included. */
export function batchNormLayers(model: tfl.LayersModel): Layer[] {
  const out: Layer[] = [];
  const visit = (m: tfl.LayersModel) => {
    for (const layer of m.layers) {
      if (layer instanceof tfl.LayersModel) visit(layer);
      else if (isBatchNorm(layer)) out.push(layer);
    }
  };
  visit(model);
  return out;
}

/** The BatchNormalization layers a phase with the model's current trainable flags trains in training mode. */
export function batchNormTrainedInTrainingMode(model: tfl.LayersModel): Layer[] {
  return batchNormLayers(model).filter((layer) => !isFrozen(layer));
}

function variableNamed(layer: Layer, suffix: string): tfl.LayerVariable {
  const v = layer.weights.find((w) => w.originalName.endsWith(suffix) || w.name.endsWith(suffix));
  if (!v) throw new TrainingError(`BatchNormalization layer '${layer.name}' has no ${suffix} weight`);
  return v;
}

interface Accumulator {
  mean: Float64Array;
  variance: Float64Array;
}

/**
 * Sets the moving mean and variance of the selected BatchNormalization layers to the average, over one
 * pass of `data` (or its first `maxSamples` images), of the batch mean and (biased, as training normalises with) batch variance each layer
 * sees when the selected layers normalise with batch statistics and every other layer runs in inference
 * mode (dropout off). Batches are weighted equally, as PreciseBN does.
 */
export async function recalibrateBatchNorm(model: tfl.LayersModel, data: BatchIterator, options: RecalibrationOptions = {}): Promise<RecalibrationResult> {
  const started = performance.now();
  const selected = new Set(batchNormLayers(model).filter(options.select ?? ((l) => !isFrozen(l))));
  const result: RecalibrationResult = { layers: selected.size, batches: 0, samples: 0, seconds: 0 };
  if (selected.size === 0) return result;
  const maxSamples = options.maxSamples ?? Infinity;
  if (!(maxSamples >= 1)) throw invalidArgument('maxSamples', options.maxSamples, 'a number >= 1');
  const sums = new Map<Layer, Accumulator>();
  let engine: 'onnx' | 'tfjs' | undefined;
  let onnx: OnnxBatchStatistics | undefined;
  data.reset();
  try {
    for await (const batch of restOfEpoch(data)) {
      if (options.signal?.aborted) {
        batch.x.dispose();
        batch.y?.dispose();
        throw new TrainingError('BatchNorm recalibration aborted');
      }
      if (engine === undefined) ({ engine, onnx } = await chooseEngine(model, selected, batch.x.shape[0], options, result));
      try {
        const moments = onnx ? await onnx.run(readTensorData(batch.x), batch.x.shape[0]) : await tfjsMoments(model, selected, batch.x);
        for (const { layer, mean, variance } of moments) {
          let acc = sums.get(layer);
          if (!acc) sums.set(layer, (acc = { mean: new Float64Array(mean.length), variance: new Float64Array(mean.length) }));
          for (let c = 0; c < mean.length; c++) {
            acc.mean[c] += mean[c];
            acc.variance[c] += variance[c];
          }
        }
        result.batches++;
        result.samples += batch.x.shape[0];
        options.onProgress?.({ task: 'recalibrate BatchNorm', current: result.samples, unit: 'img' });
      } finally {
        batch.x.dispose();
        batch.y?.dispose();
      }
      if (result.samples >= maxSamples) break;
    }
  } finally {
    await onnx?.dispose();
  }
  if (result.batches === 0) return result;
  result.engine = engine;
  for (const [layer, acc] of sums) {
    const n = result.batches;
    const write = (suffix: string, values: Float64Array) => {
      const v = variableNamed(layer, suffix);
      const t = tf.tensor1d(Float32Array.from(values, (s) => s / n));
      v.write(t);
      t.dispose();
    };
    write('moving_mean', acc.mean);
    write('moving_variance', acc.variance);
  }
  result.seconds = (performance.now() - started) / 1000;
  options.onProgress?.({ task: 'recalibrate BatchNorm', current: result.samples, total: result.samples, unit: 'img', done: true });
  return result;
}

/** One batch's statistics on tfjs: the selected layers normalise with them, every other layer runs in inference mode. */
async function tfjsMoments(model: tfl.LayersModel, selected: Set<Layer>, x: tf.Tensor): Promise<LayerBatchStatistics[]> {
  const moments: { layer: Layer; mean: tf.Tensor; variance: tf.Tensor }[] = [];
  try {
    tf.tidy(() => {
      const scope: TensorScope<tf.Tensor> = new Map(model.inputs.map((t) => [t.id, x]));
      const walk = {
        inlineNestedModels: true,
        unboundInput: (layer: Layer) => new TrainingError(`recalibration: model input '${layer.name}' has no value`),
        callLayer: (layer: Layer, _node: unknown, inputs: tf.Tensor[]): tf.Tensor[] => {
          if (!selected.has(layer)) {
            const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false }) as tf.Tensor | tf.Tensor[];
            return Array.isArray(out) ? out : [out];
          }
          const input = inputs[0];
          const axes = input.shape.map((_, i) => i).slice(0, -1);
          const { mean, variance } = tf.moments(input, axes);
          moments.push({ layer, mean: tf.keep(mean), variance: tf.keep(variance) });
          const config = layer.getConfig() as { epsilon?: number; center?: boolean; scale?: boolean };
          const gamma = config.scale === false ? undefined : variableNamed(layer, 'gamma').read();
          const beta = config.center === false ? undefined : variableNamed(layer, 'beta').read();
          return [tf.batchNorm(input, mean, variance, beta, gamma, config.epsilon ?? 1e-3)];
        },
      };
      // Only the values up to the last selected layer are needed, but the outputs reach every one.
      for (const output of model.outputs) resolveTensor(output, scope, walk);
    });
    const out = [];
    for (const m of moments) out.push({ layer: m.layer, mean: (await m.mean.data()) as Float32Array, variance: (await m.variance.data()) as Float32Array });
    return out;
  } finally {
    tf.dispose(moments.flatMap((m) => [m.mean, m.variance]));
  }
}

/**
 * onnxruntime for the pass when asked or possible: the model must compile to ONNX and its BatchNorm
 * layers in training mode must be exactly the selected ones. Records why not on `result` under 'auto'.
 */
async function chooseEngine(model: tfl.LayersModel, selected: Set<Layer>, batchSize: number, options: RecalibrationOptions, result: RecalibrationResult): Promise<{ engine: 'onnx' | 'tfjs'; onnx?: OnnxBatchStatistics }> {
  const wanted = options.engine ?? 'auto';
  const { runtime, fallbackToTfjs } = wanted === 'onnxruntime' ? { runtime: wanted, fallbackToTfjs: true } : runtimeFor(wanted);
  if (runtime === 'tfjs') return { engine: 'tfjs' };
  let onnx: OnnxBatchStatistics | undefined;
  let reason: string;
  try {
    onnx = await OnnxBatchStatistics.create(model, batchSize, { intraOpNumThreads: options.intraOpNumThreads });
    if (onnx.layers.length === selected.size && onnx.layers.every((l) => selected.has(l))) return { engine: 'onnx', onnx };
    reason = `the selected BatchNorm layers (${selected.size}) are not the ${onnx.layers.length} that run in training mode`;
    await onnx.dispose();
  } catch (error) {
    if (!(error instanceof UnsupportedLayer) && !(error instanceof TlkitError)) throw error;
    reason = error.message;
  }
  if (!fallbackToTfjs) throw new TrainingError(`BatchNorm recalibration on onnxruntime: ${reason}`);
  result.fallbackReason = reason;
  return { engine: 'tfjs' };
}

/**
 * Copies of the moving mean and variance of `layers`, and a function that writes them back: trainRun
 * validates with recalibrated statistics, then puts the training's own moving averages back so that
 * checkpoints, callbacks and the rest of training see exactly what they would have without it.
 */
export function saveMovingStatistics(layers: Layer[]): { restore: () => void } {
  const saved = layers.flatMap((layer) => ['moving_mean', 'moving_variance'].map((suffix) => {
    const variable = variableNamed(layer, suffix);
    return { variable, values: tf.keep(tf.clone(variable.read())) };
  }));
  let restored = false;
  return {
    restore: () => {
      if (restored) return;
      restored = true;
      for (const { variable, values } of saved) {
        variable.write(values);
        values.dispose();
      }
    },
  };
}

/** Held-out accuracy this far below training accuracy earns a warning. */
export const GENERALIZATION_GAP_WARNING = 0.15;

/**
 * The warning for a held-out accuracy far below the training accuracy, with the likely reasons given
 * what the run did about BatchNorm; undefined when the gap is small.
 */
export function generalizationWarning(trainAccuracy: number, heldOutAccuracy: number, batchNorm: 'recalibrated' | 'skipped' | 'not-trained'): string | undefined {
  if (!(trainAccuracy - heldOutAccuracy > GENERALIZATION_GAP_WARNING)) return undefined;
  const head = `warning: held-out accuracy ${heldOutAccuracy.toFixed(3)} is far below training accuracy ${trainAccuracy.toFixed(3)}`;
  if (batchNorm === 'skipped') {
    return `${head}: BatchNorm layers trained in training mode and their moving statistics were not recalibrated (--no-recalibrate-bn), so prediction normalises with averages that lag behind the weights; drop --no-recalibrate-bn, or freeze BatchNorm`;
  }
  const bn = batchNorm === 'recalibrated' ? ' (BatchNorm statistics were recalibrated, so they are not the cause)' : '';
  return `${head}${bn}: the model overfits the training images or the held-out images differ from them; try augmentation, fewer trainable layers, a lower rate or more data`;
}
