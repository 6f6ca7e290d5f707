// Queue URLs with a password and TLS; the password stays out of everything tlkit prints or stores.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { planComparison } from '../../src/compare/compare.js';
import { UsageError } from '../../src/core/errors.js';
import { createRedis, describeQueueUrl, parseQueueUrl } from '../../src/queue/connection.js';
import { connectQueue } from '../../src/queue/submit.js';
import { resolveUnderRoot, relativeToRoot } from '../../src/queue/roots.js';
import { startRedis, type TestRedis } from '../helpers/redis_server.js';
import { runCli } from '../helpers/io.js';
import { queueTestDirs, tinyCompare, type QueueTestDirs } from './helpers.js';

let redis: (TestRedis & { ca?: string }) | undefined;
let dirs: QueueTestDirs | undefined;
after(async () => {
  await redis?.dispose();
  if (dirs) rmSync(dirs.root, { recursive: true, force: true });
});

test('queue URLs: only redis:// and rediss://; the password is hidden wherever the URL is shown', () => {
  assert.equal(describeQueueUrl('redis://:hunter2@db.example:6380/2'), 'redis://:***@db.example:6380/2');
  assert.equal(describeQueueUrl('rediss://user:hunter2@db.example'), 'rediss://user:***@db.example');
  assert.throws(() => parseQueueUrl('http://:hunter2@db.example'), (e: unknown) => e instanceof UsageError && /redis:\/\/ or rediss:\/\//.test(e.message) && !e.message.includes('hunter2'));
  assert.throws(() => parseQueueUrl('not a url :hunter2@x'), (e: unknown) => e instanceof UsageError && !e.message.includes('hunter2'));
});

test('job paths are confined to the roots', () => {
  assert.equal(resolveUnderRoot('/srv/data', 'cats/train', 'dataDir'), '/srv/data/cats/train');
  for (const bad of ['../etc', '/etc/passwd', 'cats/../../etc', 7]) assert.throws(() => resolveUnderRoot('/srv/data', bad, 'dataDir'), /refused/);
  assert.throws(() => relativeToRoot('/srv/data', '/home/me/cats', 'dataset', '--data-root'), /not under --data-root \/srv\/data/);
});

test('rediss:// with a password: submit, status and cancel over TLS; the password is not in job data', { timeout: 60_000 }, async () => {
  redis = await startRedis({ tls: true, password: 'tls-secret-pw' });
  dirs = await queueTestDirs(8);
  const client = connectQueue(redis.url, { dataRoot: dirs.dataRoot, runsRoot: dirs.runsRoot, redis: { tls: { ca: redis.ca } } });
  try {
    const id = await client.submit(planComparison(tinyCompare(dirs, join(dirs.runsRoot, 'tls'), [0.1, 0.01])));
    const status = await client.status(id);
    assert.equal(status.state, 'waiting-children');
    assert.deepEqual(status.runs.map((r) => r.state), ['waiting', 'waiting']);
    const raw = createRedis(redis.url, { redis: { tls: { ca: redis.ca } } });
    const values: string[] = [];
    for (const key of await raw.keys('*')) if ((await raw.type(key)) === 'hash') values.push(...Object.values(await raw.hgetall(key)));
    raw.disconnect();
    assert.ok(values.some((v) => v.includes('squares')), 'job data is there');
    assert.ok(!values.some((v) => v.includes('tls-secret-pw')), 'but not the password');
    assert.equal((await client.cancel(id)).state, 'cancelled');
  } finally {
    await client.close();
  }
});

test('tlkit compare --queue --detach prints an id, tlkit status shows it, Ctrl-C while waiting leaves the runs queued', { timeout: 60_000 }, async () => {
  const plain = await startRedis({ password: 'cli-secret-pw' });
  const local = await queueTestDirs(8);
  const prev = process.env.TLKIT_QUEUE;
  process.env.TLKIT_QUEUE = plain.url;
  try {
    const args = ['compare', local.dataDir, '--backbones', 'mobilenet', '--alpha', '0.25', '--weights', 'none', '--allow-random-weights', '--input-size', '32', '--epochs', '1',
      '--data-root', local.dataRoot, '--runs-root', local.runsRoot, '--out', join(local.runsRoot, 'cli')];
    const detached = await runCli([...args, '--detach']);
    assert.equal(detached.code, 0, detached.stderr);
    const id = detached.stdout.trim();
    assert.match(id, /^cmp-\d{8}-\d{6}-[0-9a-f]{6}$/);
    const status = await runCli(['status', id, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).runs[0].state, 'waiting');
    // No worker: the submitter waits until Ctrl-C, then returns 130 and the run stays queued.
    setTimeout(() => process.emit('SIGINT'), 1500);
    const waited = await runCli(args);
    assert.equal(waited.code, 130, waited.stderr);
    const [, waitedId] = /comparison (cmp-\S+) goes on/.exec(waited.stderr) ?? [];
    assert.ok(waitedId, waited.stderr);
    assert.match((await runCli(['status', waitedId])).stdout, /waiting-children\n\s+mobilenet\s+waiting/);
    const cancelled = await runCli(['compare', '--cancel', waitedId]);
    assert.match(cancelled.stdout, /cancelled/);
    for (const text of [detached.stderr, status.stdout, waited.stderr, cancelled.stdout]) assert.ok(!text.includes('cli-secret-pw'));
  } finally {
    if (prev === undefined) delete process.env.TLKIT_QUEUE;
    else process.env.TLKIT_QUEUE = prev;
    await plain.dispose();
    rmSync(local.root, { recursive: true, force: true });
  }
});

test('rediss:// with client certificates: the CLI connects with --queue-ca/--queue-cert/--queue-key; a certificate from another CA is refused', { timeout: 60_000 }, async () => {
  const server = await startRedis({ tls: 'client-certificates' });
  const local = await queueTestDirs(8);
  const certs = server.clientCertificates!;
  try {
    // The library: a client certificate from the private CA is accepted.
    const good = createRedis(server.url, { redis: { tls: { ca: server.ca, cert: readFileSync(certs.certFile, 'utf8'), key: readFileSync(certs.keyFile, 'utf8') } } });
    assert.equal(await good.ping(), 'PONG');
    good.disconnect();
    // One signed by another CA is not: the handshake fails (the client would retry for ever, so watch its errors).
    const rogue = createRedis(server.url, { redis: { tls: { ca: server.ca, cert: readFileSync(certs.rogueCertFile, 'utf8'), key: readFileSync(certs.rogueKeyFile, 'utf8') } } });
    // The server answers the handshake with an alert ('unknown ca') and closes the connection; which of
    // the two the client reports first varies. Either way no command ever gets through.
    const errors: string[] = [];
    rogue.on('error', (e: Error) => errors.push(e.message));
    const answered = await Promise.race([rogue.ping().then(() => true, () => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000))]);
    rogue.disconnect();
    assert.equal(answered, false, 'a client certificate from another CA gets no answer');
    assert.ok(errors.length > 0 && errors.every((m) => /unknown ca|certificate|ECONNRESET|EPIPE|socket|closed/i.test(m)), errors.join(' | '));
    // The CLI: flags carry the PEM files to submit and status.
    const tlsFlags = ['--queue', server.url, '--queue-ca', certs.caFile, '--queue-cert', certs.certFile, '--queue-key', certs.keyFile];
    const detached = await runCli(['compare', local.dataDir, '--backbones', 'mobilenet', '--alpha', '0.25', '--weights', 'none', '--allow-random-weights', '--input-size', '32', '--epochs', '1',
      '--data-root', local.dataRoot, '--runs-root', local.runsRoot, '--out', join(local.runsRoot, 'mtls'), '--detach', ...tlsFlags]);
    assert.equal(detached.code, 0, detached.stderr);
    const status = await runCli(['status', detached.stdout.trim(), '--json', ...tlsFlags]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).runs[0].state, 'waiting');
    // Bad flags are named.
    const missingKey = await runCli(['status', 'cmp-x', '--queue', server.url, '--queue-cert', certs.certFile]);
    assert.equal(missingKey.code, 2);
    assert.match(missingKey.stderr, /--queue-cert and --queue-key go together/);
    const notPem = await runCli(['status', 'cmp-x', '--queue', server.url, '--queue-ca', join(local.dataDir, '..', 'missing.pem')]);
    assert.notEqual(notPem.code, 0);
    assert.match(notPem.stderr, /missing\.pem.*--queue-ca: cannot read it/);
    const plainUrl = await runCli(['status', 'cmp-x', '--queue', 'redis://127.0.0.1:1', '--queue-ca', certs.caFile]);
    assert.match(plainUrl.stderr, /need a rediss:\/\/ \(TLS\) queue URL/);
  } finally {
    await server.dispose();
    rmSync(local.root, { recursive: true, force: true });
  }
});
