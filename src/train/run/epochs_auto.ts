// `--epochs auto`: how long a phase trains. Where an epoch is almost free (the backbone frozen and its
// features cached because nothing is augmented), the head trains until validation loss stops improving,
// with the best epoch's weights restored; a fixed count would stop it underfit or waste nothing worth
// saving. Where every epoch costs a pass through the backbone, a fixed count keeps the time predictable.
import { invalidArgument } from '../../core/errors.js';

export type Epochs = number | 'auto';

/** Upper bound of an 'auto' phase: generous, only there so a noisy validation loss cannot run forever. */
export const AUTO_EPOCHS_CAP = 100;
/** Epochs without a val_loss improvement before an 'auto' phase stops. */
export const AUTO_EPOCHS_PATIENCE = 5;
/** What 'auto' means where features cannot be cached (the former default). */
export const AUTO_EPOCHS_FIXED = 5;

export interface EpochPlan {
  epochs: number;
  /** Set when the phase should stop on val_loss and restore its best weights. */
  earlyStopping?: { monitor: 'val_loss'; patience: number; restoreBestWeights: true };
  /** For the log: why this many epochs. */
  reason: string;
}

export function checkEpochs(name: string, value: unknown): void {
  if (value === 'auto') return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidArgument(name, value, "an integer >= 0 or 'auto'");
}

/** The epochs of one phase, given whether its features are cached and whether there is validation data. */
export function planEpochs(epochs: Epochs, situation: { featuresCached: boolean; hasValidation: boolean }): EpochPlan {
  if (epochs !== 'auto') return { epochs, reason: `${epochs} epochs (given)` };
  if (!situation.featuresCached) {
    return { epochs: AUTO_EPOCHS_FIXED, reason: `${AUTO_EPOCHS_FIXED} epochs (auto: features cannot be cached here, so every epoch costs a pass through the backbone)` };
  }
  if (!situation.hasValidation) {
    return { epochs: AUTO_EPOCHS_FIXED, reason: `${AUTO_EPOCHS_FIXED} epochs (auto: no validation data to stop on)` };
  }
  return {
    epochs: AUTO_EPOCHS_CAP,
    earlyStopping: { monitor: 'val_loss', patience: AUTO_EPOCHS_PATIENCE, restoreBestWeights: true },
    reason: `until val_loss stops improving for ${AUTO_EPOCHS_PATIENCE} epochs, best weights restored, at most ${AUTO_EPOCHS_CAP} (auto: features are cached, an epoch costs almost nothing)`,
  };
}
