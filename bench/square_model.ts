// A mobilenet-family model trained by tlkit's own trainRun on the bright-square set (the class is the half
// holding the square), kept in a folder and reused on the next call, with its held-out images: shared by the
// pointing-game benches (explain_maps.ts, explain_pointing.ts), so their --keep folders are interchangeable.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { trainRun } from '../src/train/run/run.js';
import { brightSquareSet, writeSquareSet, type SquareSet } from '../test/helpers/bright_square_set.js';

export interface SquareModelOptions {
  /** Folder holding run/, train/ and test/. */
  keep: string;
  size: number;
  train: number;
  test: number;
  /** Background noise 0..noise-1. */
  noise: number;
  seed: number;
  /** default: `tlkit train`'s defaults (all layers, epochs auto); two-phase: 3 frozen + 3 all, batch 16; frozen: head only, 10 epochs. */
  recipe: string;
  backbone?: string;
  weights?: string;
  head?: string;
}

const RECIPES: Record<string, object> = {
  default: { epochs: 'auto' },
  'two-phase': { epochs: 3, fineTuneEpochs: 3, batchSize: 16 },
  frozen: { freezeBackbone: true, epochs: 10 },
};

/** The held-out set (seed 7 + 100 x seed) written to keep/test, and the run in keep/run (trained first when missing). */
export async function squareSetModel(o: SquareModelOptions): Promise<{ runDir: string; testSet: SquareSet; files: string[] }> {
  const testSet = brightSquareSet(o.test, o.size, 7 + o.seed * 100, o.noise);
  mkdirSync(o.keep, { recursive: true });
  const files = await writeSquareSet(testSet, join(o.keep, 'test'));
  const runDir = join(o.keep, 'run');
  if (!existsSync(join(runDir, 'model'))) {
    if (!(o.recipe in RECIPES)) throw new Error(`--recipe: ${o.recipe} is not one of ${Object.keys(RECIPES).join(', ')}`);
    await writeSquareSet(brightSquareSet(o.train, o.size, o.seed, o.noise), join(o.keep, 'train'));
    const t = performance.now();
    const run = await trainRun({ dataDir: join(o.keep, 'train'), valDir: join(o.keep, 'test'), backbone: o.backbone ?? 'mobilenet_v2', weights: o.weights ?? 'nsfwjs', inputSize: o.size, head: o.head ?? 'gap', outDir: runDir, seed: o.seed, ...RECIPES[o.recipe] } as never);
    console.log(`trained (${o.recipe}, seed ${o.seed}, noise 0..${o.noise - 1}) in ${((performance.now() - t) / 1000).toFixed(0)} s: held-out accuracy ${run.evaluation?.accuracy.toFixed(3)}`);
  }
  return { runDir, testSet, files };
}
