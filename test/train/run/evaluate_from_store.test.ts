// `tlkit evaluate RUN DIR` after a run on a frozen backbone reads the backbone's features of DIR from the
// feature store the run filled (no backbone pass), and gives the numbers of the whole model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../helpers/io.js';
import { featureLine, SAMPLE, trainStoredRun } from './stored_run.js';

test('tlkit evaluate reads a frozen-backbone run\'s features from the store and agrees with the whole model', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-eval-store-'));
  try {
    const store = join(root, 'cache');
    const valDir = join(SAMPLE, 'test');
    const result = await trainStoredRun(root, store);
    const metadata = JSON.parse(readFileSync(join(root, 'run', 'model', 'tlkit.json'), 'utf8'));
    assert.equal(metadata.frozenPrefixEnd, result.enginePlans.at(-1)?.frozenPrefix?.endsAt);
    const samples = result.evaluation!.samples;

    const fromStore = await runCli(['evaluate', join(root, 'run'), valDir, '--json', '--feature-store', store]);
    assert.equal(fromStore.code, 0, fromStore.stderr);
    assert.deepEqual(featureLine(fromStore.stderr), [samples, 0], fromStore.stderr);
    const whole = await runCli(['evaluate', join(root, 'run'), valDir, '--json', '--no-feature-store']);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(featureLine(whole.stderr), undefined);
    const a = JSON.parse(fromStore.stdout);
    const b = JSON.parse(whole.stdout);
    assert.equal(a.engine, 'onnx-frozen');
    assert.deepEqual(a.confusionMatrix, b.confusionMatrix);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-3, `${a.loss} vs ${b.loss}`);
    assert.deepEqual(a.confusionMatrix, result.evaluation!.confusionMatrix);

    // Another store: computed and stored once, then read.
    const other = join(root, 'other');
    const first = await runCli(['evaluate', join(root, 'run'), valDir, '--json', '--feature-store', other]);
    assert.deepEqual(featureLine(first.stderr), [0, samples], first.stderr);
    const second = await runCli(['evaluate', join(root, 'run'), valDir, '--json', '--feature-store', other]);
    assert.deepEqual(featureLine(second.stderr), [samples, 0], second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).confusionMatrix, b.confusionMatrix);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
