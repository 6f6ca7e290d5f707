// The library reports progress through callbacks and never prints. The CLI turns these into bars.

export interface ProgressEvent {
  /** What is running, e.g. 'download mobilenet_1_0_224_tf_no_top.h5', 'epoch 2/5', 'features'. */
  task: string;
  /** Units done so far (bytes, images, batches). */
  current: number;
  /** Units in all, when known. */
  total?: number;
  /** Unit name for display: 'B', 'img', 'batch'. */
  unit?: string;
  /** Numbers to show beside the bar: loss, acc, img/s... */
  metrics?: Record<string, number>;
  /** True on the last event of a task. */
  done?: boolean;
  /**
   * The training epoch the event belongs to (1-based, within its phase) and the phase's epoch count,
   * set by the training loop so that consumers (the queue's workers) never read them back from `task`.
   */
  epoch?: number;
  epochs?: number;
}

export type ProgressCallback = (event: ProgressEvent) => void;
