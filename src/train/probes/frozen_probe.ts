// The linear probe of a run: pooled features of the frozen backbone for the training and held-out
// images, then linearProbe. The features are the ones the head phase already computed and cached when
// it could (no augmentation), so the probe costs only its solver; else one un-augmented pass through
// the frozen prefix on onnxruntime.
import { tf } from '../../engines/tfjs/tf.js';
import type { FeatureIterator } from '../loop/feature_iterator.js';
import { type DenseRows, type LinearProbeOptions, type LinearProbeResult } from './linear_probe.js';
import { cachedLinearProbe } from './probe_cache.js';
import { restOfEpoch } from '../../data/batch.js';

export interface ProbeRows {
  rows: DenseRows;
  labels: Int32Array;
  /** The iterator's sample index of each row (rows of unreadable files are absent). */
  indices: Int32Array;
}

/**
 * Average over the spatial positions of NHWC rows ([h, w, c] -> [c]; other shapes are kept flat), summed in
 * float64 (`sum`, the row's width) and written to `out` at `at` as float32: the pooled rows are kept as
 * float32 (half the memory of float64; 18,750 x 2,048 features are 154 MB), what the probe's onnxruntime
 * products read anyway.
 */
function poolRow(row: Float32Array, shape: number[], sum: Float64Array, out: Float32Array, at: number): void {
  const channels = shape.at(-1) ?? row.length;
  const positions = shape.length === 3 ? row.length / channels : 1;
  if (positions === 1) {
    out.set(row, at);
    return;
  }
  sum.fill(0);
  for (let p = 0; p < positions; p++) for (let c = 0; c < channels; c++) sum[c] += row[p * channels + c];
  for (let c = 0; c < channels; c++) out[at + c] = sum[c] / positions;
}

/** Row blocks of width d, one after the other, in one array. */
function stackRows(blocks: readonly { x: Float32Array; rows: number }[], d: number): { x: Float32Array; n: number } {
  const n = blocks.reduce((a, b) => a + b.rows, 0);
  const x = new Float32Array(n * d);
  let at = 0;
  for (const b of blocks) {
    x.set(b.x, at * d);
    at += b.rows;
  }
  return { x, n };
}

function pooledWidth(shape: number[]): number {
  return shape.length === 3 ? shape[2] : shape.reduce((a, b) => a * b, 1);
}

/** Class index of each label row: sparse / binary labels as they are, one-hot rows by their argmax. */
async function labelIndices(y: tf.Tensor): Promise<number[]> {
  if (y.rank === 2 && y.shape[1]! > 1) {
    const index = tf.argMax(y, 1);
    try {
      return Array.from(await index.data());
    } finally {
      index.dispose();
    }
  }
  return Array.from(await y.data(), (v) => Math.round(v));
}

/**
 * Pooled features and labels of every sample the iterator yields: from its cache when it has one filled
 * by a previous epoch, else by one pass over an epoch.
 */
export async function pooledFeatures(iterator: FeatureIterator): Promise<ProbeRows> {
  const cached = iterator.cachedRows();
  const classes = iterator.classes;
  const stored = classes ? iterator.storedRows() : undefined;
  if (stored && classes) {
    // Read from the feature store in sample order: no pixels, and the iterator's state is untouched.
    // Written in place: at most one row per sample, so no blocks to stack (one copy of the rows, not two).
    const d = pooledWidth(stored.shape);
    const rowSize = stored.shape.reduce((a, b) => a * b, 1);
    const sum = new Float64Array(d);
    const all = new Float32Array(stored.samples * d);
    const indices: number[] = [];
    for await (const chunk of stored.rows) {
      for (let i = 0; i < chunk.indices.length; i++) poolRow(chunk.data.subarray(i * rowSize, (i + 1) * rowSize), stored.shape, sum, all, (indices.length + i) * d);
      indices.push(...chunk.indices);
    }
    const n = indices.length;
    const x = n === stored.samples ? all : all.slice(0, n * d);
    return { rows: { x, n, d }, labels: Int32Array.from(indices, (i) => classes[i]), indices: Int32Array.from(indices) };
  }
  if (cached && cached.rows.size > 0 && classes) {
    const indices = [...cached.rows.keys()].sort((a, b) => a - b);
    const d = pooledWidth(cached.shape);
    const x = new Float32Array(indices.length * d);
    const sum = new Float64Array(d);
    indices.forEach((sample, i) => poolRow(cached.rows.get(sample)!, cached.shape, sum, x, i * d));
    return { rows: { x, n: indices.length, d }, labels: Int32Array.from(indices, (i) => classes[i]), indices: Int32Array.from(indices) };
  }
  const chunks: { x: Float32Array; labels: number[]; indices: number[] }[] = [];
  let d = 0;
  iterator.reset();
  for await (const batch of restOfEpoch(iterator)) {
    try {
      if (!batch.y) throw new Error('the linear probe needs labelled batches');
      const shape = batch.x.shape.slice(1);
      d = pooledWidth(shape);
      const data = (await batch.x.data()) as Float32Array;
      const n = batch.x.shape[0];
      const rowSize = data.length / n;
      const x = new Float32Array(n * d);
      const sum = new Float64Array(d);
      for (let i = 0; i < n; i++) poolRow(data.subarray(i * rowSize, (i + 1) * rowSize), shape, sum, x, i * d);
      chunks.push({ x, labels: await labelIndices(batch.y), indices: batch.indices ?? [] });
    } finally {
      batch.x.dispose();
      batch.y?.dispose();
    }
  }
  const { x, n } = stackRows(chunks.map((c) => ({ x: c.x, rows: c.labels.length })), d);
  const indices = chunks.flatMap((c) => c.indices);
  return { rows: { x, n, d }, labels: Int32Array.from(chunks.flatMap((c) => c.labels)), indices: Int32Array.from(indices.length === n ? indices : []) };
}

/** One split's pooled features: row i is the image `filepaths[i]`, labelled `labels[i]`. */
export interface SplitFeatures {
  rows: DenseRows;
  labels: Int32Array;
  /** Absolute paths, one per row. */
  filepaths: string[];
}

/** Pooled rows with the file of each row (from the iterator's filepaths), for the data audit. */
export function splitFeatures(rows: ProbeRows, iterator: FeatureIterator): SplitFeatures {
  const paths = iterator.filepaths ?? [];
  return { rows: rows.rows, labels: rows.labels, filepaths: Array.from(rows.indices, (i) => paths[i] ?? '') };
}

/**
 * The probe on a run's frozen features: trained on `train`, scored on `heldOut` (products on onnxruntime).
 * `onFeatures` receives the pooled rows (the data audit reuses them instead of a second pass).
 */
export async function probeFrozenFeatures(
  train: FeatureIterator,
  heldOut: FeatureIterator,
  classes: number,
  options: LinearProbeOptions & { cacheRoot?: string } = {},
  onFeatures?: (train: ProbeRows, heldOut: ProbeRows) => void,
): Promise<LinearProbeResult> {
  const a = await pooledFeatures(train);
  const b = await pooledFeatures(heldOut);
  onFeatures?.(a, b);
  const { cacheRoot, ...probe } = options;
  return cachedLinearProbe(cacheRoot, a.rows, a.labels, b.rows, b.labels, classes, probe);
}

export function describeProbe(p: LinearProbeResult): string {
  const when = p.fromCache ? `read from the probe cache (fitted in ${p.seconds.toFixed(1)} s)` : `${p.seconds.toFixed(1)} s`;
  return `linear probe: held-out accuracy ${p.accuracy.toFixed(4)} (train ${p.trainAccuracy.toFixed(4)}; logistic regression on ${p.features} pooled frozen features, C=${p.c} by cross-validation on the training data, ${when})`;
}

/**
 * The warning for a model that scores below its own linear probe on the same held-out images (by more than
 * 0.05, and more than twice the probe's binomial standard error there): a logistic regression on the frozen
 * pooled features already separates what the trained head, or its fine-tuning, does not. Undefined otherwise.
 */
export function belowProbeWarning(heldOutAccuracy: number, probe: Pick<LinearProbeResult, 'accuracy'>, heldOutImages: number): string | undefined {
  const p = probe.accuracy;
  const margin = Math.max(0.05, 2 * Math.sqrt((p * (1 - p)) / Math.max(1, heldOutImages)));
  if (!(p - heldOutAccuracy > margin)) return undefined;
  return (
    `warning: held-out accuracy ${heldOutAccuracy.toFixed(3)} is below the linear probe's ${p.toFixed(3)} on the same ${heldOutImages} images ` +
    '(a logistic regression on the frozen pooled features): the head is undertrained or the fine-tuning lost what the features held; ' +
    'try more head epochs (--epochs auto stops when validation stops improving), a lower --fine-tune-lr or fewer fine-tuned layers'
  );
}
