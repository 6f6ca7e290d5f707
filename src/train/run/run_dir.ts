// The run directory: everything a finished (or interrupted) run leaves behind.
//   model/            the trained classifier (weights/saved_model.ts: model.json + weights.bin + tlkit.json)
//   checkpoints/      last.ckpt (resumable) and best.ckpt
//   history.csv/json  one row per epoch
//   summary.txt       layers, params, final metrics
//   config.json       the options of the run: enough to repeat it (`tlkit train --resume` reads it)
//   evaluation.json   metrics on the validation data
//   .tlkit.lock       while a run uses the directory (run_lock.ts); run_dir_guard.ts creates, checks and clears it
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { FileError } from '../../core/errors.js';
import { atomicWriteText } from '../../core/atomic_write.js';

export interface RunDirLayout {
  root: string;
  model: string;
  checkpoints: string;
  lastCheckpoint: string;
  bestCheckpoint: string;
  historyCsv: string;
  historyJson: string;
  summary: string;
  config: string;
  evaluation: string;
}

export function runDirLayout(root: string): RunDirLayout {
  return {
    root,
    model: join(root, 'model'),
    checkpoints: join(root, 'checkpoints'),
    lastCheckpoint: join(root, 'checkpoints', 'last.ckpt'),
    bestCheckpoint: join(root, 'checkpoints', 'best.ckpt'),
    historyCsv: join(root, 'history.csv'),
    historyJson: join(root, 'history.json'),
    summary: join(root, 'summary.txt'),
    config: join(root, 'config.json'),
    evaluation: join(root, 'evaluation.json'),
  };
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await atomicWriteText(path, JSON.stringify(value, null, 2) + '\n');
}

export async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    throw new FileError(path, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (error as Error).message, { cause: error });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new FileError(path, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
}
