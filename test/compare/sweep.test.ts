import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareBackbones } from '../../src/compare/compare.js';
import { expandSweep, gridAxes } from '../../src/compare/sweep.js';
import { gridAxesFromFlags } from '../../src/cli/grid_flags.js';
import { writeCompareReport } from '../../src/report/write_compare_report.js';
import { UsageError } from '../../src/core/errors.js';
import type { TrainRunOptions, TrainRunResult } from '../../src/train/run/run.js';
import { runCli } from '../helpers/io.js';

const SAMPLE = join(import.meta.dirname, '..', '..', 'samples', 'fashion-shoes');

test('backbones x grid: one run per combination, labelled by what differs, each with its own run directory', () => {
  const axes = gridAxesFromFlags(['lr=1e-3,1e-4', 'fine-tune-from=last-block,all', 'batch-size=8'], undefined);
  const runs = expandSweep(['mobilenet', 'resnet50'], axes);
  assert.equal(runs.length, 8);
  assert.deepEqual(runs.slice(0, 4).map((r) => r.label), [
    'mobilenet lr=1e-3 fine-tune-from=last-block',
    'mobilenet lr=1e-3 fine-tune-from=all',
    'mobilenet lr=1e-4 fine-tune-from=last-block',
    'mobilenet lr=1e-4 fine-tune-from=all',
  ]);
  assert.deepEqual(runs[2].options, { learningRate: 1e-4, fineTuneFrom: 'last-block', batchSize: 8 }, 'flag values parsed as the flags parse them; a one-value axis applies to all');
  assert.equal(new Set(runs.map((r) => r.dirName)).size, 8);
  assert.equal(runs[0].dirName, 'mobilenet_lr=1e-3_fine-tune-from=last-block');
  // One backbone: the label is the grid values alone; no grid: the backbone id, as before sweeps.
  assert.deepEqual(expandSweep(['mobilenet'], gridAxes({ learningRate: [0.01, 0.1] })).map((r) => r.label), ['learningRate=0.01', 'learningRate=0.1']);
  assert.deepEqual(expandSweep(['mobilenet', 'xception'], []).map((r) => [r.label, r.dirName]), [['mobilenet', 'mobilenet'], ['xception', 'xception']]);
});

test('a grid cannot vary what the runs are measured on, and bad values name the flag', () => {
  assert.throws(() => gridAxesFromFlags(['seed=1,2'], undefined), (e: unknown) => e instanceof UsageError && /'seed' cannot vary/.test(e.message) && /lr/.test(e.message));
  assert.throws(() => gridAxesFromFlags(['val-dir=a,b'], undefined), /'val-dir' cannot vary: every run of a comparison shares it/);
  assert.throws(() => gridAxesFromFlags(['lr=fast'], undefined), /--grid lr=fast: --lr expects a number/);
  assert.throws(() => gridAxesFromFlags(['lr'], undefined), /--grid expects KEY=v1,v2/);
  assert.throws(() => gridAxes({ validationSplit: [0.1, 0.2] }), /sets validationSplit, which every run of a comparison shares/);
  assert.throws(() => gridAxes({ learningRate: [0.1, 0.1] }), /repeats a value/);
  // A value with commas: split on ';'.
  const [head] = gridAxesFromFlags(['head=gap;flatten,dense:16:relu'], undefined);
  assert.deepEqual(head.values.map((v) => v.options.head), ['gap', 'flatten,dense:16:relu']);
  // Augmentation values add to the shared augmentation.
  const [rot] = gridAxesFromFlags(['rotation-range=0,20'], { horizontalFlip: true });
  assert.deepEqual(rot.values[1].options.augmentation, { horizontalFlip: true, rotationRange: 20 });
});

test('compare with a grid: every run shares the seed and data, rows and JSON carry labels and settings, --select ranks them all', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-sweep-'));
  const calls: TrainRunOptions[] = [];
  const accuracy: Record<string, number> = { 'mobilenet:0.01': 0.9, 'mobilenet:0.001': 0.95, 'resnet50:0.01': 0.96, 'resnet50:0.001': 0.97 };
  try {
    const result = await compareBackbones(
      { dataDir: join(SAMPLE, 'train'), valDir: join(SAMPLE, 'test'), backbones: ['mobilenet', 'resnet50'], grid: { learningRate: [0.01, 0.001] }, weights: 'none', epochs: 1, outDir: out, seed: 3, select: 'within=0.02,time' },
      {
        train: async (o) => {
          calls.push(o);
          const acc = accuracy[`${o.backbone}:${o.learningRate}`];
          const seconds = o.backbone === 'mobilenet' ? 10 : 50;
          return { runDir: o.outDir, history: [{ epoch: 1, loss: 0.3, accuracy: acc, seconds }], evaluation: { loss: 0.3, accuracy: acc, samples: 4, classNames: ['a', 'b'], confusionMatrix: [[2, 0], [0, 2]], perClass: [], macro: { precision: 1, recall: 1, f1: 1 }, misclassified: [] }, elapsedSeconds: seconds, params: { total: 10, trainable: 5, nonTrainable: 5 }, engine: 'tfjs', phaseEngines: [], classNames: ['a', 'b'], backbone: o.backbone, stoppedEarly: false } as unknown as TrainRunResult;
        },
      },
    );
    assert.equal(calls.length, 4);
    assert.ok(calls.every((c) => c.seed === 3 && c.valDir === join(SAMPLE, 'test') && c.epochs === 1));
    assert.deepEqual(calls.map((c) => c.learningRate), [0.01, 0.001, 0.01, 0.001]);
    assert.deepEqual(result.rows.map((r) => r.id), ['mobilenet learningRate=0.01', 'mobilenet learningRate=0.001', 'resnet50 learningRate=0.01', 'resnet50 learningRate=0.001']);
    // Within 0.02 of the best (0.97): 0.95, 0.96, 0.97; the fastest of them is mobilenet at 0.001.
    assert.equal(result.recommendation?.id, 'mobilenet learningRate=0.001');
    const files = await writeCompareReport(result);
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    assert.deepEqual(json.backbones[1].settings, { learningRate: '0.001' });
    assert.equal(json.backbones[1].backbone, 'mobilenet');
    assert.match(readFileSync(files.markdown, 'utf8'), /resnet50 learningRate=0\.001/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('tlkit compare --grid: a flag that cannot vary is a usage error (exit 2)', async () => {
  const r = await runCli(['compare', '--backbones', 'mobilenet_v2', '--grid', 'seed=1,2', '--out', join(tmpdir(), 'never')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--grid: 'seed' cannot vary/);
});
