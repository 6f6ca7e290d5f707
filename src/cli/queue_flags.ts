// The flags `compare`, `worker` and `status` share to reach a queue, and the status table they print.
import { readFileSync } from 'node:fs';
import { FileError, UsageError } from '../core/errors.js';
import type { QueueConnectionOptions } from '../queue/connection.js';
import type { ComparisonStatus } from '../queue/submit.js';
import { stringFlag, type FlagSpec, type ParsedArgs } from './args.js';

export const queueFlagSpec = {
  queue: { type: 'string' },
  'data-root': { type: 'string' },
  'runs-root': { type: 'string' },
  'queue-ca': { type: 'string' },
  'queue-cert': { type: 'string' },
  'queue-key': { type: 'string' },
} as const satisfies FlagSpec;

export const queueFlagUsage = `Queue options (BullMQ on Redis):
  --queue URL                redis://[:password@]host:port[/db] or rediss://... (TLS); or set TLKIT_QUEUE,
                             which keeps a password out of the process list and shell history
  --data-root DIR            the shared folder that holds the datasets, as this machine sees it (default .)
  --runs-root DIR            the shared folder that holds run directories and reports (default .)
  --queue-ca FILE            rediss://: PEM certificate(s) of the CA that signed Redis's certificate
  --queue-cert FILE          rediss://: this machine's client certificate (PEM), for a Redis started with
  --queue-key FILE           --tls-auth-clients yes, and its private key (PEM)`;

/** --queue, else TLKIT_QUEUE; undefined when neither is set. */
export function queueUrlFromFlags(values: ParsedArgs['values']): string | undefined {
  const url = stringFlag(values, 'queue') ?? process.env.TLKIT_QUEUE;
  return url === '' ? undefined : url;
}

function pemFile(values: ParsedArgs['values'], name: 'queue-ca' | 'queue-cert' | 'queue-key'): string | undefined {
  const file = stringFlag(values, name);
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FileError(file, `--${name}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  if (!text.includes('-----BEGIN ')) throw new FileError(file, `--${name}: not a PEM file (expected a '-----BEGIN ...' block)`);
  return text;
}

/** The TLS material of --queue-ca / --queue-cert / --queue-key, as connection options. */
export function queueConnectionFromFlags(values: ParsedArgs['values'], url: string): QueueConnectionOptions {
  const ca = pemFile(values, 'queue-ca');
  const cert = pemFile(values, 'queue-cert');
  const key = pemFile(values, 'queue-key');
  if (!ca && !cert && !key) return {};
  if (!url.startsWith('rediss://')) throw new UsageError('--queue-ca, --queue-cert and --queue-key need a rediss:// (TLS) queue URL', cert ? 'queue-cert' : ca ? 'queue-ca' : 'queue-key');
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--queue-cert and --queue-key go together: the client certificate and its private key', cert ? 'queue-key' : 'queue-cert');
  return { redis: { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } };
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
