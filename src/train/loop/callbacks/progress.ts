// Turns batch logs into ProgressEvents: one bar per epoch with loss, accuracy and img/s (the printer
// adds the ETA), and a final event per epoch with the validation metrics.
import type { ProgressCallback } from '../../../core/progress.js';
import type { EpochLogs } from '../types.js';
import type { BatchLogs, Callback, TrainingContext } from './callback.js';

export interface ProgressOptions {
  /** Prefix for the task name, e.g. 'fine-tune' in the second phase of the two-phase recipe. */
  label?: string;
}

/** Whole images per second once there are ten or more, else one decimal. */
function roundRate(rate: number): number {
  return rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10;
}

export class ProgressReporter implements Callback {
  readonly name = 'Progress';

  constructor(
    private readonly onProgress: ProgressCallback,
    private readonly options: ProgressOptions = {},
  ) {}

  private task(epoch: number, ctx: TrainingContext): string {
    const base = `epoch ${epoch + 1}/${ctx.epochs}`;
    return this.options.label ? `${this.options.label} ${base}` : base;
  }

  onBatchEnd(logs: BatchLogs, ctx: TrainingContext): void {
    // The epoch's last batch is reported by onEpochEnd with the validation metrics.
    if (logs.batch + 1 >= logs.batchesPerEpoch) return;
    this.onProgress({
      task: this.task(logs.epoch, ctx),
      epoch: logs.epoch + 1,
      epochs: ctx.epochs,
      current: logs.batch + 1,
      total: logs.batchesPerEpoch,
      unit: 'batch',
      metrics: { loss: logs.loss, acc: logs.accuracy, 'img/s': roundRate(logs.imgPerSec) },
    });
  }

  onEpochEnd(epoch: number, logs: EpochLogs, ctx: TrainingContext): void {
    const metrics: Record<string, number> = { loss: logs.loss, acc: logs.accuracy };
    if (logs.val_loss !== undefined) metrics.val_loss = logs.val_loss;
    if (logs.val_accuracy !== undefined) metrics.val_acc = logs.val_accuracy;
    metrics['img/s'] = roundRate(logs.img_per_sec);
    this.onProgress({ task: this.task(epoch, ctx), epoch: epoch + 1, epochs: ctx.epochs, current: ctx.batchesPerEpoch, total: ctx.batchesPerEpoch, unit: 'batch', metrics, done: true });
  }
}
