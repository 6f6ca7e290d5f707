// compare: train several backbones under one config and seed, evaluate each on the same held-out
// data, and recommend one by the user's rule. One backbone failing never stops the others. It returns
// data; report/ renders and writes the report files (writeCompareReport).
import { mkdir } from 'node:fs/promises';
import { join, resolve, relative } from 'node:path';
import { getBackbone } from '../models/zoo.js';
import type { ProgressCallback } from '../core/progress.js';
import { trainRun, type TrainRunOptions, type TrainRunResult } from '../train/run.js';
import { refuseInsideInputs } from '../train/output_path.js';
import { defaultWeights } from '../weights/resolve.js';
import { describeRule, parseSelectionRule, selectBackbone, type SelectionRule } from './selection_rule.js';
import type { BackboneResult, CompareResult, CompareRow, EpochRecord } from './types.js';

export interface CompareOptions extends Omit<TrainRunOptions, 'backbone' | 'outDir' | 'train' | 'validation' | 'resume'> {
  dataDir: string;
  backbones: string[];
  /** Where each backbone's run directory and the reports go. */
  outDir: string;
  /** Selection rule, as `--select` text or parsed. Default: within 0.01, then time, params, gap. */
  select?: string | SelectionRule;
  /**
   * Train backbones that have no pretrained weights at hand from random weights. Default false:
   * such a backbone is reported as failed with the reason, never silently trained from scratch.
   */
  allowRandomWeights?: boolean;
}

export interface CompareHooks {
  onProgress?: ProgressCallback;
  onLog?: (message: string) => void;
  /** Called as each backbone finishes (or fails), for live tables. */
  onBackboneDone?: (row: CompareRow) => void;
  /** Injected for tests; defaults to trainRun. */
  train?: (options: TrainRunOptions, hooks: { onProgress?: ProgressCallback; onLog?: (m: string) => void }) => Promise<TrainRunResult>;
}

function historyRecords(result: TrainRunResult): EpochRecord[] {
  return result.history.map((h) => ({
    epoch: h.epoch,
    phase: h.phase === 2 ? 'fine-tune' : h.phase === 1 ? 'head' : 'train',
    loss: h.loss,
    accuracy: h.accuracy,
    valLoss: h.val_loss,
    valAccuracy: h.val_accuracy,
  }));
}

/** Seconds per phase from the epochs' own timings; the rest (build, weights, data, evaluate, save) is 'setup+eval'. */
function phaseSeconds(result: TrainRunResult): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const h of result.history) {
    const phase = h.phase === 2 ? 'fine-tune' : h.phase === 1 ? 'train head' : 'train';
    phases[phase] = (phases[phase] ?? 0) + (h.seconds ?? 0);
  }
  const trained = Object.values(phases).reduce((a, b) => a + b, 0);
  phases['setup + evaluate'] = Math.max(0, result.elapsedSeconds - trained);
  return phases;
}

function toBackboneResult(id: string, weights: string, result: TrainRunResult, dataDir: string): BackboneResult {
  const evaluation = result.evaluation;
  const last = result.history.at(-1);
  return {
    id,
    totalParams: result.params.total,
    trainableParams: result.params.trainable,
    nonTrainableParams: result.params.nonTrainable,
    elapsedSeconds: result.elapsedSeconds,
    accuracy: evaluation?.accuracy ?? last?.accuracy ?? Number.NaN,
    valLoss: evaluation?.loss ?? Number.NaN,
    trainAccuracy: last?.accuracy ?? Number.NaN,
    epochs: result.history.length,
    engine: result.engine,
    weightsSource: weights,
    classNames: result.classNames,
    confusionMatrix: evaluation?.confusionMatrix ?? [],
    history: historyRecords(result),
    misclassified: (evaluation?.misclassified ?? []).map((m) => ({ ...m, file: relative(dataDir, m.file).startsWith('..') ? m.file : relative(dataDir, m.file) })),
    phaseSeconds: phaseSeconds(result),
    runDir: result.runDir,
  };
}

/** The folder of the held-out images: misclassified files are shown relative to it. */
function evaluationDir(options: CompareOptions): string {
  return options.valDir ?? options.dataDir;
}

/** Resolves each backbone's weights: the explicit option, else ImageNet if cached, else offline, else none. */
function weightsFor(id: string, options: CompareOptions): { weights: string | null; reason: string } {
  if (options.weights !== undefined) return { weights: options.weights, reason: `weights ${options.weights} (given)` };
  const choice = defaultWeights(id, { alpha: options.alpha, inputSize: options.inputSize });
  return { weights: choice.weights, reason: choice.reason };
}

export async function compareBackbones(options: CompareOptions, hooks: CompareHooks = {}): Promise<CompareResult> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const log = hooks.onLog ?? (() => undefined);
  const train = hooks.train ?? trainRun;
  const rule = typeof options.select === 'string' || options.select === undefined ? parseSelectionRule(options.select) : options.select;
  const ids = options.backbones.map((b) => getBackbone(b).id);
  const { backbones: _b, select: _s, allowRandomWeights: _a, outDir, ...shared } = options;
  const seed = options.seed ?? 1234;
  // The reports folder is made before any run: it must not land among the classes it compares.
  refuseInsideInputs(outDir, [options.dataDir, options.valDir]);
  await mkdir(outDir, { recursive: true });

  const rows: CompareRow[] = [];
  for (const [index, id] of ids.entries()) {
    hooks.onProgress?.({ task: 'compare', current: index, total: ids.length, unit: 'backbone' });
    const tag = `[${index + 1}/${ids.length} ${id}]`;
    const { weights, reason } = weightsFor(id, options);
    let row: CompareRow;
    if (weights === null && !options.allowRandomWeights) {
      row = { ok: false, id, error: `no pretrained weights: ${reason}. Pass --weights none to train it from random weights anyway.` };
    } else {
      log(`${tag} ${reason}`);
      try {
        const result = await train(
          { ...shared, seed, backbone: id, weights: weights ?? 'none', outDir: join(outDir, id) },
          {
            onProgress: hooks.onProgress ? (e) => hooks.onProgress!({ ...e, task: `${tag} ${e.task}` }) : undefined,
            onLog: (m) => log(`${tag} ${m}`),
          },
        );
        row = { ok: true, ...toBackboneResult(id, weights ?? 'none', result, evaluationDir(options)) };
      } catch (error) {
        row = { ok: false, id, error: error instanceof Error ? error.message : String(error) };
      }
    }
    if (!row.ok) log(`${tag} failed: ${row.error}`);
    rows.push(row);
    hooks.onBackboneDone?.(row);
  }
  hooks.onProgress?.({ task: 'compare', current: ids.length, total: ids.length, unit: 'backbone', done: true });

  const finished = rows.filter((r): r is BackboneResult & { ok: true } => r.ok && Number.isFinite(r.accuracy));
  const result: CompareResult = {
    dataset: resolve(options.dataDir),
    heldOutDir: resolve(evaluationDir(options)),
    outDir: resolve(outDir),
    rows,
    recommendation: selectBackbone(finished, rule),
    rule: describeRule(rule),
    config: { ...shared, seed, backbones: ids },
    startedAt,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  return result;
}

