// Shared pieces of the queue tests: a tiny dataset, the tiny recipe, and worker processes started through the CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompareOptions } from '../../src/compare/compare.js';
import { readCheckpoint } from '../../src/train/loop/checkpoint.js';
import { runDirLayout } from '../../src/train/run/run_dir.js';
import { writeSquaresFolder } from '../train/helpers.js';

const bin = fileURLToPath(new URL('../../bin/tlkit.js', import.meta.url));

export interface QueueTestDirs {
  root: string;
  dataRoot: string;
  runsRoot: string;
  dataDir: string;
}

/** A shared folder with a small two-class dataset under data/ and an empty runs/. */
export async function queueTestDirs(images = 40): Promise<QueueTestDirs> {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-queue-'));
  const dataRoot = join(root, 'data');
  const runsRoot = join(root, 'runs');
  mkdirSync(runsRoot, { recursive: true });
  await writeSquaresFolder(join(dataRoot, 'squares'), images, 32, 17);
  return { root, dataRoot, runsRoot, dataDir: join(dataRoot, 'squares') };
}

/** The tiny recipe: MobileNet at width 0.25 on 32 px images from random weights, a checkpoint every batch. */
export function tinyCompare(dirs: QueueTestDirs, outDir: string, learningRates: number[]): CompareOptions {
  return {
    dataDir: dirs.dataDir,
    validationSplit: 0.25,
    backbones: ['mobilenet'],
    grid: { learningRate: learningRates },
    alpha: 0.25,
    weights: 'none',
    allowRandomWeights: true,
    inputSize: 32,
    classMode: 'sparse',
    epochs: 2,
    batchSize: 5,
    checkpointEveryBatches: 1,
    seed: 9,
    outDir,
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** `tlkit worker` in its own process, with a short lock so a killed worker's run moves on within seconds. */
export function spawnWorker(url: string, dirs: QueueTestDirs, name: string, extra: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [bin, 'worker', '--data-root', dirs.dataRoot, '--runs-root', dirs.runsRoot, '--name', name, '--lock-duration', '3', '--threads', '1', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The URL (and its password) through the environment, as the README advises.
    env: { ...process.env, TLKIT_QUEUE: url },
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  process.once('exit', () => child.kill('SIGKILL'));
  return { child, exit, output: () => text };
}

/** Epoch and batch of a run directory's last checkpoint, or undefined while it has none. */
export async function lastCheckpoint(runDir: string): Promise<{ epoch: number; batch: number } | undefined> {
  try {
    const c = await readCheckpoint(runDirLayout(runDir).lastCheckpoint);
    return { epoch: c.epoch, batch: c.batch };
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
