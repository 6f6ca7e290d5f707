// Faults a queue must ride out or report: Redis restarted mid-comparison, a run failing for a real reason
// (once, with its error in its column), data that differs on the worker's side, a job naming paths outside
// the worker's roots, and --cancel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { compareBackbones, planComparison } from '../../src/compare/compare.js';
import { createRedis } from '../../src/queue/connection.js';
import { RUNS_QUEUE } from '../../src/queue/jobs.js';
import { connectQueue, type QueueClient } from '../../src/queue/submit.js';
import { startWorker, type QueueWorker } from '../../src/queue/worker.js';
import { startRedis, type TestRedis } from '../helpers/redis_server.js';
import { queueTestDirs, sleep, tinyCompare, type QueueTestDirs } from './helpers.js';

let redis: TestRedis;
let dirs: QueueTestDirs;
let worker: QueueWorker | undefined;
let client: QueueClient;
const workerLog: string[] = [];

before(async () => {
  redis = await startRedis();
  dirs = await queueTestDirs(24);
  client = connectQueue(redis.url, { dataRoot: dirs.dataRoot, runsRoot: dirs.runsRoot, pollMs: 100 });
});

after(async () => {
  await worker?.close(true);
  await client.close();
  await redis.dispose();
  rmSync(dirs.root, { recursive: true, force: true });
});

function ensureWorker(): Promise<QueueWorker> {
  return (async () => (worker ??= await startWorker({ queue: redis.url, dataRoot: dirs.dataRoot, runsRoot: dirs.runsRoot, name: 'w1', lockDurationMs: 3000, threads: 1, onLog: (m) => workerLog.push(m) })))();
}

/** The runs queue seen directly, as a client that skips tlkit's submitter would. */
function runsQueue(): { queue: Queue; close: () => Promise<void> } {
  const connection = createRedis(redis.url);
  const queue = new Queue(RUNS_QUEUE, { connection });
  return { queue, close: async () => (await queue.close(), connection.disconnect()) };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('Redis restarted in the middle of a comparison: worker and submitter reconnect and it finishes', { timeout: 120_000 }, async () => {
  await ensureWorker();
  const options = { ...tinyCompare(dirs, join(dirs.runsRoot, 'restart'), [0.01]), epochs: 3 };
  const id = await client.submit(planComparison(options));
  await waitFor('the run to train', async () => ((await client.status(id)).runs[0]?.epoch !== undefined ? true : undefined));
  await redis.stop();
  await sleep(1500);
  await redis.start();
  const result = await client.wait(id, {});
  assert.equal(result.rows.length, 1);
  const row = result.rows[0];
  assert.ok(row.ok, `the run failed: ${!row.ok && row.error}`);
  assert.deepEqual(row.history.map((h) => h.epoch), [1, 2, 3]);
});

test('a run that fails for a real reason fails once, with its error in its column; the others finish', { timeout: 120_000 }, async () => {
  await ensureWorker();
  const options = { ...tinyCompare(dirs, join(dirs.runsRoot, 'bad'), [0.01]), epochs: 1, grid: { head: ['gap', 'gap,dense:0'] } };
  const distributed = await compareBackbones({ ...options, queue: client });
  const failed = distributed.rows.find((r) => r.id === 'head=gap,dense:0')!;
  assert.ok(!failed.ok && /dense/.test(failed.error), `error in its column: ${JSON.stringify(failed)}`);
  assert.ok(distributed.rows.find((r) => r.id === 'head=gap')?.ok, 'the other run finished');
  const { queue, close } = runsQueue();
  const job = (await queue.getFailed()).find((j) => j.data.label === failed.id)!;
  await close();
  assert.equal(job.attemptsMade, 1, 'not retried');
  assert.equal(job.failedReason, failed.error);
  assert.match(readFileSync(join(distributed.outDir, 'report.md'), 'utf8'), /failed/, 'the worker wrote the report');
});

test('a worker that sees different data than the submitter refuses to train on it', { timeout: 60_000 }, async () => {
  await worker?.close();
  worker = undefined;
  const options = { ...tinyCompare(dirs, join(dirs.runsRoot, 'changed'), [0.01]), epochs: 1 };
  const id = await client.submit(planComparison(options));
  // The shared folder changes between submission and training.
  const cls = join(dirs.dataDir, readdirSync(dirs.dataDir)[0]);
  appendFileSync(join(cls, readdirSync(cls)[0]), Buffer.from([0]));
  await ensureWorker();
  await assert.rejects(client.wait(id, {}).then((r) => {
    const row = r.rows[0];
    throw new Error(row.ok ? 'trained on changed data' : row.error);
  }), /this worker \(w1\) sees different data than the submitter: \d+ bytes here, \d+ at the submitter/);
});

test('a job naming a path outside the worker roots is refused, and --cancel stops a comparison', { timeout: 60_000 }, async () => {
  await ensureWorker();
  const { queue, close } = runsQueue();
  for (const [name, dataDir] of [['escape', '../../etc'], ['absolute', '/etc']] as const) {
    const job = await queue.add(name, { comparisonId: 'x', index: 0, label: name, backbone: 'mobilenet', settings: {}, train: { epochs: 1 }, paths: { dataDir }, outDir: 'x', fingerprints: {} });
    const failed = await waitFor('the refusal', async () => ((await job.getState()) === 'failed' ? (await queue.getJob(job.id!))! : undefined));
    assert.match(failed.failedReason, /refused: the job's dataDir/);
  }
  await close();

  const options = { ...tinyCompare(dirs, join(dirs.runsRoot, 'cancelled'), [0.01, 0.001]), epochs: 3 };
  const id = await client.submit(planComparison(options));
  await waitFor('a run to start', async () => ((await client.status(id)).runs.some((r) => r.state === 'active') ? true : undefined));
  const status = await client.cancel(id);
  assert.equal(status.state, 'cancelled');
  const ended = await waitFor('the runs to stop', async () => {
    const s = await client.status(id);
    return s.runs.every((r) => r.state !== 'active' && r.state !== 'waiting') ? s : undefined;
  }, 20_000);
  assert.ok(ended.runs.some((r) => r.state === 'failed' && r.error === 'cancelled'), JSON.stringify(ended));
  assert.ok(workerLog.some((l) => /cancelled: stopping the run/.test(l)));
});
