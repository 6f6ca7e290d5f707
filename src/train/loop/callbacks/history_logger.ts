// Keras CSVLogger, plus the same history as JSON. Both files are rewritten whole (atomically) from
// fit's history after each epoch, so a resumed run never lists an epoch twice.
import { join } from 'node:path';
import { atomicWriteText, removeStaleTemporaries, type AtomicWriteFs } from '../../../core/atomic_write.js';
import type { EpochLogs } from '../types.js';
import type { Callback, TrainingContext } from './callback.js';

export interface HistoryLoggerOptions {
  dir: string;
  csvName?: string;
  jsonName?: string;
  io?: AtomicWriteFs;
}

/** Columns: epoch first, then every metric in the order first seen. */
export function historyColumns(history: readonly EpochLogs[]): string[] {
  const columns = ['epoch'];
  for (const row of history) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  return columns;
}

export function historyToCsv(history: readonly EpochLogs[]): string {
  const columns = historyColumns(history);
  const lines = [columns.join(',')];
  for (const row of history) lines.push(columns.map((c) => (row[c] === undefined ? '' : String(row[c]))).join(','));
  return lines.join('\n') + '\n';
}

export class HistoryLogger implements Callback {
  readonly name = 'HistoryLogger';
  readonly order = 50;

  constructor(private readonly options: HistoryLoggerOptions) {}

  get csvPath(): string {
    return join(this.options.dir, this.options.csvName ?? 'history.csv');
  }

  get jsonPath(): string {
    return join(this.options.dir, this.options.jsonName ?? 'history.json');
  }

  async onTrainBegin(): Promise<void> {
    await removeStaleTemporaries(this.options.dir);
  }

  async onEpochEnd(_epoch: number, _logs: EpochLogs, ctx: TrainingContext): Promise<void> {
    await atomicWriteText(this.csvPath, historyToCsv(ctx.history), this.options.io);
    await atomicWriteText(this.jsonPath, JSON.stringify({ epochs: ctx.history }, null, 2) + '\n', this.options.io);
  }
}
