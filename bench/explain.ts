// The pointing game at a realistic size: mobilenet_v2 with the offline (nsfwjs) weights, trained by
// tlkit's own trainRun on a bright-square set (the class is the half holding the square), then Grad-CAM
// on held-out images: the share of correctly classified images whose heatmap peak lies in the square
// grown by a quarter of its side, and the seconds per explained image (prefix forward on onnxruntime
// vs tfjs; the head's gradient in tfjs either way), against one plain forward pass (predictFiles) as
// the reference cost.
// Run: npx tsx bench/explain.ts [--size 128] [--train 200] [--test 200] [--epochs 3] [--fine-tune 3] [--head gap] [--noise 140]
//        [--layers default,block_13_expand_relu] [--methods hirescam,gradcam,gradcam++] [--engines auto,tfjs] [--score log-odds]
// (--fine-tune-from: 'all' or 'last-block'; --noise: the background's noise runs 0..noise-1; the square is 200..255; --fine-tune 0: frozen backbone, head only)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../src/engines/tfjs/tf.js';
import { trainRun } from '../src/train/run/run.js';
import { createExplainer, type CamMethod } from '../src/inference/explain.js';
import { predictFiles } from '../src/inference/predict.js';
import { openInferenceEngine } from '../src/engines/inference_engine.js';
import { loadModel } from '../src/weights/saved_model.js';
import { brightSquareSet, pointsAtSquare, writeSquareSet } from '../test/helpers/bright_square_set.js';
import type { EngineChoice } from '../src/core/names.js';
import { flag, numberFlag } from './flags.js';

const SIZE = numberFlag('size', 128);
const TRAIN = numberFlag('train', 200);
const TEST = numberFlag('test', 200);
const EPOCHS = numberFlag('epochs', 3);
const FINE_TUNE = numberFlag('fine-tune', 3);
const FINE_TUNE_FROM = flag('fine-tune-from', 'all');
const HEAD = flag('head', 'gap');
const NOISE = numberFlag('noise', 140);
const LAYERS = flag('layers', 'default');
const METHODS = flag('methods', 'hirescam,gradcam++');
const ENGINES = flag('engines', 'auto');
const SCORE = flag('score', 'log-odds') as 'log-odds' | 'logit';

await initEngine();
const dir = mkdtempSync(join(tmpdir(), 'tlkit-bench-explain-'));
try {
  const testSet = brightSquareSet(TEST, SIZE, 7, NOISE);
  await writeSquareSet(brightSquareSet(TRAIN, SIZE, 1, NOISE), join(dir, 'train'));
  const testFiles = await writeSquareSet(testSet, join(dir, 'test'));
  const started = performance.now();
  const run = await trainRun({
    dataDir: join(dir, 'train'),
    valDir: join(dir, 'test'),
    backbone: 'mobilenet_v2',
    weights: 'nsfwjs',
    inputSize: SIZE,
    head: HEAD,
    epochs: EPOCHS,
    freezeBackbone: true,
    ...(FINE_TUNE > 0 ? { fineTuneEpochs: FINE_TUNE, fineTuneFrom: FINE_TUNE_FROM } : {}),
    learningRate: 1e-3,
    batchSize: 16,
    outDir: join(dir, 'run'),
    seed: 1,
  });
  const trainSeconds = (performance.now() - started) / 1000;
  console.log(`trained mobilenet_v2 @${SIZE} head ${HEAD}, noise 0..${NOISE - 1}, ${EPOCHS} + ${FINE_TUNE} epochs (${run.engine}) in ${trainSeconds.toFixed(0)} s: held-out accuracy ${run.evaluation?.accuracy.toFixed(3)}`);

  const { model, metadata } = await loadModel(run.runDir);
  const forward = await openInferenceEngine(model, 'auto');
  let t = performance.now();
  await predictFiles(model, metadata, testFiles, { predictor: forward.predictor, batchSize: 8 });
  const predictSeconds = (performance.now() - t) / testFiles.length / 1000;
  await forward.dispose();
  console.log(`reference: predict (${forward.name}) ${(predictSeconds * 1000).toFixed(1)} ms/img`);

  // Every layer x method pair, prefix on 'auto'; `--engines auto,tfjs` adds the tfjs prefix for the first pair.
  const layers = LAYERS.split(',').map((l) => (l === 'default' ? undefined : l));
  const methods = METHODS.split(',') as CamMethod[];
  const variants: [string | undefined, EngineChoice, CamMethod, 'log-odds' | 'logit'][] = layers.flatMap((layer) => methods.map((method): [string | undefined, EngineChoice, CamMethod, 'log-odds' | 'logit'] => [layer, 'auto', method, SCORE]));
  for (const engine of ENGINES.split(',').slice(1) as EngineChoice[]) variants.splice(1, 0, [layers[0], engine, methods[0], SCORE]);
  for (const [layer, engine, method, score] of variants) {
    const explainer = await createExplainer(model, metadata, { layer, engine, method, score, heatmapSize: 'features' });
    t = performance.now();
    const explanations = await explainer.explainFiles(testFiles);
    const seconds = (performance.now() - t) / testFiles.length / 1000;
    await explainer.dispose();
    let correct = 0;
    let hits = 0;
    explanations.forEach((e, i) => {
      if (e.classIndex !== testSet.images[i].label) return;
      correct += 1;
      if (pointsAtSquare(testSet.images[i], e.peak.x, e.peak.y)) hits += 1;
    });
    const first = explanations[0];
    console.log(
      `${method} ${score}, prefix on ${explainer.engine}: layer ${first.layer} ${first.featureSize.join('x')}, correct ${correct}/${testFiles.length}, ` +
        `pointing game ${hits}/${correct} = ${(hits / Math.max(1, correct)).toFixed(3)}, ${(seconds * 1000).toFixed(1)} ms/img (${(seconds / predictSeconds).toFixed(2)}x predict)`,
    );
  }
  model.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
