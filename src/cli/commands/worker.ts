// `tlkit worker --queue URL --data-root DIR --runs-root DIR`: trains queued runs until stopped.
import type { Command } from '../command.js';
import { numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { queueConnectionFromFlags, queueFlagSpec, queueFlagUsage, requireQueueUrl } from '../queue_flags.js';

const usage = `Usage: tlkit worker --queue URL --data-root DIR --runs-root DIR [--concurrency 1] [--threads N]

Takes runs of queued comparisons (tlkit compare --queue) and trains each in its own process; writes a
comparison's report when its last run ends. Start one per machine (or more, each with fewer --threads).
A worker that dies mid-run (SIGKILL, power loss) loses its runs to the other workers, which resume them
from their last checkpoints. Ctrl-C: finishes nothing, stops at once; its runs go back to the queue.

Options:
  --concurrency N            runs trained at once (default 1)
  --threads N                threads per run: onnxruntime's and libuv's pool (default: all cores)
  --name NAME                how status shows this worker (default host:pid)
  --lock-duration S          seconds after which a silent worker's runs go to another worker (default 30)
  --feature-store DIR        feature stores the runs share (default: RUNS_ROOT/.tlkit-cache, so workers on
                             the shared folder reuse each other's features); --no-feature-store: none

${queueFlagUsage}
  Both roots are required here: a job naming a path outside them is refused.`;

const flags = {
  ...queueFlagSpec,
  concurrency: { type: 'string' },
  threads: { type: 'string' },
  name: { type: 'string' },
  'lock-duration': { type: 'string' },
  'feature-store': { type: 'string' },
  'no-feature-store': { type: 'boolean' },
} as const;

export const workerCommand: Command = {
  name: 'worker',
  summary: 'train the runs of queued comparisons (BullMQ on Redis) until stopped',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length > 0) throw new UsageError(`worker takes no positional arguments; got ${positionals.join(' ')}`);
    const queue = requireQueueUrl(values, 'worker');
    const dataRoot = stringFlag(values, 'data-root');
    const runsRoot = stringFlag(values, 'runs-root');
    if (!dataRoot || !runsRoot) throw new UsageError('worker needs --data-root DIR and --runs-root DIR: the shared folders as this machine sees them', dataRoot ? 'runs-root' : 'data-root');
    const lockSeconds = numberFlag(values, 'lock-duration', { min: 1 });
    const { startWorker } = await import('../../queue/worker.js');
    const { describeQueueUrl } = await import('../../queue/connection.js');
    const worker = await startWorker({
      queue,
      ...queueConnectionFromFlags(values, queue),
      dataRoot,
      runsRoot,
      concurrency: numberFlag(values, 'concurrency', { integer: true, min: 1 }),
      threads: numberFlag(values, 'threads', { integer: true, min: 1 }),
      name: stringFlag(values, 'name'),
      lockDurationMs: lockSeconds === undefined ? undefined : lockSeconds * 1000,
      featureStore: values['no-feature-store'] ? false : stringFlag(values, 'feature-store'),
      onLog: (m) => io.stderr.write(m + '\n'),
    });
    // Handlers first, then the line that says the worker is up (a supervisor may stop it as soon as it reads it).
    const stopped = new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    io.stderr.write(`listening on ${describeQueueUrl(queue)} (Ctrl-C to stop)\n`);
    await stopped;
    io.stderr.write('stopping: runs under way go back to the queue\n');
    await worker.close(true);
    return 0;
  },
};
