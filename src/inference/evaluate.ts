// evaluate: loss, accuracy, per-class precision / recall / F1 and the confusion matrix over one pass
// of an iterator, in inference mode (Dropout off, BatchNorm on moving statistics).
import { tf, type tfl } from '../engines/tfjs/tf.js';
import { DataError } from '../core/errors.js';
import type { ProgressCallback } from '../core/progress.js';
import { predictedClasses, sampleLosses, trueClasses } from './losses.js';
import { resolveLoss } from '../core/names.js';
import { restOfEpoch, type BatchIterator } from '../data/batch.js';
import { type LossName } from '../core/names.js';
import { invalidArgument } from '../core/errors.js';
import { WorstK } from './worst_k.js';

export interface EvaluateOptions {
  /** Loss to report; inferred from the output and labels when omitted. */
  loss?: LossName | string;
  /** Names of the class indices; defaults to the iterator's classNames, then '0', '1'... */
  classNames?: string[];
  onProgress?: ProgressCallback;
  /** Task name in progress events. */
  task?: string;
  signal?: AbortSignal;
  /** Computes the model's output instead of tfjs (e.g. an ONNX predictor's `predict`); the caller owns it. */
  predictor?: (x: tf.Tensor) => Promise<tf.Tensor>;
  /**
   * Misclassified images kept: the `misclassifiedLimit` with the largest loss (the worst mistakes);
   * the others are only counted (`misclassifiedCount`), so memory does not grow with the images. Default 200.
   */
  misclassifiedLimit?: number;
}

export const DEFAULT_MISCLASSIFIED_LIMIT = 200;

export interface ClassReport {
  className: string;
  precision: number;
  recall: number;
  f1: number;
  /** Samples of this class. */
  support: number;
}

/** A sample the model got wrong: its file (or '#index' without files), the classes, and the confidence. */
export interface Misclassified {
  file: string;
  index: number;
  trueClass: string;
  predictedClass: string;
  /** Probability the model gave its (wrong) prediction. */
  probability: number;
  /** The sample's loss (what ranks the mistakes). */
  loss?: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  samples: number;
  classNames: string[];
  /** confusionMatrix[true][predicted] = count. */
  confusionMatrix: number[][];
  perClass: ClassReport[];
  /** Unweighted means over classes (sklearn's macro avg). */
  macro: { precision: number; recall: number; f1: number };
  /** The worst misclassified samples (largest loss first), at most `misclassifiedLimit` of them. */
  misclassified: Misclassified[];
  /** Misclassified samples in all (the list above keeps the worst of them). */
  misclassifiedCount: number;
}

/** Keras's rule: one sigmoid unit -> binary; labels as wide as the output -> categorical; else sparse. */
export function inferLoss(yPred: tf.Tensor, yTrue: tf.Tensor): LossName {
  const units = yPred.shape[yPred.rank - 1];
  if (yPred.rank === 1 || units === 1) return 'binary_crossentropy';
  if (yTrue.rank === 2 && yTrue.shape[1] === units && units > 1) return 'categorical_crossentropy';
  return 'sparse_categorical_crossentropy';
}

function outputClasses(model: tfl.LayersModel): number {
  const shape = model.outputs[0].shape;
  const units = shape[shape.length - 1] ?? 1;
  return units === 1 ? 2 : units;
}

/** Accumulates a confusion matrix and the loss sum over batches. */
export class ConfusionAccumulator {
  readonly matrix: number[][];
  lossSum = 0;
  samples = 0;

  constructor(readonly numClasses: number) {
    this.matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  }

  add(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    for (let i = 0; i < truth.length; i++) {
      const t = truth[i];
      const p = predicted[i];
      if (t < 0 || t >= this.numClasses) throw new DataError(`label ${t} is outside the model's ${this.numClasses} classes`);
      this.matrix[t][p] += 1;
    }
  }

  get correct(): number {
    return this.matrix.reduce((sum, row, i) => sum + row[i], 0);
  }
}

export function classificationReport(matrix: number[][], classNames: string[]): { perClass: ClassReport[]; macro: Evaluation['macro'] } {
  const n = matrix.length;
  const perClass: ClassReport[] = [];
  for (let c = 0; c < n; c++) {
    const tp = matrix[c][c];
    const support = matrix[c].reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((a, row) => a + row[c], 0);
    // sklearn's zero_division=0 convention.
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ className: classNames[c] ?? String(c), precision, recall, f1, support });
  }
  // Over the classes that occur, as labels or as predictions (sklearn's classification_report): a class the
  // test folder does not hold and the model never answered has no figures to average.
  const occurring = perClass.filter((r, c) => r.support > 0 || matrix.some((row) => row[c] > 0));
  const mean = (k: 'precision' | 'recall' | 'f1') => occurring.reduce((a, r) => a + r[k], 0) / Math.max(1, occurring.length);
  return { perClass, macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') } };
}

/** One pass over `iterator` from its first batch. The batch tensors are disposed here. */
export async function evaluate(model: tfl.LayersModel, iterator: BatchIterator, options: EvaluateOptions = {}): Promise<Evaluation> {
  const numClasses = outputClasses(model);
  const acc = new ConfusionAccumulator(numClasses);
  let loss: LossName | undefined = options.loss === undefined ? undefined : resolveLoss(options.loss);
  const task = options.task ?? 'evaluate';
  const limit = options.misclassifiedLimit ?? DEFAULT_MISCLASSIFIED_LIMIT;
  if (!Number.isInteger(limit) || limit < 0) throw invalidArgument('misclassifiedLimit', options.misclassifiedLimit, 'an integer >= 0');
  const worst = new WorstK<Misclassified>(limit);
  iterator.reset();
  let b = 0;
  for await (const batch of restOfEpoch(iterator)) {
    options.signal?.throwIfAborted();
    try {
      if (!batch.y) throw new DataError('evaluate needs labels, but the iterator yields none (class_mode none?)');
      const y = batch.y;
      const external = options.predictor ? await options.predictor(batch.x) : undefined;
      const [losses, truth, predicted, confidence] = tf.tidy(() => {
        const out = external ?? (model.apply(batch.x, { training: false }) as tf.Tensor);
        loss ??= inferLoss(out, y);
        const pred = predictedClasses(out);
        // Probability of the predicted class: max of a softmax, p or 1 - p of a sigmoid.
        const flat = tf.reshape(out, [out.shape[0], -1]);
        const conf = flat.shape[1] === 1 ? tf.abs(tf.sub(tf.reshape(flat, [-1]), tf.sub(1, tf.cast(pred, 'float32')))) : tf.max(flat, -1);
        return [tf.reshape(sampleLosses(loss, y, out), [-1]), trueClasses(loss, y), pred, conf];
      });
      const values = await Promise.all([losses.data(), truth.data(), predicted.data(), confidence.data()]);
      tf.dispose([losses, truth, predicted, confidence, external as tf.Tensor]);
      const [l, t, p, c] = values;
      let batchLoss = 0;
      for (let i = 0; i < l.length; i++) batchLoss += l[i];
      for (let i = 0; i < t.length; i++) {
        if (t[i] === p[i]) continue;
        const index = batch.indices?.[i] ?? acc.samples + i;
        const sampleLoss = l.length === t.length ? l[i] : 0;
        worst.offer(sampleLoss, { file: iterator.filepaths?.[index] ?? `#${index}`, index, trueClass: String(t[i]), predictedClass: String(p[i]), probability: c[i], loss: sampleLoss });
      }
      acc.lossSum += batchLoss;
      acc.samples += t.length;
      acc.add(t, p);
    } finally {
      tf.dispose([batch.x, batch.y as tf.Tensor]);
    }
    b += 1;
    options.onProgress?.({ task, current: b, total: Math.max(b, iterator.length), unit: 'batch', done: b >= iterator.length });
  }
  // Accuracy on no image is not a number to report: say why instead.
  if (acc.samples === 0) {
    const skipped = (iterator as { skippedFiles?: { file: string; reason: string }[] }).skippedFiles ?? [];
    const where = (iterator as { directory?: string }).directory;
    throw new DataError(
      `nothing to evaluate: no image could be used${where ? ` in ${where}` : ''}` +
        (skipped.length ? ` (all ${skipped.length} files were skipped; first: ${skipped[0]!.file}: ${skipped[0]!.reason})` : ' (no images)'),
    );
  }
  const classNames = options.classNames ?? iterator.classNames ?? Array.from({ length: numClasses }, (_, i) => String(i));
  const misclassified = worst.sorted();
  for (const m of misclassified) {
    m.trueClass = classNames[Number(m.trueClass)] ?? m.trueClass;
    m.predictedClass = classNames[Number(m.predictedClass)] ?? m.predictedClass;
  }
  return {
    misclassified,
    misclassifiedCount: worst.offered,
    loss: acc.samples > 0 ? acc.lossSum / acc.samples : NaN,
    accuracy: acc.samples > 0 ? acc.correct / acc.samples : NaN,
    samples: acc.samples,
    classNames,
    confusionMatrix: acc.matrix,
    ...classificationReport(acc.matrix, classNames),
  };
}
