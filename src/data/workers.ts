// A worker_threads pool that runs SampleJobs (decode + augment) off the main thread. Jobs are pure,
// so which thread runs which job never changes the result. Jobs wait in a queue here; with stealing
// on, each worker holds only some of them (enough to keep its decodes overlapping its transforms), so
// a caller with nothing else to do can take queued jobs and run them itself: with 1 worker on 2 cores,
// the main thread waiting for a batch is otherwise an idle core. Workers are unref'd while idle so an
// unclosed iterator does not keep the process alive.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { invalidArgument } from '../core/errors.js';
import type { SampleJob, SampleResult } from './sample_job.js';

interface Pending {
  resolve: (r: SampleResult) => void;
  reject: (e: Error) => void;
}

interface Queued extends Pending {
  job: SampleJob;
}

/** A queued job taken by the caller: run it, then settle it with the result. */
export interface StolenJob {
  job: SampleJob;
  resolve: (r: SampleResult) => void;
}

const CORES = availableParallelism();

/**
 * Jobs handed to one worker at a time when the caller may steal: enough that its decodes (on libuv
 * threads) overlap its transforms (4 and 8 measured slower), few enough to leave the caller queued
 * work. Without stealing every job goes to a worker at once.
 */
const STEALING_DEPTH = 16;

interface Slot {
  worker: Worker;
  busy: number;
}

// The worker entry is TypeScript in a source checkout (run through tsx) and JavaScript once built.
const entryUrl = new URL(import.meta.url.endsWith('.ts') ? './sample_worker.ts' : './sample_worker.js', import.meta.url);

// Evaluated as CommonJS in the worker: registers tsx when the entry is .ts, then loads the entry.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsxApi) (await import(workerData.tsxApi)).register();
  await import(workerData.entry);
})().catch((e) => { setImmediate(() => { throw e; }); });
`;

export function checkWorkers(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 64) {
    throw invalidArgument('workers', value, 'an integer from 0 (decode on the main thread) to 64');
  }
  return value;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending & { slot: Slot }>();
  private readonly queue: Queued[] = [];
  /** Asked for and a spare core for the caller: see steal(). */
  readonly stealing: boolean;
  private readonly depth: number;
  private nextId = 1;
  private closed = false;
  private readonly tsxApi: string | undefined;

  /**
   * `allowStealing`: the caller will take queued jobs while it waits (worth it when jobs are mostly
   * JavaScript work, augmentation; decode-only jobs already run on libuv threads, and measured slower).
   */
  constructor(
    readonly size: number,
    allowStealing = false,
  ) {
    checkWorkers(size);
    this.tsxApi = entryUrl.pathname.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
    this.stealing = allowStealing && size + 1 <= CORES;
    this.depth = this.stealing ? STEALING_DEPTH : Infinity;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { entry: entryUrl.href, tsxApi: this.tsxApi } });
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (msg: { id: number; result: SampleResult }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      slot.busy--;
      this.dispatch();
      if (slot.busy === 0) worker.unref();
      p.resolve(msg.result);
    });
    // A worker that dies (out of memory, a native crash) fails its own jobs and is replaced, so the
    // pool never waits forever on a dead thread.
    const fail = (why: string) => {
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(new Error(`data worker stopped: ${why}`));
      }
      const at = this.slots.indexOf(slot);
      if (at >= 0 && !this.closed) {
        this.slots[at] = this.spawn();
        this.dispatch();
      }
    };
    worker.on('error', (error) => fail(error.message));
    worker.on('exit', (code) => {
      if (!this.closed) fail(`exit code ${code}`);
    });
    worker.unref();
    return slot;
  }

  run(job: SampleJob): Promise<SampleResult> {
    if (this.closed) return Promise.reject(new Error('WorkerPool is closed'));
    return new Promise<SampleResult>((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Takes the oldest job no worker has started, for the caller to run; null when none waits, or when
   * the workers already have every core but the caller's (then the caller would only compete with them).
   */
  steal(): StolenJob | null {
    if (!this.stealing) return null;
    const q = this.queue.shift();
    return q ? { job: q.job, resolve: q.resolve } : null;
  }

  /** Hands queued jobs to workers with room, in queue order. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots[0];
      for (const s of this.slots) if (s.busy < slot.busy) slot = s;
      if (!slot || slot.busy >= this.depth) return;
      const q = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, { resolve: q.resolve, reject: q.reject, slot });
      if (slot.busy === 0) slot.worker.ref();
      slot.busy++;
      slot.worker.postMessage({ id, job: q.job });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) p.reject(new Error('data worker pool closed'));
    for (const q of this.queue) q.reject(new Error('data worker pool closed'));
    this.pending.clear();
    this.queue.length = 0;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
