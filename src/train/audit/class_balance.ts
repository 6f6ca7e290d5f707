// The class-balance table: images per class in each split, each class's share of the training images,
// and the ratio of the largest class to the smallest (a classifier trained on 10:1 data leans to the
// large class; classWeight 'auto' or more images of the small one are the usual answers).
import type { ClassBalance } from './types.js';

export function classBalance(classNames: readonly string[], trainLabels: ArrayLike<number>, validationLabels: ArrayLike<number>, labelIssuesPerClass: ArrayLike<number> = []): { classes: ClassBalance[]; imbalanceRatio: number } {
  const train = new Array<number>(classNames.length).fill(0);
  const validation = new Array<number>(classNames.length).fill(0);
  for (let i = 0; i < trainLabels.length; i++) train[trainLabels[i]]++;
  for (let i = 0; i < validationLabels.length; i++) validation[validationLabels[i]]++;
  const total = train.reduce((a, b) => a + b, 0);
  const classes = classNames.map((name, c) => ({ name, train: train[c], validation: validation[c], fraction: total > 0 ? Math.round((train[c] / total) * 1e4) / 1e4 : 0, labelIssues: labelIssuesPerClass[c] ?? 0 }));
  const smallest = Math.min(...train);
  const imbalanceRatio = smallest > 0 ? Math.max(...train) / smallest : Number.POSITIVE_INFINITY;
  return { classes, imbalanceRatio: Number.isFinite(imbalanceRatio) ? Math.round(imbalanceRatio * 100) / 100 : imbalanceRatio };
}
