// The pointing game of `explain` per method on a mobilenet_v2 trained by tlkit's own trainRun on the
// bright-square set (the class is the half holding the square): trains once into --keep (reused on the next
// call), then explains the held-out images with each method and prints the share of correctly classified
// images whose peak lies in the square grown by a quarter of its side, and the time an image.
//
//   npx tsx bench/explain_pointing.ts --keep DIR [--seed 1] [--recipe default|two-phase|frozen] [--size 224]
//        [--noise 140] [--train 200] [--test 100] [--methods hirescam,occlusion] [--occlusion-fill surround|shuffle|mean]
//
// (--recipe default: `tlkit train`'s defaults, the whole model trained from the start, epochs auto, adam 1e-3,
// batch 32; two-phase: 3 epochs on the frozen backbone then 3 fine-tuning all, batch 16; frozen: head only,
// 10 epochs. The held-out set's seed is 7 + 100 x seed, as in bench/explain_maps.ts, so --keep folders are
// interchangeable between the two.)
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../src/engines/tfjs/tf.js';
import { trainRun } from '../src/train/run/run.js';
import { explain, EXPLAIN_METHODS, type ExplainMethod } from '../src/inference/explain.js';
import type { OcclusionFill } from '../src/inference/occlusion.js';
import { brightSquareSet, pointingGame, writeSquareSet } from '../test/helpers/bright_square_set.js';
import { flag, numberFlag } from './flags.js';

const SIZE = numberFlag('size', 224);
const TRAIN = numberFlag('train', 200);
const TEST = numberFlag('test', 100);
const NOISE = numberFlag('noise', 140);
const SEED = numberFlag('seed', 1);
const RECIPE = flag('recipe', 'default');
const KEEP = flag('keep', '/tmp/tlkit-pointing');
const METHODS = flag('methods', 'hirescam,occlusion').split(',') as ExplainMethod[];
const FILL = flag('occlusion-fill', 'surround') as OcclusionFill;
for (const m of METHODS) if (!EXPLAIN_METHODS.includes(m)) throw new Error(`--methods: ${m} is not one of ${EXPLAIN_METHODS.join(', ')}`);

await initEngine();
const testSet = brightSquareSet(TEST, SIZE, 7 + SEED * 100, NOISE);
mkdirSync(KEEP, { recursive: true });
const files = await writeSquareSet(testSet, join(KEEP, 'test'));
if (!existsSync(join(KEEP, 'run', 'model'))) {
  await writeSquareSet(brightSquareSet(TRAIN, SIZE, SEED, NOISE), join(KEEP, 'train'));
  const t = performance.now();
  const recipe = RECIPE === 'default' ? { epochs: 'auto' } : RECIPE === 'two-phase' ? { epochs: 3, fineTuneEpochs: 3, batchSize: 16 } : { freezeBackbone: true, epochs: 10 };
  const run = await trainRun({ dataDir: join(KEEP, 'train'), valDir: join(KEEP, 'test'), backbone: 'mobilenet_v2', weights: 'nsfwjs', inputSize: SIZE, head: 'gap', outDir: join(KEEP, 'run'), seed: SEED, ...recipe } as never);
  console.log(`trained (${RECIPE}, seed ${SEED}, noise 0..${NOISE - 1}) in ${((performance.now() - t) / 1000).toFixed(0)} s: held-out accuracy ${run.evaluation?.accuracy.toFixed(3)}`);
}
const rows = [];
for (const method of METHODS) {
  const t = performance.now();
  const explanations = await explain(join(KEEP, 'run'), files, { method, occlusion: method === 'occlusion' ? { fill: FILL } : undefined });
  const ms = (performance.now() - t) / files.length;
  const { correct, hits } = pointingGame(explanations, testSet);
  rows.push({ method: method === 'occlusion' ? `occlusion (${FILL})` : method, layer: explanations[0].layer, cells: explanations[0].featureSize.join(' x '), 'pointing game': `${(hits / correct).toFixed(2)} (${hits}/${correct})`, 'ms/img': ms.toFixed(0) });
}
console.log(`${KEEP}: ${RECIPE}, seed ${SEED}, ${SIZE} px, ${TEST} held-out images`);
console.table(rows);
