// `tlkit status ID --queue URL`: where a queued comparison is: each run's state, worker, epoch and ETA.
import type { Command } from '../command.js';
import { parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { formatStatus, queueConnectionFromFlags, queueFlagSpec, queueFlagUsage, requireQueueUrl } from '../queue_flags.js';

const usage = `Usage: tlkit status ID --queue URL [--json]

Shows a queued comparison (the id tlkit compare --queue --detach printed): each run's state, worker,
epoch and ETA, runs taken over from lost workers, errors, and the report once the last run has ended.

Options:
  --json                     print the status as JSON

${queueFlagUsage}`;

const flags = { ...queueFlagSpec, json: { type: 'boolean' } } as const;

export const statusCommand: Command = {
  name: 'status',
  summary: 'show a queued comparison: runs, workers, epochs, ETA, report',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 1) throw new UsageError(`status expects one comparison ID; got ${positionals.length}\n\n${usage}`);
    const queue = requireQueueUrl(values, 'status');
    const { connectQueue } = await import('../../queue/submit.js');
    const client = connectQueue(queue, { ...queueConnectionFromFlags(values, queue), runsRoot: stringFlag(values, 'runs-root'), dataRoot: stringFlag(values, 'data-root') });
    try {
      const status = await client.status(positionals[0]);
      io.stdout.write((values.json ? JSON.stringify(status, null, 2) : await formatStatus(status)) + '\n');
      return status.state === 'unknown' ? 1 : 0;
    } finally {
      await client.close();
    }
  },
};
