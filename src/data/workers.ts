// A worker_threads pool that runs SampleJobs (decode + augment) off the main thread. Jobs are pure,
// so which worker runs which job never changes the result. Workers are unref'd while idle so an
// unclosed iterator does not keep the process alive.
import { Worker } from 'node:worker_threads';
import { invalidArgument } from '../errors.js';
import type { SampleJob, SampleResult } from './sample_job.js';

interface Pending {
  resolve: (r: SampleResult) => void;
  reject: (e: Error) => void;
}

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
  private nextId = 1;
  private closed = false;
  private readonly tsxApi: string | undefined;

  constructor(readonly size: number) {
    checkWorkers(size);
    this.tsxApi = entryUrl.pathname.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
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
      if (at >= 0 && !this.closed) this.slots[at] = this.spawn();
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
    let slot = this.slots[0];
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    const id = this.nextId++;
    return new Promise<SampleResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      if (slot.busy === 0) slot.worker.ref();
      slot.busy++;
      slot.worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) p.reject(new Error('data worker pool closed'));
    this.pending.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
