// Writes the resumable checkpoint `last` after every epoch (and every N batches if asked), and
// `best` whenever the monitored metric improves. Both are full checkpoints, written atomically; when
// an epoch is the best, `last` is a hard link to the `best` just written, not a second copy.
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { atomicLink, atomicWriteText, removeStaleTemporaries, type AtomicWriteFs } from '../../../core/atomic_write.js';
import { writeCheckpoint, type CallbackState } from '../checkpoint.js';
import type { EpochLogs } from '../types.js';
import type { BatchLogs, Callback, TrainingContext } from './callback.js';
import { improves, resolveMode, type MonitorMode } from './monitor.js';

export const LAST_CHECKPOINT = 'last.ckpt';
export const BEST_CHECKPOINT = 'best.ckpt';

export interface ModelCheckpointOptions {
  /** Directory of last.ckpt and best.ckpt (created if missing). */
  dir: string;
  monitor?: string;
  mode?: MonitorMode;
  /** Also checkpoint inside an epoch, every this many batches. */
  everyBatches?: number;
  /** Keep best.ckpt (default true). */
  saveBest?: boolean;
  /** File operations, for tests of the failure paths. */
  io?: AtomicWriteFs;
}

export class ModelCheckpoint implements Callback {
  readonly name = 'ModelCheckpoint';
  readonly order = 100;
  readonly monitor: string;
  private readonly mode: 'min' | 'max';
  private best: number | undefined;
  /** 1-based epoch of the best checkpoint, 0 before any. */
  bestEpoch = 0;

  constructor(private readonly options: ModelCheckpointOptions) {
    this.monitor = options.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, options.mode);
  }

  get lastPath(): string {
    return join(this.options.dir, LAST_CHECKPOINT);
  }

  get bestPath(): string {
    return join(this.options.dir, BEST_CHECKPOINT);
  }

  /** Fails before the first epoch, not after it, when the directory cannot take a checkpoint. */
  async onTrainBegin(): Promise<void> {
    await fs.mkdir(this.options.dir, { recursive: true }).catch(() => undefined);
    await removeStaleTemporaries(this.options.dir);
    const probe = join(this.options.dir, '.write-test');
    await atomicWriteText(probe, 'tlkit\n', this.options.io);
    await fs.rm(probe, { force: true });
  }

  async onBatchEnd(logs: BatchLogs, ctx: TrainingContext): Promise<void> {
    const every = this.options.everyBatches;
    const lastOfEpoch = logs.batch + 1 >= logs.batchesPerEpoch;
    if (every && every > 0 && !lastOfEpoch && (logs.batch + 1) % every === 0) {
      await writeCheckpoint(this.lastPath, await ctx.checkpoint(), this.options.io);
    }
  }

  async onEpochEnd(epoch: number, logs: EpochLogs, ctx: TrainingContext): Promise<void> {
    // Decide first, so the state saved in `last` already knows whether this epoch was the best.
    const current = logs[this.monitor] ?? logs.loss;
    const isBest = this.options.saveBest !== false && improves(current, this.best, this.mode);
    if (isBest) {
      this.best = current;
      this.bestEpoch = epoch + 1;
    }
    const checkpoint = await ctx.checkpoint();
    if (isBest) {
      // The same checkpoint under both names: written once (a whole model's weights can be hundreds of
      // MB an epoch), then linked; the next epoch's write of `last` replaces that name only.
      await writeCheckpoint(this.bestPath, checkpoint, this.options.io);
      await atomicLink(this.bestPath, this.lastPath, this.options.io);
    } else {
      await writeCheckpoint(this.lastPath, checkpoint, this.options.io);
    }
  }

  getState(): CallbackState {
    return { json: { best: this.best ?? null, bestEpoch: this.bestEpoch } };
  }

  setState(state: CallbackState): void {
    const s = state.json as { best: number | null; bestEpoch: number };
    this.best = s.best ?? undefined;
    this.bestEpoch = s.bestEpoch;
  }
}
