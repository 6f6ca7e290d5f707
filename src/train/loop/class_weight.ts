// class_weight as in Keras fit, plus 'auto' = sklearn's "balanced": n_samples / (n_classes * count_c).
import { DataError, invalidArgument } from '../../core/errors.js';
import type { ClassWeight } from './types.js';
import type { BatchIterator } from '../../data/batch.js';

export function balancedClassWeight(classes: ArrayLike<number>, numClasses: number): Record<number, number> {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < classes.length; i++) counts[classes[i]]++;
  const weights: Record<number, number> = {};
  counts.forEach((count, c) => {
    // A class with no sample never contributes to the loss; give it 1 rather than Infinity.
    weights[c] = count > 0 ? classes.length / (numClasses * count) : 1;
  });
  return weights;
}

/** Resolves the classWeight option to one weight per class index (missing classes weigh 1). */
export function resolveClassWeight(classWeight: ClassWeight | undefined, iterator: BatchIterator, numClasses: number): number[] | undefined {
  if (classWeight === undefined) return undefined;
  if (classWeight === 'auto') {
    if (!iterator.classes) throw new DataError("classWeight 'auto' needs the label of every training sample, but the training iterator has no `classes`");
    const w = balancedClassWeight(iterator.classes, numClasses);
    return Array.from({ length: numClasses }, (_, c) => w[c]);
  }
  if (typeof classWeight !== 'object' || classWeight === null) throw invalidArgument('classWeight', classWeight, "'auto' or an object {classIndex: weight}");
  const weights = new Array<number>(numClasses).fill(1);
  for (const [key, value] of Object.entries(classWeight)) {
    const c = Number(key);
    if (!Number.isInteger(c) || c < 0 || c >= numClasses || !Number.isFinite(value) || value < 0) {
      throw invalidArgument('classWeight', classWeight, `keys that are class indices 0..${numClasses - 1} and weights >= 0`);
    }
    weights[c] = value;
  }
  return weights;
}
