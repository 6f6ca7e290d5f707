// Four runs of one comparison on a local Redis: one worker vs two (each --threads 1, --concurrency 1),
// wall time from submission to the report, the speedup, and the queue's overhead per job (wall time of
// the one-worker case minus the runs' own elapsed time, per run: process start, imports, Redis, report).
// Run: npx tsx bench/distributed.ts [--epochs 4] [--input-size 96] [--repeat 1] [--source]
// Workers run the built package (dist/, built first with `npm run build` when missing or older than src/),
// as an installed tlkit runs; --source runs them from the TypeScript through tsx instead, which adds a
// loader thread and per-process compilation to every worker and run process.
// The machine is shared: run it more than once and quote the spread.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { planComparison } from '../src/compare/compare.js';
import { connectQueue } from '../src/queue/submit.js';
import { startRedis } from '../test/helpers/redis_server.js';
import { numberFlag, hasFlag } from './flags.js';

const EPOCHS = numberFlag('epochs', 4);
const INPUT = numberFlag('input-size', 96);
const REPEAT = numberFlag('repeat', 1);
const sample = fileURLToPath(new URL('../samples/fashion-shoes', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
const FROM_SOURCE = hasFlag('source');

/** The command line that starts `tlkit ARGS...`: bin/tlkit.js from source, or dist/cli/main.js directly. */
function tlkitCommand(): string[] {
  if (FROM_SOURCE) return [join(repo, 'bin', 'tlkit.js')];
  const built = join(repo, 'dist', 'cli', 'main.js');
  if (!existsSync(built) || newestMtime(join(repo, 'src')) > statSync(built).mtimeMs) {
    console.log('building dist/ (npm run build) so the workers run the package as installed...');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'inherit' });
  }
  const url = pathToFileURL(built).href;
  return ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(url)}); process.exitCode = await main(process.argv.slice(1));`, '--'];
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}
const command = tlkitCommand();

function startWorkers(url: string, runsRoot: string, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const child = spawn(process.execPath, [...command, 'worker', '--data-root', sample, '--runs-root', runsRoot, '--threads', '1', '--concurrency', '1', '--name', `w${i + 1}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TLKIT_QUEUE: url },
    });
    let log = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (/ready/.test(log)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`worker w${i + 1} exited (${code}) before it was ready:\n${log}`)));
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    return { child, ready, exited, log: () => log };
  });
}

async function timeComparison(workers: number, url: string, root: string, tag: string): Promise<{ wall: number; runSeconds: number }> {
  const runsRoot = join(root, `runs-${tag}`);
  mkdirSync(runsRoot, { recursive: true });
  const procs = startWorkers(url, runsRoot, workers);
  await Promise.all(procs.map((p) => p.ready));
  const client = connectQueue(url, { dataRoot: sample, runsRoot, pollMs: 200 });
  try {
    const plan = planComparison({
      dataDir: join(sample, 'train'),
      valDir: join(sample, 'test'),
      backbones: ['mobilenet_v2'],
      alpha: 0.35,
      weights: 'none',
      allowRandomWeights: true,
      inputSize: INPUT,
      epochs: EPOCHS,
      batchSize: 32,
      seed: 1,
      grid: { learningRate: [3e-3, 1e-3, 3e-4, 1e-4] },
      outDir: join(runsRoot, 'cmp'),
    });
    const started = performance.now();
    const id = await client.submit(plan);
    const result = await client.wait(id, {});
    const failed = result.rows.filter((r) => !r.ok);
    if (failed.length > 0) throw new Error(`runs failed: ${JSON.stringify(failed)}\n${procs.map((p) => p.log()).join('\n')}`);
    const wall = (performance.now() - started) / 1000;
    const runSeconds = result.rows.reduce((s, r) => s + (r.ok ? r.elapsedSeconds : Number.NaN), 0);
    const status = await client.status(id);
    console.log(`  ${workers} worker(s): ${status.runs.map((r, i) => `${r.label} on ${r.worker} ${(result.rows[i] as { elapsedSeconds: number }).elapsedSeconds.toFixed(1)} s`).join('; ')}`);
    return { wall, runSeconds };
  } finally {
    await client.close();
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
  }
}

/**
 * What the machine gives two processes right now: a fixed CPU-bound job run twice in turn, then twice at
 * once. On a quiet 2-core machine about 2x; on a shared one it bounds what two workers can reach.
 */
async function machineParallelism(): Promise<number> {
  const job = () =>
    new Promise<void>((resolve) => {
      const child = spawn(process.execPath, ['-e', 'let x = 0; for (let i = 0; i < 2e8; i++) x = (x + i * 7) % 1000003; if (x < 0) console.log(x);']);
      child.on('exit', () => resolve());
    });
  let t = performance.now();
  await job();
  await job();
  const serial = performance.now() - t;
  t = performance.now();
  await Promise.all([job(), job()]);
  return serial / (performance.now() - t);
}

const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-distributed-'));
const redis = await startRedis();
try {
  console.log(`4 runs (mobilenet_v2 alpha 0.35, ${INPUT} px, ${EPOCHS} epoch(s), 400 images, random weights), workers with --threads 1, ${FROM_SOURCE ? 'from source (tsx)' : 'from dist/'}`);
  for (let r = 0; r < REPEAT; r++) {
    const before = await machineParallelism();
    const one = await timeComparison(1, redis.url, root, `one-${r}`);
    const two = await timeComparison(2, redis.url, root, `two-${r}`);
    const after = await machineParallelism();
    const overhead = (one.wall - one.runSeconds) / 4;
    console.log(
      `one worker ${one.wall.toFixed(1)} s (runs' own time ${one.runSeconds.toFixed(1)} s) | two workers ${two.wall.toFixed(1)} s (runs' own time ${two.runSeconds.toFixed(1)} s) | speedup ${(one.wall / two.wall).toFixed(2)}x (target >= 1.7x) | queue overhead per job ${overhead.toFixed(2)} s | the machine's own 2-process speedup ${before.toFixed(2)}x before, ${after.toFixed(2)}x after`,
    );
  }
} finally {
  await redis.dispose();
  rmSync(root, { recursive: true, force: true });
}
