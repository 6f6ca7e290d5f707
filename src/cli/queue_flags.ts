// The flags `compare`, `worker` and `status` share to reach a queue, and the status table they print.
import { UsageError } from '../core/errors.js';
import type { ComparisonStatus } from '../queue/submit.js';
import { stringFlag, type FlagSpec, type ParsedArgs } from './args.js';

export const queueFlagSpec = {
  queue: { type: 'string' },
  'data-root': { type: 'string' },
  'runs-root': { type: 'string' },
} as const satisfies FlagSpec;

export const queueFlagUsage = `Queue options (BullMQ on Redis):
  --queue URL                redis://[:password@]host:port[/db] or rediss://... (TLS); or set TLKIT_QUEUE,
                             which keeps a password out of the process list and shell history
  --data-root DIR            the shared folder that holds the datasets, as this machine sees it (default .)
  --runs-root DIR            the shared folder that holds run directories and reports (default .)`;

/** --queue, else TLKIT_QUEUE; undefined when neither is set. */
export function queueUrlFromFlags(values: ParsedArgs['values']): string | undefined {
  const url = stringFlag(values, 'queue') ?? process.env.TLKIT_QUEUE;
  return url === '' ? undefined : url;
}

export function requireQueueUrl(values: ParsedArgs['values'], command: string): string {
  const url = queueUrlFromFlags(values);
  if (!url) throw new UsageError(`${command} needs --queue redis://HOST:PORT (or TLKIT_QUEUE)`, 'queue');
  return url;
}

/** One line per run: its state, worker, epoch and ETA, or its result. */
export async function formatStatus(status: ComparisonStatus): Promise<string> {
  const { describeRun } = await import('../queue/submit.js');
  const width = Math.max(0, ...status.runs.map((r) => r.label.length));
  const lines = [`comparison ${status.id}: ${status.state}${status.error ? ` (${status.error})` : ''}`];
  for (const run of status.runs) lines.push(`  ${run.label.padEnd(width)}  ${describeRun(run)}`);
  if (status.files) lines.push(`report: ${status.files.html}`);
  return lines.join('\n');
}
