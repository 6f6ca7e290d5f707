// The child process that trains runs for a worker, one at a time. Training blocks its thread for minutes;
// here it blocks this process only, so the worker's event loop stays free to renew its BullMQ locks. It
// talks to the worker over IPC and dies with it: a worker killed with SIGKILL must not leave a run training.
// Everything it reports is a structured message (RunMessage): progress as ProgressEvent objects with their
// epoch numbers, the checkpoint a resumed run continues from; log lines are for people only.
import { relative } from 'node:path';
import type { ComparisonRun } from '../compare/compare.js';
import type { ProgressEvent } from '../core/progress.js';

export interface RunRequest {
  run: Pick<ComparisonRun, 'label' | 'backbone' | 'settings'>;
  /** trainRun options with absolute paths on this machine. */
  train: ComparisonRun['train'];
  resume: boolean;
  evaluationDir: string;
  runsRoot: string;
}

export type RunMessage =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'log'; message: string }
  | { type: 'resumed'; from: { epoch: number; batch: number } }
  | { type: 'done'; row: unknown }
  | { type: 'error'; name: string; message: string }
  | { type: 'ready' };

function send(message: RunMessage): Promise<void> {
  return new Promise((resolve) => (process.connected ? process.send!(message, () => resolve()) : resolve()));
}

async function train(request: RunRequest): Promise<void> {
  const { trainRun } = await import('../train/run/run.js');
  const { runRow } = await import('../compare/compare.js');
  try {
    const result = await trainRun(
      { ...request.train, resume: request.resume },
      {
        onProgress: (event) => void send({ type: 'progress', event }),
        onLog: (message) => void send({ type: 'log', message }),
        onResume: (from) => void send({ type: 'resumed', from }),
      },
    );
    const row = runRow(request.run, result, request.train.weights ?? 'none', request.evaluationDir);
    if (row.ok && row.runDir) row.runDir = relative(request.runsRoot, row.runDir);
    await send({ type: 'done', row });
  } catch (error) {
    await send({ type: 'error', name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) });
  }
}

// The worker is gone (killed, or closing): stop here, whatever is under way.
process.on('disconnect', () => process.exit(0));
// One run at a time: the worker sends the next only after this one's result.
let queue = Promise.resolve();
process.on('message', (request: RunRequest) => {
  queue = queue.then(() => train(request));
});
// Warm the imports and the engine while the worker sends the first run; a message sent before this
// module has loaded would be lost, so the worker waits for 'ready'.
void (async () => {
  await import('../train/run/run.js');
  await import('../compare/compare.js');
  await send({ type: 'ready' });
})();
