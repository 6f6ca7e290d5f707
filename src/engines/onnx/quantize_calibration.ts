// Activation ranges for static quantization: the float model, with the tensors to quantize added as
// graph outputs, runs on calibration batches (images prepared exactly as for inference) and each
// tensor's range is kept: min-max (the extremes seen), or percentile (the extremes after cutting a
// tail of (100 - percentile)% on each side, from a 2048-bin histogram over the min-max range: a second
// pass, so a few outliers do not stretch the scale of every other value).
import { invalidArgument, DataError } from '../../core/errors.js';
import type { ProgressCallback } from '../../core/progress.js';
import { onnx } from './graph_builder.js';
import { decodeModel } from './onnx_graph.js';
import { createOnnxRunner, type OnnxOutput } from './session.js';

export interface CalibrationBatch {
  /** Preprocessed model input, NHWC float32 (as the exported model takes it). */
  data: Float32Array;
  shape: number[];
}

/** Batches in memory, or a function that yields them afresh on each call (percentile reads them twice). */
export type CalibrationData = readonly CalibrationBatch[] | (() => AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch>);

export type CalibrationMethod = 'minmax' | 'percentile';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile'];

export interface TensorRange {
  min: number;
  max: number;
  /**
   * Largest value of each channel (axis 1, NCHW), min-max over the calibration data, for the tensors
   * named in CalibrateOptions.channelMaxOf: how high each input channel's uint8 codes go
   * (weight_quantization.ts).
   */
  channelMax?: Float32Array;
  /** Mean of each channel over the calibration data, for the same tensors (bias correction). */
  channelMean?: Float32Array;
}

export interface CalibrateOptions {
  method?: CalibrationMethod;
  /** Kept share of each tensor's values, in percent, for 'percentile'. Default 99.99. */
  percentile?: number;
  /** Tensors whose per-channel maxima and means (axis 1) are kept too, in TensorRange.channelMax / channelMean. */
  channelStatsOf?: readonly string[];
  /** onnxruntime threads. */
  threads?: number;
  onProgress?: ProgressCallback;
}

const BINS = 2048;
/** Calibration runs many outputs per image: small slices keep that memory bounded. */
const CALIBRATION_RUN_BATCH = 2;

function batchesOf(data: CalibrationData): AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch> {
  return typeof data === 'function' ? data() : data;
}

/** The ranges of `tensors` (value names of the float model `modelBytes`) over the calibration data. */
export async function calibrateRanges(modelBytes: Uint8Array, tensors: readonly string[], data: CalibrationData, options: CalibrateOptions = {}): Promise<Map<string, TensorRange>> {
  const method = options.method ?? 'minmax';
  if (!CALIBRATION_METHODS.includes(method)) throw invalidArgument('method', method, CALIBRATION_METHODS.join(' or '));
  const percentile = options.percentile ?? 99.99;
  if (!(percentile > 50 && percentile <= 100)) throw invalidArgument('percentile', percentile, 'a number in (50, 100]');

  const model = decodeModel(modelBytes);
  const graph = model.graph!;
  const inputName = graph.input![0].name!;
  const existing = new Set(graph.output!.map((o) => o.name));
  const asOutputs = tensors.filter((t) => t !== inputName && !existing.has(t));
  graph.output = [...graph.output!, ...asOutputs.map((name) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }))];
  const bytes = onnx.ModelProto.encode(model).finish();
  // 'basic' keeps every requested output as computed by the float graph (no fusion across them).
  const runner = await createOnnxRunner(bytes, { graphOptimizationLevel: 'basic', intraOpNumThreads: options.threads, maxRunBatch: CALIBRATION_RUN_BATCH });
  const valueOf = (outputs: Record<string, OnnxOutput>, batch: CalibrationBatch, name: string): Float32Array => (name === inputName ? batch.data : outputs[name].data);

  const ranges = new Map<string, TensorRange>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
  const channelStatsOf = new Set((options.channelStatsOf ?? []).filter((t) => t !== inputName && ranges.has(t)));
  const channelSums = new Map<string, { sum: Float64Array; count: number }>();
  let images = 0;
  const passes = method === 'percentile' ? 2 : 1;
  let expected = 0;
  try {
    for await (const batch of batchesOf(data)) {
      const outputs = await runner.runAll(batch.data, batch.shape);
      for (const name of tensors) {
        const values = valueOf(outputs, batch, name);
        const r = ranges.get(name)!;
        let lo = r.min;
        let hi = r.max;
        for (let i = 0; i < values.length; i++) {
          const v = values[i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        r.min = lo;
        r.max = hi;
        if (channelStatsOf.has(name)) {
          const shape = outputs[name].shape;
          r.channelMax = channelMaxima(values, shape, r.channelMax);
          const acc = channelSums.get(name) ?? { sum: new Float64Array(shape[1] ?? 1), count: 0 };
          addChannelSums(values, shape, acc.sum);
          acc.count += values.length / acc.sum.length;
          channelSums.set(name, acc);
        }
      }
      images += batch.shape[0];
      options.onProgress?.({ task: 'calibrate', current: images, unit: 'img', done: false });
    }
    if (images === 0) throw new DataError('calibration needs at least one image; got none');
    for (const [name, r] of ranges) {
      if (!Number.isFinite(r.min) || !Number.isFinite(r.max)) throw new DataError(`calibration: tensor '${name}' holds non-finite values (${r.min}..${r.max}); the model or its input is broken`);
    }
    for (const [name, { sum, count }] of channelSums) ranges.get(name)!.channelMean = Float32Array.from(sum, (v) => v / count);
    expected = images * passes;
    options.onProgress?.({ task: 'calibrate', current: images, total: expected, unit: 'img', done: passes === 1 });
    if (method === 'minmax') return ranges;

    const histograms = new Map<string, Float64Array>(tensors.map((t) => [t, new Float64Array(BINS)]));
    for await (const batch of batchesOf(data)) {
      const outputs = await runner.runAll(batch.data, batch.shape);
      for (const name of tensors) {
        const values = valueOf(outputs, batch, name);
        const { min, max } = ranges.get(name)!;
        const h = histograms.get(name)!;
        const k = max > min ? (BINS - 1) / (max - min) : 0;
        for (let i = 0; i < values.length; i++) h[Math.round((values[i] - min) * k)]++;
      }
      images += batch.shape[0];
      options.onProgress?.({ task: 'calibrate', current: Math.min(images, expected), total: expected, unit: 'img', done: false });
    }
    options.onProgress?.({ task: 'calibrate', current: expected, total: expected, unit: 'img', done: true });
    const cut = (100 - percentile) / 100;
    const result = new Map<string, TensorRange>();
    for (const [name, { min, max, channelMax, channelMean }] of ranges) result.set(name, { ...percentileRange(histograms.get(name)!, min, max, cut), ...(channelMax ? { channelMax, channelMean } : {}) });
    return result;
  } finally {
    await runner.dispose();
  }
}

/** Running maxima over axis 1 of an [N, C, ...] tensor. */
function channelMaxima(values: Float32Array, shape: readonly number[], previous: Float32Array | undefined): Float32Array {
  const channels = shape.length >= 2 ? shape[1] : 1;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const out = previous ?? new Float32Array(channels).fill(-Infinity);
  for (let base = 0, c = 0; base < values.length; base += inner, c = (c + 1) % channels) {
    let m = out[c];
    for (let i = base; i < base + inner; i++) if (values[i] > m) m = values[i];
    out[c] = m;
  }
  return out;
}

/** Adds each channel's values (axis 1 of [N, C, ...]) into `sum`. */
function addChannelSums(values: Float32Array, shape: readonly number[], sum: Float64Array): void {
  const channels = sum.length;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  for (let base = 0, c = 0; base < values.length; base += inner, c = (c + 1) % channels) {
    let s = 0;
    for (let i = base; i < base + inner; i++) s += values[i];
    sum[c] += s;
  }
}

/** The range left after cutting a `cut` share of the values off each end of the histogram. */
export function percentileRange(histogram: Float64Array, min: number, max: number, cut: number): TensorRange {
  if (!(max > min)) return { min, max };
  const total = histogram.reduce((a, b) => a + b, 0);
  const width = (max - min) / (histogram.length - 1);
  let below = 0;
  let lo = 0;
  while (lo < histogram.length - 1 && below + histogram[lo] <= cut * total) below += histogram[lo++];
  let above = 0;
  let hi = histogram.length - 1;
  while (hi > lo && above + histogram[hi] <= cut * total) above += histogram[hi--];
  // Bin i holds the values that round to min + i * width; its upper edge is half a bin further.
  return { min: lo === 0 ? min : min + (lo - 0.5) * width, max: hi === histogram.length - 1 ? max : min + (hi + 0.5) * width };
}
