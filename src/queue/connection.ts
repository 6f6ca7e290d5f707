// The Redis connection behind a queue URL: `redis://[:password@]host:port[/db]` or `rediss://` (TLS).
// The password is handed to the client and nowhere else: everything that names the queue (logs, errors,
// reports) uses describeQueueUrl, which hides it.
import { Redis, type RedisOptions } from 'ioredis';
import { UsageError } from '../core/errors.js';

export interface QueueConnectionOptions {
  /** Extra ioredis options (e.g. `tls: { ca }` for a private CA with rediss://). */
  redis?: RedisOptions;
}

/** Checks the URL's form; returns it parsed. Refuses other schemes with what is accepted. */
export function parseQueueUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--queue expects redis://[:password@]host:port or rediss://...; got '${describeQueueUrl(url)}'`, 'queue');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new UsageError(`--queue expects a redis:// or rediss:// URL; got '${describeQueueUrl(url)}'`, 'queue');
  }
  if (!parsed.hostname) throw new UsageError(`--queue: the URL names no host: '${describeQueueUrl(url)}'`, 'queue');
  return parsed;
}

/** The URL with any password replaced by '***' (also for text that does not parse as a URL). */
export function describeQueueUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    // Whatever stands before an '@' may be a password.
    return url.replace(/[^\s/]*@/g, '***@');
  }
}

/**
 * A client that reconnects for ever (a Redis restart is a pause, not an error) and whose commands wait
 * for the connection instead of failing: BullMQ's blocking calls require maxRetriesPerRequest null.
 */
export function createRedis(url: string, options: QueueConnectionOptions = {}): Redis {
  const parsed = parseQueueUrl(url);
  const client = new Redis({
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    ...options.redis,
    // rediss:// turns TLS on; options.redis.tls may add a CA or a client certificate.
    ...(parsed.protocol === 'rediss:' ? { tls: { ...options.redis?.tls } } : {}),
  });
  // Connection errors repeat while Redis is away; the retry strategy handles them, callers see progress stall.
  client.on('error', () => undefined);
  return client;
}
