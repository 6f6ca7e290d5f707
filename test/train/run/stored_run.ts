// What the store-reading tests of `tlkit evaluate` and `tlkit predict` share: a small run on a frozen
// backbone that fills a feature store, and the `features: N from the store, M computed` line.
import { join } from 'node:path';
import { trainRun } from '../../../src/train/run/run.js';

export const SAMPLE = join(import.meta.dirname, '..', '..', '..', 'samples', 'fashion-shoes');

/** [from the store, computed] of the log's features line, or undefined without one. */
export function featureLine(stderr: string): [number, number] | undefined {
  const match = /features: ([\d,]+) from the store, ([\d,]+) computed/.exec(stderr);
  return match ? [Number(match[1].replace(/,/g, '')), Number(match[2].replace(/,/g, ''))] : undefined;
}

/** A 1-epoch frozen-backbone run on the embedded sample (validated on its test/ folder), its features in `store`. */
export function trainStoredRun(root: string, store: string): ReturnType<typeof trainRun> {
  return trainRun({
    dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbone: 'mobilenet_v2', alpha: 0.35, inputSize: 48, weights: 'none',
    freezeBackbone: true, epochs: 1, batchSize: 32, seed: 4, featureStore: store, linearProbe: false, outDir: join(root, 'run'),
  });
}
