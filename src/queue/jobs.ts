// What travels through Redis: job names, payloads and return values. Payloads hold only paths relative
// to the workers' roots (see roots.ts) and never the queue URL or its password.
import type { ComparisonPlan, ComparisonRun } from '../compare/compare.js';
import type { SelectionRule } from '../compare/selection_rule.js';
import type { CompareResult, CompareRow } from '../compare/types.js';
import type { CompareReportFiles } from '../report/write_compare_report.js';
import type { DatasetFingerprint } from './fingerprint.js';

/** BullMQ queue of the runs (children) and of the comparisons (parents, which write the report). */
export const RUNS_QUEUE = 'tlkit-runs';
export const COMPARISONS_QUEUE = 'tlkit-comparisons';
/** Key prefix of tlkit's own keys beside BullMQ's. */
export const CANCEL_KEY = (prefix: string, id: string) => `${prefix}:tlkit:cancelled:${id}`;

/** Paths relative to the data root / runs root. */
export interface RelativePaths {
  dataDir: string;
  valDir?: string;
  /** A weights file (.h5) under the data root, when the weights are a file rather than a name. */
  weightsFile?: string;
}

export interface RunJobData {
  comparisonId: string;
  index: number;
  label: string;
  backbone: string;
  settings: Record<string, string>;
  /** trainRun options without any path (paths are in `paths` / `outDir`). */
  train: Omit<ComparisonRun['train'], 'dataDir' | 'valDir' | 'outDir'>;
  paths: RelativePaths;
  /** The run directory, relative to the runs root. */
  outDir: string;
  fingerprints: { dataDir: DatasetFingerprint; valDir?: DatasetFingerprint };
}

export interface ComparisonJobData {
  comparisonId: string;
  options: Omit<ComparisonPlan['options'], 'dataDir' | 'valDir' | 'outDir' | 'weights'> & { weights?: string };
  paths: RelativePaths;
  /** The comparison's folder (reports), relative to the runs root. */
  outDir: string;
  rule: SelectionRule;
  seed: number;
  startedAt: string;
  runs: { label: string; backbone: string; settings: Record<string, string>; dirName: string; weightsReason: string; skipped?: string; jobId?: string }[];
}

/** A run job's return value: its row (runDir relative to the runs root) and whether it resumed. */
export interface RunJobResult {
  row: CompareRow;
  /** 'epoch 2, batch 3' when the run continued from a checkpoint a lost worker left. */
  resumedFrom?: string;
  worker: string;
}

/** A comparison job's return value: the result with its report files relative to the runs root. */
export interface ComparisonJobResult {
  result: CompareResult;
  files: CompareReportFiles;
}

/** What a run job reports while it trains (job.progress). */
export interface RunProgress {
  worker: string;
  task?: string;
  epoch?: number;
  epochs?: number;
  etaSeconds?: number;
  resumedFrom?: string;
}
