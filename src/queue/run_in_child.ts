// Worker side of run_process.ts: a few long-lived child processes, each training one run at a time and
// relaying its progress. A process is reused for the next run (its imports and engine start-up are paid
// once per worker slot, not once per run) unless the run failed or was killed.
import { fork, type ChildProcess } from 'node:child_process';
import { TrainingError } from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import type { RunMessage, RunRequest } from './run_process.js';

// The entry is TypeScript in a source checkout (run through tsx) and JavaScript once built.
const entryUrl = new URL(import.meta.url.endsWith('.ts') ? './run_process.ts' : './run_process.js', import.meta.url);

export interface ChildRun {
  /** The run's row (see compare's runRow). */
  done: Promise<unknown>;
  kill(): void;
}

export interface ChildRunHooks {
  onProgress?: (event: ProgressEvent) => void;
  onLog?: (message: string) => void;
  /** The run continues from a checkpoint (epoch 1-based, batches of it done). */
  onResume?: (from: { epoch: number; batch: number }) => void;
}

interface RunProcess {
  child: ChildProcess;
  ready: Promise<void>;
  /** The run under way, if any. */
  current?: { hooks: ChildRunHooks; settle: (outcome: RunMessage | Error) => void };
  stderr: string;
}

/**
 * The environment of a run process: `base` plus, with a thread budget, onnxruntime's intra-op threads
 * (TLKIT_THREADS) and libuv's pool (UV_THREADPOOL_SIZE: file reads and sharp's decodes), so runs side by
 * side on one machine do not each take more than their share. A UV_THREADPOOL_SIZE set in `base` wins.
 */
export function runProcessEnvironment(threads: number | undefined, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  if (threads !== undefined) {
    env.TLKIT_THREADS = String(threads);
    env.UV_THREADPOOL_SIZE ??= String(threads);
  }
  return env;
}

export class RunProcessPool {
  private readonly idle: RunProcess[] = [];
  private readonly all = new Set<RunProcess>();

  /** @param threads each process's thread budget: onnxruntime intra-op threads (TLKIT_THREADS), libuv's pool. */
  constructor(private readonly threads?: number) {}

  private spawn(): RunProcess {
    const execArgv = entryUrl.pathname.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
    const env = runProcessEnvironment(this.threads);
    const child = fork(entryUrl, [], { execArgv, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let markReady: () => void = () => undefined;
    const proc: RunProcess = { child, ready: new Promise<void>((resolve) => (markReady = resolve)), stderr: '' };
    child.stderr?.on('data', (d: Buffer) => (proc.stderr = (proc.stderr + d.toString()).slice(-2000)));
    child.on('message', (message: RunMessage) => {
      if (message.type === 'ready') markReady();
      else if (message.type === 'progress') proc.current?.hooks.onProgress?.(message.event);
      else if (message.type === 'log') proc.current?.hooks.onLog?.(message.message);
      else if (message.type === 'resumed') proc.current?.hooks.onResume?.(message.from);
      // Only these two end a run: under tsx the loader sends its own messages ({ type: 'dependency' }) too.
      else if (message.type === 'done' || message.type === 'error') proc.current?.settle(message);
    });
    const gone = (why: string) => {
      this.all.delete(proc);
      const i = this.idle.indexOf(proc);
      if (i >= 0) this.idle.splice(i, 1);
      const tail = proc.stderr.trim().split('\n').slice(-3).join(' | ');
      proc.current?.settle(new TrainingError(`the training process ended without a result (${why})${tail ? `: ${tail}` : ''}`));
    };
    child.on('exit', (code, signal) => gone(signal ? `signal ${signal}` : `exit code ${code}`));
    child.on('error', (error) => gone(error.message));
    this.all.add(proc);
    return proc;
  }

  run(request: RunRequest, hooks: ChildRunHooks = {}): ChildRun {
    const proc = this.idle.pop() ?? this.spawn();
    const done = new Promise<unknown>((resolve, reject) => {
      proc.current = {
        hooks,
        settle: (outcome) => {
          proc.current = undefined;
          if (outcome instanceof Error) return reject(outcome);
          if (outcome.type === 'done') {
            this.idle.push(proc);
            return resolve(outcome.row);
          }
          // A failed run may leave the process in a bad state: the next run gets a fresh one.
          proc.child.kill('SIGKILL');
          if (outcome.type === 'error') reject(Object.assign(new TrainingError(outcome.message), { originalName: outcome.name }));
        },
      };
    });
    void proc.ready.then(() => proc.child.connected && proc.child.send(request));
    return { done, kill: () => void proc.child.kill('SIGKILL') };
  }

  /** Starts processes ahead of the first runs, so those do not wait for the imports either. */
  prewarm(count: number): void {
    while (this.all.size < count) this.idle.push(this.spawn());
  }

  /** Ends every process, idle or running. */
  close(): void {
    for (const proc of this.all) proc.child.kill('SIGKILL');
  }
}
