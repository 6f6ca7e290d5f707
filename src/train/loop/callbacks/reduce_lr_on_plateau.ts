// Keras ReduceLROnPlateau: multiply the learning rate by `factor` after `patience` epochs without
// improvement, then wait `cooldown` epochs before counting again; never below minLr.
import type { CallbackState } from '../checkpoint.js';
import { getLearningRate, setLearningRate } from '../optimizers.js';
import type { EpochLogs } from '../types.js';
import { invalidArgument } from '../../../core/errors.js';
import type { Callback, TrainingContext } from './callback.js';
import { improves, resolveMode, type MonitorMode } from './monitor.js';

export interface ReduceLROnPlateauOptions {
  monitor?: string;
  factor?: number;
  patience?: number;
  mode?: MonitorMode;
  minDelta?: number;
  cooldown?: number;
  minLr?: number;
}

export class ReduceLROnPlateau implements Callback {
  readonly name = 'ReduceLROnPlateau';
  readonly monitor: string;
  private readonly mode: 'min' | 'max';
  private readonly factor: number;
  private best: number | undefined;
  private wait = 0;
  private cooldownCounter = 0;

  constructor(private readonly options: ReduceLROnPlateauOptions = {}) {
    this.monitor = options.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, options.mode);
    this.factor = options.factor ?? 0.1;
    if (!(this.factor < 1 && this.factor >= 0)) throw invalidArgument('factor', options.factor, 'a number in [0, 1) (the learning rate is multiplied by it)');
  }

  onEpochEnd(_epoch: number, logs: EpochLogs, ctx: TrainingContext): void {
    const current = logs[this.monitor];
    if (current === undefined) return;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    if (improves(current, this.best, this.mode, this.options.minDelta ?? 1e-4)) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownCounter === 0) {
      this.wait += 1;
      if (this.wait >= (this.options.patience ?? 10)) {
        const old = getLearningRate(ctx.optimizer);
        const minLr = this.options.minLr ?? 0;
        if (old > minLr) setLearningRate(ctx.optimizer, Math.max(old * this.factor, minLr));
        this.cooldownCounter = this.options.cooldown ?? 0;
        this.wait = 0;
      }
    }
  }

  getState(): CallbackState {
    return { json: { best: this.best ?? null, wait: this.wait, cooldownCounter: this.cooldownCounter } };
  }

  setState(state: CallbackState): void {
    const s = state.json as { best: number | null; wait: number; cooldownCounter: number };
    this.best = s.best ?? undefined;
    this.wait = s.wait;
    this.cooldownCounter = s.cooldownCounter;
  }
}
