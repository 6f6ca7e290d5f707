// A run job's progress as a worker publishes it: built from the structured fields of the run process's
// events (epoch, epochs, the resume point), never from their display text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunProgressTracker } from '../../src/queue/run_progress.js';
import { ProgressReporter } from '../../src/train/loop/callbacks/progress.js';
import type { ProgressEvent } from '../../src/core/progress.js';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('epoch, epoch count and ETA come from the event fields; updates are throttled except a task\'s last', () => {
  const c = clock();
  const tracker = new RunProgressTracker('w1', c.now);
  const first = tracker.update({ task: 'fine-tune epoch 1/4', epoch: 1, epochs: 4, current: 0, total: 10, unit: 'batch' });
  assert.deepEqual(first, { worker: 'w1', task: 'fine-tune epoch 1/4', epoch: 1, epochs: 4 });
  c.advance(500);
  assert.equal(tracker.update({ task: 'fine-tune epoch 1/4', epoch: 1, epochs: 4, current: 5, total: 10 }), undefined, 'within a second of the last update');
  c.advance(9_500);
  // Half an epoch (1/8 of the run) in 10 s: 7/8 of it left, 70 s.
  const later = tracker.update({ task: 'fine-tune epoch 1/4', epoch: 1, epochs: 4, current: 5, total: 10 });
  assert.deepEqual(later, { worker: 'w1', task: 'fine-tune epoch 1/4', epoch: 1, epochs: 4, etaSeconds: 70 });
  c.advance(10);
  assert.ok(tracker.update({ task: 'fine-tune epoch 1/4', epoch: 1, epochs: 4, current: 10, total: 10, done: true }), 'a done event is always published');
});

test('text that looks like an epoch is not parsed: an event without the fields keeps the last epoch', () => {
  const c = clock();
  const tracker = new RunProgressTracker('w1', c.now);
  tracker.update({ task: 'epoch 2/5', epoch: 2, epochs: 5, current: 1, total: 4 });
  c.advance(2000);
  const validating = tracker.update({ task: 'epoch 9/9 validate', current: 3, total: 8 });
  assert.deepEqual(validating, { worker: 'w1', task: 'epoch 9/9 validate', epoch: 2, epochs: 5 });
});

test('a resumed run reports where it continues from, as the run process sends it', () => {
  const tracker = new RunProgressTracker('w2', () => 0);
  assert.deepEqual(tracker.resumed({ epoch: 3, batch: 7 }), { worker: 'w2', resumedFrom: 'epoch 3, batch 7' });
  assert.equal(tracker.resumedFrom, 'epoch 3, batch 7');
});

test('the training loop\'s progress events carry the epoch and the epoch count', () => {
  const events: ProgressEvent[] = [];
  const reporter = new ProgressReporter((e) => events.push(e), { label: 'fine-tune' });
  const ctx = { epochs: 5, batchesPerEpoch: 4 } as unknown as Parameters<ProgressReporter['onBatchEnd']>[1];
  reporter.onBatchEnd({ epoch: 1, batch: 0, batchesPerEpoch: 4, loss: 1, accuracy: 0.5, imgPerSec: 20 } as Parameters<ProgressReporter['onBatchEnd']>[0], ctx);
  reporter.onEpochEnd(1, { epoch: 2, loss: 1, accuracy: 0.5, img_per_sec: 20 } as Parameters<ProgressReporter['onEpochEnd']>[1], ctx);
  assert.deepEqual(events.map((e) => [e.task, e.epoch, e.epochs, e.done ?? false]), [
    ['fine-tune epoch 2/5', 2, 5, false],
    ['fine-tune epoch 2/5', 2, 5, true],
  ]);
});
