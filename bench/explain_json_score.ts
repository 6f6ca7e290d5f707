// The pointing game scored from `tlkit explain --json` output, as an outside checker would: the peak taken both from
// the `peak` field and as the first maximum of `heatmap` (the input-size map).
// npx tsx bench/explain_json_score.ts explain.json --test 100 --size 128 --seed 1 [--noise 140]
// (the held-out set of bench/explain_maps.ts: brightSquareSet(test, size, 7 + 100 x seed, noise), files imgNNNN.png)
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { brightSquareSet, pointsAtSquare } from '../test/helpers/bright_square_set.js';
import { numberFlag } from './flags.js';

const set = brightSquareSet(numberFlag('test', 100), numberFlag('size', 128), 7 + 100 * numberFlag('seed', 1), numberFlag('noise', 140));
const explanations = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { file: string; classIndex: number; heatmap: number[][]; peak: { x: number; y: number }; layer: string }[];
let correct = 0;
let byPeak = 0;
let byHeatmap = 0;
for (const e of explanations) {
  const image = set.images[Number(basename(e.file).slice(3, 7))];
  if (!image || e.classIndex !== image.label) continue;
  correct++;
  if (pointsAtSquare(image, e.peak.x, e.peak.y)) byPeak++;
  let best = -1;
  let bx = 0;
  let by = 0;
  e.heatmap.forEach((row, y) => row.forEach((v, x) => { if (v > best) { best = v; bx = x + 0.5; by = y + 0.5; } }));
  if (pointsAtSquare(image, bx, by)) byHeatmap++;
}
console.log(`layer ${explanations[0]?.layer}: correct ${correct}/${explanations.length}, pointing game by peak ${(byPeak / correct).toFixed(3)}, by heatmap argmax ${(byHeatmap / correct).toFixed(3)}`);
