// The linear probe's time and accuracy on synthetic pooled features, before (the solver as of commit
// b6e427c, read with `git show` into a temporary module) and after (runLinearProbe on onnxruntime, and the
// synchronous Float64 linearProbe), plus the probe's share of a compare.
//
//   npx tsx bench/probe.ts [--sizes 1000x1280x10,12500x2048x10] [--no-before] [--before-max-rows N] [--typescript-max-rows N] [--threads T] [--rss ROWS]
//
// The solver before took 1,850 s (31 min) on 12,500 x 2,048 x 10 (issue 22, quiet machine): --before-max-rows
// skips it above N rows so the bench ends on a shared machine.
//
// Features: ReLU of a random rank-64 projection of class-dependent latent vectors (non-negative,
// correlated, a few classes confusable), like pooled CNN features; held-out rows are half the training rows.
// --rss ROWS runs the new probe alone on ROWS x 2048 x 10 float32 features (tiled from 2,000 synthetic rows,
// jittered) in a child process and prints its peak RSS (the features themselves are ROWS x 2048 x 4 bytes;
// the probe must add little to them).
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { syntheticFeatures } from './probe_synthetic.js';
import { runLinearProbe, type DenseRows, type LinearProbeResult } from '../src/train/probes/linear_probe.js';

const BEFORE_COMMIT = 'b6e427c';
const here = path.dirname(fileURLToPath(import.meta.url));

interface Size {
  n: number;
  d: number;
  classes: number;
}

type ProbeFn = (train: DenseRows, trainLabels: ArrayLike<number>, heldOut: DenseRows, heldOutLabels: ArrayLike<number>, classes: number) => LinearProbeResult;

/** The solver before this change, from git, as a module next to this file (its imports rewritten). */
async function beforeProbe(): Promise<ProbeFn> {
  const source = execFileSync('git', ['show', `${BEFORE_COMMIT}:src/train/probes/linear_probe.ts`], { cwd: here, encoding: 'utf8' });
  const file = path.join(here, '.linear_probe_before_tmp.ts');
  writeFileSync(file, source.replaceAll("'../../core/", "'../src/core/"));
  try {
    const module = (await import(pathToFileURL(file).href)) as { linearProbe: ProbeFn };
    return module.linearProbe;
  } finally {
    rmSync(file, { force: true });
  }
}

function parseSizes(text: string): Size[] {
  return text.split(',').map((s) => {
    const [n, d, classes] = s.split('x').map(Number);
    return { n, d, classes };
  });
}

/** Runs `f`, adding the process CPU seconds it took (user + system): on a shared machine the figure that does not depend on the load. */
async function withCpu<T extends LinearProbeResult>(f: () => T | Promise<T>): Promise<T & { cpuSeconds: number }> {
  const before = process.cpuUsage();
  const result = await f();
  const used = process.cpuUsage(before);
  return { ...result, cpuSeconds: (used.user + used.system) / 1e6 };
}

function line(label: string, r: LinearProbeResult & { cpuSeconds: number }): string {
  return `${label.padEnd(34)} ${r.seconds.toFixed(1).padStart(8)} s wall ${r.cpuSeconds.toFixed(1).padStart(8)} s CPU   held-out acc ${r.accuracy.toFixed(4)}   train acc ${r.trainAccuracy.toFixed(4)}   C=${r.c}`;
}

/** `n` rows made cheaply from 2,000 synthetic ones (each copy jittered): for memory figures, where the values matter less. */
function tiledFeatures(n: number, d: number, classes: number, seed: number): { rows: DenseRows; labels: Int32Array } {
  const base = syntheticFeatures(2000, d, classes, seed);
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  let state = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    const b = i % 2000;
    labels[i] = base.labels[b];
    for (let j = 0; j < d; j++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      x[i * d + j] = base.rows.x[b * d + j] * (0.9 + (0.2 * state) / 0x7fffffff);
    }
  }
  return { rows: { x, n, d }, labels };
}

async function rssChild(rows: number): Promise<void> {
  const data = tiledFeatures(rows, 2048, 10, 1);
  const heldOut = tiledFeatures(Math.round(rows / 10), 2048, 10, 2);
  const afterData = process.resourceUsage().maxRSS * 1024;
  const threads = process.argv.includes('--threads') ? Number(process.argv[process.argv.indexOf('--threads') + 1]) : undefined;
  const cpu = process.cpuUsage();
  const r = await runLinearProbe(data.rows, data.labels, heldOut.rows, heldOut.labels, 10, { engine: 'onnx', threads });
  const used = process.cpuUsage(cpu);
  const peak = process.resourceUsage().maxRSS * 1024;
  const featureBytes = (data.rows.x.byteLength + heldOut.rows.x.byteLength);
  console.log(JSON.stringify({ rows, seconds: r.seconds, cpuSeconds: (used.user + used.system) / 1e6, accuracy: r.accuracy, featureBytes, rssAfterData: afterData, peakRss: peak }));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (value('--rss-child')) return rssChild(Number(value('--rss-child')));
  const sizes = parseSizes(value('--sizes') ?? '1000x1280x10,12500x2048x10');
  const runBefore = !argv.includes('--no-before');
  const beforeMaxRows = Number(value('--before-max-rows') ?? Infinity);
  const typescriptMaxRows = Number(value('--typescript-max-rows') ?? Infinity);
  const threads = value('--threads') ? Number(value('--threads')) : undefined;
  console.log(`linear probe bench, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const before = runBefore ? await beforeProbe() : null;
  for (const size of sizes) {
    const heldOutN = Math.round(size.n / 2);
    const train = syntheticFeatures(size.n, size.d, size.classes, 1);
    const heldOut = syntheticFeatures(heldOutN, size.d, size.classes, 2);
    console.log(`\n${size.n} x ${size.d} features, ${size.classes} classes (${heldOutN} held out)`);
    const progressSeen: number[] = [];
    const onnx = await withCpu(() => runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, size.classes, { engine: 'onnx', threads, onProgress: (e) => progressSeen.push(e.current) }));
    console.log(line('after: runLinearProbe (onnx)', onnx) + `   (cv on ${onnx.cvRows} rows, ${progressSeen.length} progress events)`);
    const typescript = size.n <= typescriptMaxRows ? await withCpu(() => runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, size.classes, { engine: 'typescript' })) : null;
    if (typescript) console.log(line('after: linearProbe (Float64 TS)', typescript));
    if (before && size.n <= beforeMaxRows) {
      const x64 = { x: Float64Array.from(train.rows.x), n: size.n, d: size.d };
      const h64 = { x: Float64Array.from(heldOut.rows.x), n: heldOutN, d: size.d };
      const old = await withCpu(() => before(x64, train.labels, h64, heldOut.labels, size.classes));
      console.log(line(`before: ${BEFORE_COMMIT}`, old));
      console.log(`speed-up, wall: ${(old.seconds / onnx.seconds).toFixed(1)}x (onnx)${typescript ? `, ${(old.seconds / typescript.seconds).toFixed(1)}x (TS)` : ''}; CPU: ${(old.cpuSeconds / onnx.cpuSeconds).toFixed(1)}x (onnx)${typescript ? `, ${(old.cpuSeconds / typescript.cpuSeconds).toFixed(1)}x (TS)` : ''}; held-out accuracy change ${(onnx.accuracy - old.accuracy).toFixed(4)}`);
    } else if (before) {
      console.log(`before: skipped (--before-max-rows ${beforeMaxRows}); the issue measured 1,850 s for 12,500 x 2,048 x 10`);
    }
    if (size.n === 12500) {
      // The issue's compare: 18,750 images through inception_v3 at ~12 img/s, 26 min for the feature pass.
      const featurePass = 18750 / 12;
      console.log(`share of the compare's feature pass (18,750 images at 12 img/s = ${(featurePass / 60).toFixed(0)} min): ${((100 * onnx.seconds) / featurePass).toFixed(2)}% by wall time here, ${((100 * onnx.cpuSeconds) / featurePass).toFixed(2)}% by CPU time`);
    }
  }
  const rss = value('--rss');
  if (rss) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--rss-child', rss, ...(threads ? ['--threads', String(threads)] : [])], { encoding: 'utf8' });
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as { rows: number; seconds: number; cpuSeconds: number; accuracy: number; featureBytes: number; rssAfterData: number; peakRss: number };
    const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
    console.log(`\n${rss} x 2048 x 10 (onnx): ${result.seconds.toFixed(1)} s wall, ${result.cpuSeconds.toFixed(1)} s CPU, held-out acc ${result.accuracy.toFixed(4)}; float32 features ${gb(result.featureBytes)}, RSS after making them ${gb(result.rssAfterData)}, peak RSS ${gb(result.peakRss)}`);
  }
}

await main();
