// The acceptance test: a three-run comparison on two worker processes, one killed with SIGKILL in
// the middle of a run; another worker resumes that run from its checkpoint and the comparison ends with
// the numbers of the same comparison run locally.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareBackbones, planComparison } from '../../src/compare/compare.js';
import type { BackboneResult } from '../../src/compare/types.js';
import { connectQueue } from '../../src/queue/submit.js';
import { writeCompareReport } from '../../src/report/write_compare_report.js';
import { startRedis, type TestRedis } from '../helpers/redis_server.js';
import { lastCheckpoint, queueTestDirs, sleep, spawnWorker, tinyCompare, type QueueTestDirs } from './helpers.js';

let redis: TestRedis | undefined;
let dirs: QueueTestDirs | undefined;
after(async () => {
  await redis?.dispose();
  if (dirs) rmSync(dirs.root, { recursive: true, force: true });
});

test('three runs, two workers, one SIGKILLed mid-run: the run resumes elsewhere and the result equals a local comparison', { timeout: 240_000 }, async () => {
  redis = await startRedis({ password: 'pw-never-logged' });
  dirs = await queueTestDirs();
  const learningRates = [0.02, 0.005, 0.001];
  const workerA = spawnWorker(redis.url, dirs, 'worker-a');
  const workerB = spawnWorker(redis.url, dirs, 'worker-b');
  const client = connectQueue(redis.url, { dataRoot: dirs.dataRoot, runsRoot: dirs.runsRoot, pollMs: 100 });
  try {
    // A frozen backbone, so the runs go through the feature store the workers share.
    const options = { ...tinyCompare(dirs, join(dirs.runsRoot, 'distributed'), learningRates), freezeBackbone: true };
    const plan = planComparison(options);
    const id = await client.submit(plan);
    const t0 = Date.now();
    const mark = (what: string) => process.env.TLKIT_TEST_TIMING && console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);

    // Kill worker A once a run it trains has checkpointed inside its first epoch.
    let killed: { label: string; at: { epoch: number; batch: number } } | undefined;
    const deadline = Date.now() + 150_000;
    while (!killed && Date.now() < deadline) {
      const status = await client.status(id);
      const mine = status.runs.find((r) => r.state === 'active' && r.worker === 'worker-a');
      if (mine) {
        const run = plan.runs.find((r) => r.label === mine.label)!;
        const at = await lastCheckpoint(join(options.outDir, run.dirName));
        if (at && at.batch >= 2) {
          workerA.child.kill('SIGKILL');
          killed = { label: mine.label, at };
        }
      }
      if (!killed) await sleep(20);
    }
    assert.ok(killed, `worker A never trained a run long enough to be killed:\n${workerA.output()}`);
    assert.equal((await workerA.exit).signal, 'SIGKILL');
    mark(`killed worker A at ${JSON.stringify(killed)}`);

    const distributed = await client.wait(id, {});
    mark('distributed done');
    const status = await client.status(id);
    const resumed = status.runs.find((r) => r.label === killed!.label)!;
    assert.equal(resumed.state, 'completed');
    assert.equal(resumed.worker, 'worker-b', 'the lost run finished on the other worker');
    assert.ok((resumed.lostWorkers ?? 0) >= 1, 'counted as taken back from a lost worker, not as a failed attempt');
    assert.match(resumed.resumedFrom ?? '', /^epoch \d+, batch \d+$/, 'resumed from the checkpoint, not from scratch');
    assert.match(workerB.output(), /took the run over from \S+ \(process \d+\), which lost the job/, "the lost worker's run lock taken over on the queue's word");

    // The workers share one feature store on the shared folder: later runs read what earlier ones computed
    // (3 runs x 40 images would be 120 computed without it; two runs start at once, so up to 80 are).
    assert.ok(existsSync(join(dirs.runsRoot, '.tlkit-cache', 'features')), `the shared store under RUNS_ROOT/.tlkit-cache; runs root holds ${readdirSync(dirs.runsRoot).join(', ')}; worker output:\n${(workerA.output() + workerB.output()).split('\n').filter((l) => /feature|store|engine/i.test(l)).slice(0, 12).join('\n')}`);
    const computed = [...(workerA.output() + workerB.output()).matchAll(/features: [\d,]+ from the store, ([\d,]+) computed/g)].reduce((sum, m) => sum + Number(m[1].replace(/,/g, '')), 0);
    assert.ok(computed > 0 && computed <= 80, `features computed by the workers: ${computed}`);

    // The same comparison, locally, in turn.
    // A queued comparison has no data audit (its runs' features stay with the workers): the local one skips it too.
    const local = await compareBackbones({ ...options, audit: false, outDir: join(dirs.runsRoot, 'local') });
    mark('local done');
    assert.deepEqual(distributed.rows.map((r) => r.id), local.rows.map((r) => r.id));
    for (const [i, row] of distributed.rows.entries()) {
      const mine = row as BackboneResult & { ok: boolean };
      const theirs = local.rows[i] as BackboneResult & { ok: boolean };
      assert.ok(mine.ok && theirs.ok, `${row.id} finished in both`);
      assert.equal(mine.accuracy, theirs.accuracy, `${row.id}: accuracy`);
      assert.ok(Math.abs(mine.valLoss - theirs.valLoss) < 1e-4, `${row.id}: val loss ${mine.valLoss} vs ${theirs.valLoss}`);
      assert.deepEqual(mine.history.map((h) => h.epoch), [1, 2], `${row.id}: each epoch once`);
      for (const [e, h] of mine.history.entries()) assert.ok(Math.abs(h.loss - theirs.history[e].loss) < 1e-4, `${row.id} epoch ${e + 1}: loss ${h.loss} vs ${theirs.history[e].loss}`);
    }
    // (The recommendation may differ: the default rule breaks accuracy ties by elapsed time.)

    // The report, written by a worker when the last run ended, in the same form as the local one.
    for (const file of Object.values(distributed.files)) assert.ok(existsSync(file), file);
    const json = JSON.parse(readFileSync(distributed.files.json, 'utf8'));
    const localFiles = await writeCompareReport(local);
    assert.deepEqual(Object.keys(json), Object.keys(JSON.parse(readFileSync(localFiles.json, 'utf8'))));
    assert.equal(distributed.outDir, options.outDir, "the result names the submitter's paths");

    // The password travels only to Redis: not in job data, reports or the workers' logs.
    const keys = await redisDump(client);
    assert.ok(keys.length > 0);
    assert.ok(!keys.some((v) => v.includes('pw-never-logged')), 'password in Redis job data');
    for (const file of Object.values(distributed.files)) assert.ok(!readFileSync(file, 'utf8').includes('pw-never-logged'), file);
    assert.ok(!workerB.output().includes('pw-never-logged'));
  } finally {
    await client.close();
    workerB.child.kill('SIGTERM');
    await workerB.exit;
  }
});

/** Every string value of every hash in the queue's Redis (job data, return values, progress). */
async function redisDump(client: ReturnType<typeof connectQueue>): Promise<string[]> {
  const { createRedis } = await import('../../src/queue/connection.js');
  const r = createRedis(redis!.url);
  try {
    const out: string[] = [];
    for (const key of await r.keys('*')) {
      if ((await r.type(key)) === 'hash') out.push(...Object.values(await r.hgetall(key)));
    }
    void client;
    return out;
  } finally {
    r.disconnect();
  }
}
