// Keras EarlyStopping: stop when the monitored metric has not improved for `patience` epochs;
// optionally put back the best epoch's weights at the end.
import type { CallbackState } from '../checkpoint.js';
import { captureWeights, restoreWeights } from '../checkpoint.js';
import type { SavedArray } from '../optimizers.js';
import type { EpochLogs } from '../types.js';
import type { Callback, TrainingContext } from './callback.js';
import { improves, resolveMode, type MonitorMode } from './monitor.js';

export interface EarlyStoppingOptions {
  monitor?: string;
  minDelta?: number;
  patience?: number;
  mode?: MonitorMode;
  baseline?: number;
  restoreBestWeights?: boolean;
}

export class EarlyStopping implements Callback {
  readonly name = 'EarlyStopping';
  readonly monitor: string;
  private readonly mode: 'min' | 'max';
  private best: number | undefined;
  private bestEpoch = -1;
  private wait = 0;
  /** 0-based epoch at which training was stopped, -1 while running. */
  stoppedEpoch = -1;
  private bestWeights: SavedArray[] | undefined;

  constructor(private readonly options: EarlyStoppingOptions = {}) {
    this.monitor = options.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, options.mode);
  }

  onTrainBegin(ctx: TrainingContext): void {
    // A run that had already stopped stays stopped when resumed.
    if (this.stoppedEpoch >= 0) ctx.stopTraining = true;
  }

  async onEpochEnd(epoch: number, logs: EpochLogs, ctx: TrainingContext): Promise<void> {
    const current = logs[this.monitor];
    if (current === undefined) return;
    this.wait += 1;
    if (improves(current, this.best, this.mode, this.options.minDelta)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.options.restoreBestWeights) this.bestWeights = await captureWeights(ctx.model);
      const baseline = this.options.baseline;
      if (baseline === undefined || improves(current, baseline, this.mode, this.options.minDelta)) {
        this.wait = 0;
        return;
      }
    }
    if (this.wait >= (this.options.patience ?? 0) && epoch > 0) {
      this.stoppedEpoch = epoch;
      ctx.stopTraining = true;
    }
  }

  onTrainEnd(ctx: TrainingContext): void {
    const last = ctx.history.length - 1;
    if (this.options.restoreBestWeights && this.bestWeights && this.bestEpoch !== ctx.history[last]?.epoch - 1) {
      restoreWeights(ctx.model, this.bestWeights, 'EarlyStopping best weights');
    }
  }

  /** 1-based epoch of the best value, for reports. */
  get bestEpochNumber(): number {
    return this.bestEpoch + 1;
  }

  getState(): CallbackState {
    return { json: { best: this.best ?? null, bestEpoch: this.bestEpoch, wait: this.wait, stoppedEpoch: this.stoppedEpoch }, arrays: this.bestWeights };
  }

  setState(state: CallbackState): void {
    const s = state.json as { best: number | null; bestEpoch: number; wait: number; stoppedEpoch: number };
    this.best = s.best ?? undefined;
    this.bestEpoch = s.bestEpoch;
    this.wait = s.wait;
    this.stoppedEpoch = s.stoppedEpoch;
    this.bestWeights = state.arrays && state.arrays.length > 0 ? state.arrays : undefined;
  }
}
