// The pointing game of `explain` per method on a mobilenet_v2 trained by tlkit's own trainRun on the
// bright-square set (the class is the half holding the square): trains once into --keep (reused on the next
// call), then explains the held-out images with each method and prints the share of correctly classified
// images whose peak lies in the square grown by a quarter of its side, and the time an image.
//
//   npx tsx bench/explain_pointing.ts --keep DIR [--seed 1] [--recipe default|two-phase|frozen] [--size 224]
//        [--noise 140] [--train 200] [--test 100] [--methods hirescam,occlusion] [--occlusion-fill shuffle|surround|mean]
//
// (--recipe default: `tlkit train`'s defaults, the whole model trained from the start, epochs auto, adam 1e-3,
// batch 32; two-phase: 3 epochs on the frozen backbone then 3 fine-tuning all, batch 16; frozen: head only,
// 10 epochs. The held-out set's seed is 7 + 100 x seed, as in bench/explain_maps.ts, so --keep folders are
// interchangeable between the two.)
import { initEngine } from '../src/engines/tfjs/tf.js';
import { explain, EXPLAIN_METHODS, type ExplainMethod } from '../src/inference/explain.js';
import type { OcclusionFill } from '../src/inference/occlusion.js';
import { pointingGame } from '../test/helpers/bright_square_set.js';
import { squareSetModel } from './square_model.js';
import { flag, numberFlag } from './flags.js';

const SIZE = numberFlag('size', 224);
const TRAIN = numberFlag('train', 200);
const TEST = numberFlag('test', 100);
const NOISE = numberFlag('noise', 140);
const SEED = numberFlag('seed', 1);
const RECIPE = flag('recipe', 'default');
const KEEP = flag('keep', '/tmp/tlkit-pointing');
const METHODS = flag('methods', 'hirescam,occlusion').split(',') as ExplainMethod[];
const FILL = flag('occlusion-fill', 'shuffle') as OcclusionFill;
for (const m of METHODS) if (!EXPLAIN_METHODS.includes(m)) throw new Error(`--methods: ${m} is not one of ${EXPLAIN_METHODS.join(', ')}`);

await initEngine();
const { runDir, testSet, files } = await squareSetModel({ keep: KEEP, size: SIZE, train: TRAIN, test: TEST, noise: NOISE, seed: SEED, recipe: RECIPE });
const rows = [];
for (const method of METHODS) {
  const t = performance.now();
  const explanations = await explain(runDir, files, { method, occlusion: method === 'occlusion' ? { fill: FILL } : undefined });
  const ms = (performance.now() - t) / files.length;
  const { correct, hits } = pointingGame(explanations, testSet);
  rows.push({ method: method === 'occlusion' ? `occlusion (${FILL})` : method, layer: explanations[0].layer, cells: explanations[0].featureSize.join(' x '), 'pointing game': `${(hits / correct).toFixed(2)} (${hits}/${correct})`, 'ms/img': ms.toFixed(0) });
}
console.log(`${KEEP}: ${RECIPE}, seed ${SEED}, ${SIZE} px, ${TEST} held-out images`);
console.table(rows);
