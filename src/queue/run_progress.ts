// What a worker publishes as a run job's progress (BullMQ job.progress, read by `tlkit status`), built
// from the structured events the run process sends: ProgressEvents that carry their epoch and epoch
// count, and the checkpoint a resumed run continues from. Nothing is read back out of display text.
import type { ProgressEvent } from '../core/progress.js';
import type { RunProgress } from './jobs.js';

/** At most one progress update per this many ms reaches Redis (the last event of a task always does). */
const PUBLISH_INTERVAL_MS = 1000;

export class RunProgressTracker {
  private readonly progress: RunProgress;
  private startFraction: number | undefined;
  private lastPublished = -Infinity;

  /** @param now a clock in ms (performance.now by default; tests pass their own). */
  constructor(
    worker: string,
    private readonly now: () => number = () => performance.now(),
    private readonly started = now(),
  ) {
    this.progress = { worker };
  }

  /** The run continues from a checkpoint (run process's `resumed` message). */
  resumed(from: { epoch: number; batch: number }): RunProgress {
    this.progress.resumedFrom = `epoch ${from.epoch}, batch ${from.batch}`;
    return this.snapshot();
  }

  get resumedFrom(): string | undefined {
    return this.progress.resumedFrom;
  }

  /**
   * Folds one event in; returns the progress to publish, or undefined while the last publication is
   * recent. The ETA extrapolates from the share of the epochs done since this worker took the run.
   */
  update(event: ProgressEvent): RunProgress | undefined {
    this.progress.task = event.task;
    if (event.epoch !== undefined && event.epochs !== undefined) {
      const within = event.total ? Math.min(1, event.current / event.total) : 0;
      const fraction = (event.epoch - 1 + within) / event.epochs;
      this.startFraction ??= fraction;
      const gained = fraction - this.startFraction;
      const seconds = (this.now() - this.started) / 1000;
      this.progress.epoch = event.epoch;
      this.progress.epochs = event.epochs;
      if (gained > 0.01) this.progress.etaSeconds = Math.round((seconds * (1 - fraction)) / gained);
    }
    const now = this.now();
    if (now - this.lastPublished < PUBLISH_INTERVAL_MS && !event.done) return undefined;
    this.lastPublished = now;
    return this.snapshot();
  }

  snapshot(): RunProgress {
    return { ...this.progress };
  }
}
