// compare's audit wiring: each run's kept pooled features (in the run's own, shuffled order) and its
// probe's out-of-fold probabilities become one audit; a file whose features sit in the other class is
// reported as a label issue, the findings reach the result and compare.json; --no-audit (audit: false)
// leaves them out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareBackbones } from '../../src/compare/compare.js';
import { scanDirectory } from '../../src/data/scan_directory.js';
import { writeCompareReport } from '../../src/report/write_compare_report.js';
import { Random } from '../../src/core/random.js';
import type { TrainRunOptions, TrainRunResult } from '../../src/train/run/run.js';

const SAMPLE = join(import.meta.dirname, '..', '..', 'samples', 'fashion-shoes');
const ODD = 'sandal/00008.png';

/** Pooled features of a folder's files, shuffled as a training iterator's epoch is: class centre + noise; ODD sits at the sneakers'. */
function features(dir: string, seed: number) {
  const listing = scanDirectory(dir);
  const rng = new Random(seed);
  const order = listing.filepaths.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const d = 16;
  const x = new Float64Array(order.length * d);
  order.forEach((f, row) => {
    const cls = listing.filenames[f] === ODD ? 1 : listing.classes[f];
    for (let j = 0; j < d; j++) x[row * d + j] = (j % 2 === cls ? 3 : 0) + rng.uniform(-1, 1);
  });
  return { rows: { x, n: order.length, d }, labels: Int32Array.from(order, (f) => listing.classes[f]), filepaths: order.map((f) => listing.filepaths[f]) };
}

/** A run's result; its features depend on its backbone only (as a sweep's runs on one frozen backbone). */
function fakeRun(options: TrainRunOptions, keep: boolean): TrainRunResult {
  const seed = options.backbone === 'mobilenet' ? 3 : 1;
  const train = features(join(SAMPLE, 'train'), seed);
  // The probe's out-of-fold probabilities, in its rows' order: it sees ODD as a sneaker.
  const outOfFoldProbabilities = new Float32Array(train.rows.n * 2);
  train.filepaths.forEach((p, i) => {
    const sneaker = p.includes('/sneaker/') || p.endsWith(ODD);
    outOfFoldProbabilities[i * 2 + (sneaker ? 1 : 0)] = 0.95;
    outOfFoldProbabilities[i * 2 + (sneaker ? 0 : 1)] = 0.05;
  });
  return {
    runDir: options.outDir,
    history: [{ epoch: 1, loss: 0.3, accuracy: 0.9, val_loss: 0.3, val_accuracy: 0.9, seconds: 1 }],
    evaluation: { loss: 0.3, accuracy: 0.9, samples: 200, classNames: ['sandal', 'sneaker'], confusionMatrix: [[90, 10], [10, 90]], perClass: [], macro: { precision: 0, recall: 0, f1: 0 }, misclassified: [] },
    elapsedSeconds: 2,
    params: { total: 10, trainable: 5, nonTrainable: 5 },
    engine: 'onnx-frozen',
    phaseEngines: [],
    classNames: ['sandal', 'sneaker'],
    backbone: options.backbone,
    stoppedEarly: false,
    linearProbe: { accuracy: 0.9, trainAccuracy: 0.95, c: 0.01, cvAccuracy: [], features: 16, seconds: 0.1, outOfFoldProbabilities },
    ...(keep ? { pooledFeatures: { train, validation: features(join(SAMPLE, 'test'), seed + 1) } } : {}),
  } as unknown as TrainRunResult;
}

test('compare: the runs\' features become the audit; the planted odd file is a label issue; audit: false leaves it out', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-compare-audit-'));
  const seen: TrainRunOptions[] = [];
  const result = await compareBackbones(
    { dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbones: ['mobilenet_v2', 'mobilenet'], weights: 'none', epochs: 1, outDir: out },
    { train: async (o) => (seen.push(o), fakeRun(o, Boolean(o.keepPooledFeatures))) },
  );
  assert.ok(seen.every((o) => o.keepPooledFeatures === true));
  // The first run's decode gives the audit its fingerprints.
  assert.deepEqual(seen.map((o) => o.storeFingerprints), [true, undefined]);
  const audit = result.audit!;
  assert.ok(audit, 'result.audit');
  assert.deepEqual(audit.backbones, ['mobilenet_v2', 'mobilenet']);
  // ODD's name is in both folders, and planted in both: one issue per split, nothing else.
  assert.deepEqual(audit.labelIssues.map((i) => [i.split, i.file, i.givenLabel, i.suggestedLabel]).sort(), [['train', ODD, 'sandal', 'sneaker'], ['validation', ODD, 'sandal', 'sneaker']]);
  assert.deepEqual(audit.counts.images, { train: 400, validation: 200 });
  const files = await writeCompareReport(result);
  assert.equal(JSON.parse(readFileSync(files.json, 'utf8')).audit.labelIssues.length, 2);
  assert.match(readFileSync(files.html, 'utf8'), /<h2>Data audit<\/h2>/);
  assert.match(readFileSync(files.auditCsv!, 'utf8'), new RegExp(`${ODD},train,label-issue,sandal,sneaker`));

  const off = await compareBackbones(
    { dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbones: ['mobilenet_v2'], weights: 'none', epochs: 1, outDir: join(out, 'off'), audit: false },
    { train: async (o) => fakeRun(o, Boolean(o.keepPooledFeatures)) },
  );
  assert.equal(off.audit, undefined);
});

test('compare: the runs of a sweep on one backbone computed the same features: the audit keeps one view of them, its findings unchanged', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-compare-audit-'));
  const options = { dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbones: ['mobilenet_v2'], weights: 'none', epochs: 1, featureStore: join(out, 'cache') };
  const train = async (o: TrainRunOptions) => fakeRun(o, Boolean(o.keepPooledFeatures));
  const one = await compareBackbones({ ...options, outDir: join(out, 'one') }, { train });
  const sweep = await compareBackbones({ ...options, grid: { learningRate: [1e-3, 1e-2, 1e-1, 1] }, outDir: join(out, 'sweep') }, { train });
  assert.equal(sweep.rows.length, 4);
  assert.equal(sweep.audit!.backbones.length, 1);
  assert.deepEqual(sweep.audit!.labelIssues, one.audit!.labelIssues);
  assert.deepEqual(sweep.audit!.outliers, one.audit!.outliers);
});
