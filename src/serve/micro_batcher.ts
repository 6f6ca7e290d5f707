// Concurrent requests share one model call: images wait at most `windowMs` for company, up to `maxBatch`
// per call, at most `maxConcurrent` calls at a time (the server: one per onnxruntime session, so the next
// call waits in the sessions' queue instead of starting only when the last one has answered). The queue
// is bounded: past `maxQueue` waiting images, `submit` refuses at once (the server answers 503) instead
// of letting memory and latency grow without limit.
import { invalidArgument, TlkitError } from '../core/errors.js';

export interface MicroBatcherOptions<I, O> {
  /** Runs one batch; returns one output per input, in order. */
  run(inputs: I[]): Promise<O[]>;
  maxBatch: number;
  windowMs: number;
  maxQueue: number;
  /** Model calls running at once. Default 1. */
  maxConcurrent?: number;
  /** Called after each batch with its size and duration (metrics). */
  onBatch?(size: number, ms: number): void;
}

/** The queue is full: the caller should come back later. */
export class QueueFullError extends TlkitError {
  constructor(
    readonly depth: number,
    readonly maxQueue: number,
  ) {
    super(`the inference queue is full (${depth} images waiting, maxQueue=${maxQueue}); retry later`);
  }
}

/** The batcher was closed before the work was admitted. */
export class BatcherClosedError extends TlkitError {}

interface Pending<I, O> {
  input: I;
  resolve(output: O): void;
  reject(error: unknown): void;
}

export class MicroBatcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private readonly maxConcurrent: number;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MicroBatcherOptions<I, O>) {
    for (const key of ['maxBatch', 'maxQueue'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw invalidArgument(key, options[key], 'a positive integer');
    }
    if (!(options.windowMs >= 0)) throw invalidArgument('windowMs', options.windowMs, 'a number >= 0');
    this.maxConcurrent = options.maxConcurrent ?? 1;
    if (!Number.isInteger(this.maxConcurrent) || this.maxConcurrent < 1) throw invalidArgument('maxConcurrent', options.maxConcurrent, 'a positive integer');
  }

  /** Images waiting for a model call (not counting the batches running). */
  get depth(): number {
    return this.queue.length;
  }

  /** Queues all of `inputs` or none (QueueFullError); resolves with their outputs in order. */
  submit(inputs: I[]): Promise<O[]> {
    if (this.closed) return Promise.reject(new BatcherClosedError('the server is shutting down'));
    if (this.queue.length + inputs.length > this.options.maxQueue) return Promise.reject(new QueueFullError(this.queue.length, this.options.maxQueue));
    const results = inputs.map((input) => new Promise<O>((resolve, reject) => this.queue.push({ input, resolve, reject })));
    this.schedule();
    return Promise.all(results);
  }

  private schedule(): void {
    if (this.running >= this.maxConcurrent || this.queue.length === 0) return;
    if (this.queue.length >= this.options.maxBatch || this.options.windowMs === 0) {
      this.dispatch();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.dispatch(), this.options.windowMs);
    }
  }

  private dispatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running >= this.maxConcurrent || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.running++;
    const start = performance.now();
    this.options
      .run(batch.map((p) => p.input))
      .then(
        (outputs) => {
          if (outputs.length !== batch.length) throw new TlkitError(`the model returned ${outputs.length} outputs for a batch of ${batch.length}`);
          this.options.onBatch?.(batch.length, performance.now() - start);
          batch.forEach((p, i) => p.resolve(outputs[i]));
        },
      )
      .catch((error: unknown) => batch.forEach((p) => p.reject(error)))
      .finally(() => {
        this.running--;
        // Whatever arrived meanwhile has waited at least one model call: run it now rather than wait again.
        if (this.queue.length > 0) this.dispatch();
        else if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    // Another free slot takes what is still waiting (a full batch at once, else after the window).
    this.schedule();
  }

  /** Refuses new work; resolves once everything admitted has run. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running < this.maxConcurrent && this.queue.length > 0) this.dispatch();
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
