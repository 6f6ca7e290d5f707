import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, Capture } from '../helpers/io.js';
import { ProgressPrinter, formatDuration } from '../../src/cli/progress_bar.js';

test('unknown command exits 2 and lists the commands', async () => {
  const r = await runCli(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});

test('--help lists commands and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: tlkit COMMAND/);
});

test('formatDuration prints mm:ss like the reference table', () => {
  assert.equal(formatDuration(265), '04:25');
  assert.equal(formatDuration(3725), '1:02:05');
});

test('progress printer writes a bar with ETA and metrics', () => {
  const out = new Capture();
  let t = 0;
  const p = new ProgressPrinter(out, false, 10, () => t);
  p.update({ task: 'epoch 1/2', current: 0, total: 10, unit: 'batch' });
  t = 5000;
  p.update({ task: 'epoch 1/2', current: 10, total: 10, unit: 'batch', metrics: { loss: 0.5, acc: 1, val_acc: 0, skipped: 2 }, done: true });
  assert.match(out.text, /epoch 1\/2 \[=+\] 10\/10 00:05 loss 0\.5000 acc 1\.0000 val_acc 0\.0000 skipped 2/);
});

test('progress printer says the ETA is unknown before the first unit is done', () => {
  const out = new Capture();
  const p = new ProgressPrinter(out, false, 0, () => 0);
  p.update({ task: 'compare', current: 0, total: 4, unit: 'backbone' });
  assert.match(out.text, /0\/4 ETA --:--/);
});
