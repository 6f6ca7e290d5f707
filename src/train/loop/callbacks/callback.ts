// The callback contract of fit: Keras's hooks, async, plus state that survives a resume.
import type { tf, tfl } from '../../../engines/tfjs/tf.js';
import type { CallbackState, TrainingCheckpoint } from '../checkpoint.js';
import type { EpochLogs } from '../types.js';

/** What fit reports after each batch: running means over the epoch so far. */
export interface BatchLogs {
  /** 0-based epoch and batch. */
  epoch: number;
  batch: number;
  batchesPerEpoch: number;
  loss: number;
  accuracy: number;
  /** Samples seen this epoch and training throughput so far this epoch. */
  seen: number;
  imgPerSec: number;
}

/** fit's view of the run, handed to every hook. */
export interface TrainingContext {
  readonly model: tfl.LayersModel;
  readonly optimizer: tf.Optimizer;
  readonly epochs: number;
  readonly batchesPerEpoch: number;
  /** Every finished epoch, including those before a resume. */
  readonly history: readonly EpochLogs[];
  /** Set by a callback to end training after the current epoch (EarlyStopping). */
  stopTraining: boolean;
  /** The complete current state (weights, optimizer, position, iterator, callbacks) for a checkpoint. */
  checkpoint(): Promise<TrainingCheckpoint>;
}

export interface Callback {
  /** Key of this callback's state inside checkpoints; unique within a fit. */
  readonly name: string;
  /** Hooks run in ascending order (default 0); checkpointing runs last so it saves the others' state. */
  readonly order?: number;
  onTrainBegin?(ctx: TrainingContext): void | Promise<void>;
  onEpochBegin?(epoch: number, ctx: TrainingContext): void | Promise<void>;
  onBatchEnd?(logs: BatchLogs, ctx: TrainingContext): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: EpochLogs, ctx: TrainingContext): void | Promise<void>;
  onTrainEnd?(ctx: TrainingContext): void | Promise<void>;
  getState?(): CallbackState | Promise<CallbackState>;
  setState?(state: CallbackState): void;
}
