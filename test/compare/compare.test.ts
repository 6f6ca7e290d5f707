import { writeCompareReport } from '../../src/report/write_compare_report.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareBackbones } from '../../src/compare/compare.js';
import type { TrainRunOptions, TrainRunResult } from '../../src/train/run/run.js';
import { runCli } from '../helpers/io.js';

const SAMPLE = join(import.meta.dirname, '..', '..', 'samples', 'fashion-shoes');

function fakeResult(options: TrainRunOptions, accuracy: number, seconds: number): TrainRunResult {
  return {
    runDir: options.outDir,
    history: [
      { epoch: 1, phase: 1, loss: 0.7, accuracy: 0.6, val_loss: 0.6, val_accuracy: 0.7, seconds: seconds / 2 },
      { epoch: 2, phase: 2, loss: 0.3, accuracy: 0.9, val_loss: 0.4, val_accuracy: accuracy, seconds: seconds / 4 },
    ],
    evaluation: {
      loss: 0.4,
      accuracy,
      samples: 10,
      classNames: ['a', 'b'],
      confusionMatrix: [[5, 0], [1, 4]],
      perClass: [],
      macro: { precision: 0, recall: 0, f1: 0 },
      misclassified: [{ file: join(SAMPLE, 'test', 'sneaker', '00009.png'), index: 3, trueClass: 'b', predictedClass: 'a', probability: 0.8 }],
    },
    elapsedSeconds: seconds,
    params: { total: 1000, trainable: 900, nonTrainable: 100 },
    engine: 'tfjs',
    phaseEngines: [],
    classNames: ['a', 'b'],
    backbone: options.backbone,
    stoppedEarly: false,
    linearProbe: { accuracy: 0.9, trainAccuracy: 0.95, c: 0.01, cvAccuracy: [], features: 1280, seconds: 1.5 },
  } as unknown as TrainRunResult;
}

test('compare trains each backbone with the same config and seed, survives a failure, recommends by the rule, writes reports', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-compare-'));
  const calls: TrainRunOptions[] = [];
  try {
    const result = await compareBackbones(
      { dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbones: ['mobilenet', 'resnet50', 'xception'], weights: 'none', epochs: 2, outDir: out, seed: 7 },
      {
        train: async (options) => {
          calls.push(options);
          if (options.backbone === 'xception') throw new Error('out of memory (simulated)');
          return options.backbone === 'mobilenet' ? fakeResult(options, 0.984, 265) : fakeResult(options, 0.99, 568);
        },
      },
    );
    assert.deepEqual(calls.map((c) => c.backbone), ['mobilenet', 'resnet50', 'xception']);
    assert.ok(calls.every((c) => c.seed === 7 && c.epochs === 2 && c.weights === 'none'), 'same config and seed for every backbone');
    assert.deepEqual(new Set(calls.map((c) => c.outDir)).size, 3, 'one run directory per backbone');
    assert.equal(result.recommendation?.id, 'mobilenet');
    assert.match(result.recommendation!.reason, /2\.1x faster than the most accurate/);
    const failed = result.rows.find((r) => r.id === 'xception');
    assert.ok(failed && !failed.ok && /out of memory/.test(failed.error));
    const ok = result.rows.find((r) => r.id === 'mobilenet');
    assert.ok(ok?.ok);
    assert.deepEqual(ok.phaseSeconds, { 'train head': 132.5, 'fine-tune': 66.25, 'setup + evaluate': 66.25 });
    assert.equal(ok.misclassified[0].file, join('sneaker', '00009.png'), 'misclassified files relative to the held-out folder');
    assert.ok(!existsSync(join(out, 'report.html')), 'compare returns data: report/ writes the files');
    const files = await writeCompareReport(result);
    assert.equal(files.html, join(out, 'report.html'));
    const html = readFileSync(files.html, 'utf8');
    assert.match(html, /data:image\/png;base64,/, 'misclassified thumbnail embedded');
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    assert.deepEqual(Object.keys(json.backbones[0]).slice(0, 9), ['id', 'totalParams', 'trainableParams', 'nonTrainableParams', 'elapsedSeconds', 'accuracy', 'valLoss', 'epochs', 'engine']);
    assert.equal(json.backbones[2].error, 'out of memory (simulated)');
    assert.ok(calls.every((c) => c.linearProbe === true), 'compare asks every run for the linear probe');
    assert.equal(json.backbones[0].linearProbeAccuracy, 0.9);
    assert.match(html, /Linear probe/);
    assert.match(readFileSync(files.markdown, 'utf8'), /\| Linear probe \| 0\.900 \| 0\.900 \| - \|/);
    assert.ok(existsSync(files.markdown));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a backbone without pretrained weights at hand is reported, never trained from random weights', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-compare-'));
  const prev = process.env.KERAS_HOME;
  process.env.KERAS_HOME = out; // an empty Keras cache
  try {
    const trained: string[] = [];
    const result = await compareBackbones(
      { dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbones: ['resnet50', 'mobilenet_v2'], epochs: 1, outDir: join(out, 'runs') },
      { train: async (o) => (trained.push(`${o.backbone}:${o.weights}`), fakeResult(o, 0.9, 10)) },
    );
    assert.deepEqual(trained, ['mobilenet_v2:nsfwjs'], 'resnet50 has no ImageNet file in the cache and no offline source');
    const resnet = result.rows[0];
    assert.ok(!resnet.ok && /no pretrained weights/.test(resnet.error) && /--weights none/.test(resnet.error));
    assert.equal(result.recommendation?.id, 'mobilenet_v2');
  } finally {
    if (prev === undefined) delete process.env.KERAS_HOME;
    else process.env.KERAS_HOME = prev;
    rmSync(out, { recursive: true, force: true });
  }
});

test('tlkit compare on the embedded sample: real training, the table, the JSON the issue pins', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-compare-cli-'));
  try {
    const r = await runCli(['compare', '--backbones', 'mobilenet_v2', '--epochs', '2', '--fine-tune-epochs', '0', '--lr', '0.003', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    const [row] = json.backbones;
    assert.equal(row.id, 'mobilenet_v2');
    assert.equal(row.weights, 'nsfwjs');
    assert.ok(row.accuracy >= 0.8, `accuracy ${row.accuracy} on 200 held-out sample images`);
    assert.ok(row.totalParams > 2_000_000 && row.nonTrainableParams > row.trainableParams, 'frozen backbone, trained head');
    assert.equal(json.recommendation.id, 'mobilenet_v2');
    assert.match(r.stderr, /\[1\/1 mobilenet_v2\] head epoch|\[1\/1 mobilenet_v2\] epoch/);
    for (const f of ['report.html', 'report.md', 'compare.json', join('mobilenet_v2', 'config.json')]) assert.ok(existsSync(join(out, f)), f);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('compare flags: bad --select and unknown backbone are usage errors', async () => {
  const a = await runCli(['compare', '--select', 'cheapest', '--backbones', 'mobilenet_v2', '--out', join(tmpdir(), 'never')]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--select: unknown part 'cheapest'/);
  const b = await runCli(['compare', '--backbones', 'vgg16']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /Unknown backbone 'vgg16'. Available: .*mobilenet/);
});

test('compare --out inside the data folder is refused before any folder is made there (issue 16)', async () => {
  const data = mkdtempSync(join(tmpdir(), 'tlkit-compare-data-'));
  let trained = 0;
  await assert.rejects(
    compareBackbones({ dataDir: data, backbones: ['mobilenet'], outDir: join(data, 'cmp'), epochs: 1 }, { train: async (o) => (trained++, fakeResult(o, 0.9, 1)) }),
    /--out .*cmp is inside the data folder/,
  );
  assert.equal(trained, 0);
  assert.equal(existsSync(join(data, 'cmp')), false);
});
