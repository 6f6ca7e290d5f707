// The records training produces: epoch logs, history, class weights.

/** Metrics of one epoch: `epoch` is 1-based; loss, accuracy, val_loss, val_accuracy, lr, img_per_sec, seconds. */
export interface EpochLogs {
  epoch: number;
  [metric: string]: number;
}

export interface History {
  epochs: EpochLogs[];
}

export type ClassWeight = Record<number, number> | 'auto';

